"""Data for the dashboard's browser tests, stored through the pipeline's own code.

Meetings go in as parsed documents stored by ``stages.store_claims`` (with the alert rules, so the store plans
the deliveries); source health is set the way the fetcher sets it (``schedule.source_state``,
``stages.mark_source_broken``, the API's operator switch); delivery outcomes go through the relay's
repository calls (``claim_due`` / ``take`` / ``finish`` / ``log``). Records are written by hand in the
schema's shape (the extractor has its own tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.api.repository import ApiRepository
from services.core import stages
from services.core.db import session_factory
from services.fetcher import schedule
from services.fetcher.sources import SourceDef
from services.store.ingest import active_rules
from services.store.uow import UnitOfWork
from tests.integration.api.seed import Report, person, record

__all__ = ["BROKEN", "NEW_MEETING", "RULES_YAML", "SOURCES", "Seeded", "add_report", "seed_dashboard"]

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
        kind="atom",
        url="https://mfa.uz.example/press",
    ),
    SourceDef(
        id="zz-agency",
        name="Zeta News Agency",
        country="RUS",
        language="ru",
        kind="rss",
        url="https://agency.example/rss",
    ),
    SourceDef(
        id="kg-mfa",
        name="MFA of Kyrgyzstan",
        country="KGZ",
        language="ru",
        kind="rss",
        url="https://mfa.kg.example/rss",
    ),
    SourceDef(
        id="gb-fcdo",
        name="Foreign Office (switched off)",
        country="GBR",
        language="en",
        kind="rss",
        url="https://fcdo.example/rss",
        enabled=False,
    ),
]
# Alphabetically last of the sources, so "broken first" is the order's doing, not the name's.
BROKEN = "zz-agency"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RULES_YAML = f"""rules:
  - name: central-asia
    match:
      level_at_least: foreign_minister
      states_any: [KAZ, UZB, KGZ, TJK]
    channels:
      - webhook: http://127.0.0.1:9/hooks/central-asia
        secret: {SECRET}
  - name: china-watch
    match:
      states_any: [CHN]
    channels:
      - email: desk@example.org
    notify_updates: true
"""

XI = person("Xi Jinping", "CHN", "head_of_state")
WANG_YI = person("Wang Yi", "CHN", "foreign_minister", name_as_printed="王毅")
TOKAYEV = person("Kassym-Jomart Tokayev", "KAZ", "head_of_state")
NURTLEU = person("Murat Nurtleu", "KAZ", "foreign_minister", name_as_printed="Мурат Нуртлеу")
MIRZIYOYEV = person("Shavkat Mirziyoyev", "UZB", "head_of_state")
LAVROV = person("Sergey Lavrov", "RUS", "foreign_minister")
# A (fictional) person seen in two offices: deputy minister in 2024, minister in 2025.
SARSENOV_DEPUTY = person(
    "Aibek Sarsenov", "KAZ", "deputy_foreign_minister", title="Deputy Minister of Foreign Affairs"
)
SARSENOV_MINISTER = person("Aibek Sarsenov", "KAZ", "foreign_minister", title="Minister of Foreign Affairs")
PERSON_TWO_OFFICES = "Aibek Sarsenov"

REPORTS = [
    # KAZ-CHN: four meetings (one reported by both sides and merged), at three levels and two modes.
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/101",
        [
            record(
                "2025-03-04",
                [NURTLEU, WANG_YI],
                url="https://mfa.kz.example/news/101",
                language="ru",
                publisher="MFA of Kazakhstan",
                title="Переговоры с Ван И",
                evidence="Мурат Нуртлеу провёл переговоры с Ван И в Астане.",
                location={"city": "Astana", "country": "KAZ"},
                topics=["trade", "transport"],
            )
        ],
    ),
    Report(
        "cn-mfa",
        "https://mfa.cn.example/news/201",
        [
            record(
                "2025-03-05",
                [dict(WANG_YI), person(None, "KAZ", "foreign_minister", name_as_printed="努尔特列乌")],
                url="https://mfa.cn.example/news/201",
                language="zh",
                publisher="MFA of China",
                evidence="王毅同哈萨克斯坦外长努尔特列乌举行会谈。",
            )
        ],
    ),
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/102",
        [
            record(
                "2024-07-03",
                [TOKAYEV, XI],
                url="https://mfa.kz.example/news/102",
                publisher="MFA of Kazakhstan",
                evidence="Kassym-Jomart Tokayev held talks with Xi Jinping in Astana.",
                location={"city": "Astana", "country": "KAZ"},
                topics=["energy", "investment"],
            )
        ],
    ),
    Report(
        "cn-mfa",
        "https://mfa.cn.example/news/202",
        [
            record(
                "2025-01-15",
                [dict(WANG_YI), dict(NURTLEU)],
                mode="phone",
                url="https://mfa.cn.example/news/202",
                publisher="MFA of China",
                evidence="Wang Yi had a phone call with Murat Nurtleu.",
            )
        ],
    ),
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/103",
        [
            record(
                "2024-10-21",
                [
                    person("Roman Vassilenko", "KAZ", "deputy_foreign_minister"),
                    person("Sun Weidong", "CHN", "deputy_foreign_minister"),
                ],
                url="https://mfa.kz.example/news/103",
                publisher="MFA of Kazakhstan",
                evidence="Deputy ministers Roman Vassilenko and Sun Weidong held consultations in Beijing.",
                location={"city": "Beijing", "country": "CHN"},
            )
        ],
    ),
    # Others: a KAZ-UZB phone call, a multilateral meeting, KAZ-RUS, a planned video call with markup in it.
    Report(
        "uz-mfa",
        "https://mfa.uz.example/press/7",
        [
            record(
                "2025-03-10",
                [MIRZIYOYEV, dict(TOKAYEV)],
                mode="phone",
                url="https://mfa.uz.example/press/7",
                publisher="MFA of Uzbekistan",
                evidence="Shavkat Mirziyoyev had a telephone conversation with Kassym-Jomart Tokayev.",
                topics=["regional"],
            )
        ],
    ),
    Report(
        "cn-mfa",
        "https://mfa.cn.example/news/203",
        [
            record(
                "2025-02-20",
                [
                    dict(WANG_YI),
                    dict(LAVROV),
                    {"name": "Secretary-General", "org": "SCO", "role": "org_head"},
                ],
                url="https://mfa.cn.example/news/203",
                publisher="MFA of China",
                evidence="Wang Yi met Sergey Lavrov and the SCO Secretary-General on the sidelines.",
                sidelines_of="SCO Council of Foreign Ministers",
                location={"city": "Moscow", "country": "RUS"},
            )
        ],
    ),
    Report(
        "zz-agency",
        "https://agency.example/item/9",
        [
            record(
                "2024-11-11",
                [dict(NURTLEU), dict(LAVROV)],
                url="https://agency.example/item/9",
                publisher="Zeta News Agency",
                evidence="Murat Nurtleu and Sergey Lavrov met in Moscow.",
                location={"city": "Moscow", "country": "RUS"},
            )
        ],
    ),
    Report(
        "uz-mfa",
        "javascript:alert(1)",
        [
            record(
                "2025-04-01",
                [person("Jane Doe", "USA", "ambassador"), person("John Roe", "GBR", "ambassador")],
                mode="video",
                status="planned",
                url="javascript:alert(1)",
                evidence="The ambassadors will hold a video conference <script>alert(1)</script> & talk.",
            )
        ],
    ),
    # The person with two offices.
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/104",
        [
            record(
                "2024-06-01",
                [SARSENOV_DEPUTY, person("Kyrgyz Deputy", "KGZ", "deputy_foreign_minister")],
                url="https://mfa.kz.example/news/104",
                publisher="MFA of Kazakhstan",
                evidence="Deputy Minister Aibek Sarsenov held consultations with his Kyrgyz counterpart.",
            )
        ],
    ),
    Report(
        "kz-mfa",
        "https://mfa.kz.example/news/105",
        [
            record(
                "2025-02-10",
                [SARSENOV_MINISTER, person("Tajik Minister", "TJK", "foreign_minister")],
                mode="video",
                url="https://mfa.kz.example/news/105",
                publisher="MFA of Kazakhstan",
                evidence="Minister Aibek Sarsenov held a video call with the Tajik foreign minister.",
            )
        ],
    ),
]
# Stored while the Meetings page is open: states no other meeting has, the newest date of all.
NEW_MEETING = Report(
    "uz-mfa",
    "https://mfa.uz.example/press/99",
    [
        record(
            "2025-05-02",
            [
                person("Rashid Meredov", "TKM", "foreign_minister"),
                person("Hakan Fidan", "TUR", "foreign_minister"),
            ],
            url="https://mfa.uz.example/press/99",
            publisher="MFA of Uzbekistan",
            evidence="Rashid Meredov and Hakan Fidan held talks in Ashgabat.",
            location={"city": "Ashgabat", "country": "TKM"},
        )
    ],
)


@dataclass(frozen=True)
class Seeded:
    url: str
    rules_path: Path
    now: datetime


def add_report(url: str, rep: Report, at: datetime, rules_path: Path | None = None) -> int:
    """One report as a fetched, parsed document, stored by ``stages.store_claims``; its document id."""
    factory = session_factory(url)
    rules = active_rules(rules_path) if rules_path is not None else []
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
        stages.store_claims(uow, doc_id, at, rules)
        uow.commit()
    return doc_id


def _health(url: str, now: datetime) -> None:
    factory = session_factory(url)
    with UnitOfWork(factory) as uow:
        for row in uow.sources.all():
            row.last_polled_at = now - timedelta(minutes=12)
            row.last_success_at = now - timedelta(minutes=12)
            row.next_check_at = now + timedelta(minutes=18)
        kz = uow.sources.get("kz-mfa")
        assert kz is not None
        kz.rate_per_week = 6.5
        cn = uow.sources.get("cn-mfa")
        assert cn is not None
        cn.consecutive_errors = 3
        cn.state = schedule.source_state(consecutive_errors=3)
        cn.last_error = "HTTP 503 Service Unavailable"
        cn.last_success_at = now - timedelta(hours=7)
        cn.next_check_at = now + timedelta(minutes=40)
        agency = uow.sources.get(BROKEN)
        assert agency is not None
        agency.last_success_at = now - timedelta(days=9)
        agency.consecutive_errors = 12
        agency.next_check_at = now + timedelta(hours=6)
        uow.session.flush()
        stages.mark_source_broken(uow, BROKEN, "HTTP 404 Not Found: the feed moved", now)
        uow.commit()
    with UnitOfWork(factory) as uow:
        # The operator's switch, as POST /api/sources/kg-mfa/disable does it.
        assert ApiRepository(uow.session).set_source_hold("kg-mfa", disabled=True, now=now)
        uow.commit()


def _deliveries(url: str, now: datetime) -> None:
    """The relay's first round: the first delivery sent (200), the second dead (HTTP 500), the others
    pending."""
    factory = session_factory(url)
    with UnitOfWork(factory) as uow:
        claimed = uow.deliveries.claim_due(now, lease_s=60)
        outcomes: list[tuple[str, int | None, str | None]] = [("sent", 200, None), ("dead", 500, "HTTP 500")]
        for (delivery_id, token), (status, http, error) in zip(claimed, outcomes, strict=False):
            row = uow.deliveries.take(delivery_id, token, now, lease_s=60)
            assert row is not None
            uow.deliveries.finish(
                delivery_id,
                row.lease_token or "",
                status=status,
                next_attempt_at=None,
                http_status=http,
                error=error,
                now=now,
            )
            uow.deliveries.log(delivery_id, row.attempts, http, status, error, 35, now)
        # The others stay claimed: pending, due again when the lease runs out.
        uow.commit()


def seed_dashboard(url: str, tmp: Path) -> Seeded:
    """Sources in every state, the meetings of ``REPORTS`` (with alert deliveries), delivery outcomes."""
    now = datetime.now(UTC).replace(microsecond=0)
    rules_path = tmp / "rules.yaml"
    rules_path.write_text(RULES_YAML, encoding="utf-8")
    factory = session_factory(url)
    with UnitOfWork(factory) as uow:
        uow.sources.sync([(s.id, s.model_dump(mode="json")) for s in SOURCES], now - timedelta(days=30))
        uow.commit()
    for i, rep in enumerate(REPORTS):
        add_report(url, rep, now - timedelta(days=20) + timedelta(hours=i), rules_path)
    _health(url, now)
    _deliveries(url, now)
    return Seeded(url=url, rules_path=rules_path, now=now)
