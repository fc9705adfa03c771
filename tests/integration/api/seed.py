"""Meetings for the API tests, stored through the real store code (``services.core.stages.store_claims``).

Records are written by hand in the schema's shape (not by the extractor, which another test suite covers):
each report is a document of a source, with one or more claims, stored the way the pipeline stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.core import stages
from services.core.db import session_factory
from services.fetcher.sources import SourceDef
from services.store.uow import UnitOfWork

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)

SOURCES = [
    SourceDef(
        id="kz-mfa",
        name="MFA of Kazakhstan",
        country="KAZ",
        language="ru",
        kind="rss",
        url="https://mfa.kz.example/rss",
    ),
    SourceDef(
        id="cn-mfa",
        name="MFA of China",
        country="CHN",
        language="zh",
        kind="rss",
        url="https://mfa.cn.example/rss",
    ),
    SourceDef(
        id="uz-mfa",
        name="MFA of Uzbekistan",
        country="UZB",
        language="en",
        kind="rss",
        url="https://mfa.uz.example/rss",
    ),
    SourceDef(
        id="off-mfa",
        name="Switched off",
        country="GBR",
        language="en",
        kind="rss",
        url="https://off.example/rss",
        enabled=False,
    ),
]


def person(name: str | None, country: str | None, role: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "country": country, "role": role, **extra}


def record(
    day: str | None,
    participants: list[dict[str, Any]],
    *,
    url: str,
    evidence: str,
    mode: str = "in_person",
    status: str = "held",
    level: str | None = None,
    publisher: str = "MFA",
    language: str = "en",
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    from services.core.domain import level_of

    rec: dict[str, Any] = {
        "status": status,
        "date": day,
        "mode": mode,
        "participants": participants,
        "level": level or level_of([p["role"] for p in participants]),
        "topics": extra.pop("topics", []),
        "platforms": [],
        "sources": [
            {
                "url": url,
                "publisher": publisher,
                "published_at": day,
                "language": language,
                "title": title or evidence[:60],
                "evidence": evidence,
            }
        ],
    }
    rec.update(extra)
    return rec


@dataclass(frozen=True)
class Report:
    source_id: str | None
    url: str
    claims: list[dict[str, Any]]


WANG_YI = person("Wang Yi", "CHN", "foreign_minister", person_id="Q17613", name_as_printed="王毅")
NURTLEU = person("Murat Nurtleu", "KAZ", "foreign_minister", name_as_printed="Мурат Нуртлеу")
TOKAYEV = person("Kassym-Jomart Tokayev", "KAZ", "head_of_state")
MIRZIYOYEV = person("Shavkat Mirziyoyev", "UZB", "head_of_state")

# KAZ-CHN talks reported by both ministries (dated a day apart: merged by date_within_1d), a KAZ-UZB phone
# call, a multilateral SCO meeting, a planned ambassador-level video call, and an undated one-party claim.
REPORTS = [
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/1",
        [
            record(
                "2025-03-04",
                [NURTLEU, WANG_YI],
                url="https://mfa.kz.example/news/1",
                language="ru",
                publisher="MFA of Kazakhstan",
                evidence="Мурат Нуртлеу провёл переговоры с Ван И в Астане.",
                location={"city": "Astana", "country": "KAZ"},
                topics=["trade"],
            )
        ],
    ),
    Report(
        "cn-mfa",
        "https://mfa.cn.example/news/1",
        [
            record(
                "2025-03-05",
                [dict(WANG_YI), person(None, "KAZ", "foreign_minister", name_as_printed="努尔特列乌")],
                url="https://mfa.cn.example/news/1",
                language="zh",
                publisher="MFA of China",
                evidence="王毅同哈萨克斯坦外长努尔特列乌举行会谈。",
            )
        ],
    ),
    Report(
        "uz-mfa",
        "https://mfa.uz.example/news/7",
        [
            record(
                "2025-03-10",
                [TOKAYEV, MIRZIYOYEV],
                mode="phone",
                url="https://mfa.uz.example/news/7",
                publisher="MFA of Uzbekistan",
                evidence="Shavkat Mirziyoyev had a telephone conversation with Tokayev.",
            )
        ],
    ),
    Report(
        "cn-mfa",
        "https://mfa.cn.example/news/2",
        [
            record(
                "2025-02-20",
                [
                    dict(WANG_YI),
                    person("Sergey Lavrov", "RUS", "foreign_minister"),
                    {"name": "Secretary-General", "org": "SCO", "role": "org_head"},
                ],
                url="https://mfa.cn.example/news/2",
                publisher="MFA of China",
                evidence="Wang Yi met Sergey Lavrov and the SCO Secretary-General on the sidelines.",
                sidelines_of="SCO Council of Foreign Ministers",
            )
        ],
    ),
    Report(
        "uz-mfa",
        "https://mfa.uz.example/news/8",
        [
            record(
                "2025-04-01",
                [person("Jane Doe", "USA", "ambassador"), person("John Roe", "GBR", "ambassador")],
                mode="video",
                status="planned",
                url="https://mfa.uz.example/news/8",
                evidence="The ambassadors will hold a video conference <script>alert(1)</script> & talk.",
            )
        ],
    ),
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/2",
        [
            record(
                None,
                [person("Murat Nurtleu", "KAZ", "foreign_minister")],
                url="https://mfa.kz.example/news/2",
                evidence="The minister received a delegation.",
            )
        ],
    ),
]
KAZ_CHN_DATE = "2025-03-04"


def filler(n: int) -> list[Report]:
    """``n`` KGZ-TJK deputy-minister meetings three days apart in 2024 (never merged), for paging."""
    out = []
    for i in range(n):
        day = (date(2024, 1, 1) + timedelta(days=3 * i)).isoformat()
        url = f"https://mfa.uz.example/filler/{i}"
        out.append(
            Report(
                "uz-mfa",
                url,
                [
                    record(
                        day,
                        [
                            person(f"Deputy {i}", "KGZ", "deputy_foreign_minister"),
                            person(f"Deputy T{i}", "TJK", "deputy_foreign_minister"),
                        ],
                        url=url,
                        evidence=f"Consultations number {i} between deputy ministers.",
                    )
                ],
            )
        )
    return out


def seed(url: str, reports: list[Report], now: datetime = NOW) -> None:
    """Sources, then every report as a fetched and parsed document stored by ``stages.store_claims``."""
    factory = session_factory(url)
    with UnitOfWork(factory) as uow:
        uow.sources.sync([(s.id, s.model_dump(mode="json")) for s in SOURCES], now)
        uow.commit()
    for i, rep in enumerate(reports):
        at = now + timedelta(minutes=i)
        with UnitOfWork(factory) as uow:
            doc_id = uow.documents.add_pending(
                source_id=rep.source_id,
                url=rep.url,
                canonical_url=rep.url,
                guid=None,
                title=None,
                published=None,
                now=at,
            )
            assert doc_id is not None
            doc = uow.documents.get(doc_id)
            assert doc is not None
            doc.status = "fetched"
            doc.parse_status = "ok"
            doc.claims = rep.claims
            doc.fetched_at = at
            uow.session.flush()
            stages.store_claims(uow, doc_id, at)
            uow.commit()
