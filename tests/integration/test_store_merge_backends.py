"""The store's merge, versions, syndicated copies, reparse, split, change log and alert deliveries: one suite,
run on Postgres (distributed mode) and on SQLite (embedded mode)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.alerts.rules import parse_rules
from services.core.db import session_factory
from services.core.settings import Settings
from services.store.dedup import MAX_BITS, fingerprint, hamming
from services.store.export import iter_changed
from services.store.ingest import fingerprint_document, split_source, store_document
from services.store.models import DocumentRow, MeetingRow
from services.store.relay import deliver_claimed, relay_due
from services.store.uow import UnitOfWork
from tests.integration.webhook_receiver import Receiver, rules_yaml, webhook_receiver

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEXT = (
    "Министр иностранных дел Республики Казахстан провёл переговоры с Министром иностранных дел КНР. "
    "Стороны обсудили вопросы торгово-экономического сотрудничества, транспорта и логистики, "
    "а также подготовку к предстоящим мероприятиям и регулярные консультации между ведомствами."
)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_clean"))


@pytest.fixture
def uow(db_url: str) -> Iterator[UnitOfWork]:
    with UnitOfWork(session_factory(db_url)) as u:
        yield u


def person(
    country: str, pid: str | None = None, name: str | None = None, title: str | None = None
) -> dict[str, Any]:
    return {
        "country": country,
        "org": None,
        "role": "foreign_minister",
        "name": name,
        "name_as_printed": name,
        "aliases": [],
        "title": title,
        "person_id": pid,
    }


def claim(
    day: str = "2026-11-20",
    people: list[dict[str, Any]] | None = None,
    mode: str = "in_person",
    url: str = "https://mfa.example/1",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "status": "held",
        "date": day,
        "mode": mode,
        "location": None,
        "participants": people or [person("KAZ"), person("CHN", "Q701801", "Wang Yi")],
        "level": "foreign_minister",
        "visit": None,
        "sidelines_of": None,
        "topics": [],
        "platforms": [],
        "sources": [{"url": url, "publisher": "MFA", "evidence": f"evidence of {url}", "language": "ru"}],
        **extra,
    }


def add_doc(uow: UnitOfWork, url: str, claims: list[dict[str, Any]], text: str | None = None) -> int:
    doc = DocumentRow(
        url=url,
        canonical_url=url,
        status="fetched",
        parse_status="ok",
        claims=claims,
        body=b"<html></html>",
        fetched_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        delivery_count=0,
    )
    if text is not None:
        fingerprint_document(doc, text)
    uow.session.add(doc)
    uow.session.flush()
    return int(doc.id)


def store(uow: UnitOfWork, doc_id: int, rules: Any = (), now: datetime = NOW) -> Any:
    result = store_document(uow, doc_id, now, rules)
    uow.commit()
    return result


def live_meetings(uow: UnitOfWork) -> list[MeetingRow]:
    return list(uow.session.scalars(select(MeetingRow).where(MeetingRow.retracted_at.is_(None))))


def test_two_ministries_merge_into_one_versioned_meeting(uow: UnitOfWork) -> None:
    kz = add_doc(uow, "https://kz.example/1", [claim(url="https://kz.example/1")])
    cn_people = [
        person("CHN", "Q701801", "Wang Yi"),
        person("KAZ", "yermek-kosherbayev", "Yermek Kosherbayev", "外长"),
    ]
    cn = add_doc(
        uow, "https://cn.example/1", [claim(day="2026-11-21", people=cn_people, url="https://cn.example/1")]
    )
    assert store(uow, kz).events == 1
    second = store(uow, cn)
    meetings = live_meetings(uow)
    assert len(meetings) == 1
    m = meetings[0]
    record = uow.meetings.public_record(m)
    assert [s["merge_rule"] for s in record["sources"]] == ["new", "date_within_1d"]
    assert [s["evidence"] for s in record["sources"]] == [
        "evidence of https://kz.example/1",
        "evidence of https://cn.example/1",
    ]
    kaz = [p for p in record["participants"] if p["country"] == "KAZ"]
    assert len(kaz) == 1
    assert kaz[0]["person_id"] == "yermek-kosherbayev"
    assert kaz[0]["title"] == "外长"
    # Naming the Kazakh minister is material: an update event (alerts decide whether to send it).
    assert second.events == 1
    changes = uow.changes.for_aggregate(m.id)
    assert [(c.type, c.document_id) for c in changes] == [("meeting.created", kz), ("meeting.updated", cn)]
    assert changes[1].payload["version"] == 2
    assert "participants" in changes[1].payload["added"]
    assert m.version == 2
    # Storing again changes nothing.
    assert store(uow, cn).changes == 0
    assert store(uow, kz).changes == 0
    assert uow.changes.count() == 2


def test_identified_different_people_are_different_meetings(uow: UnitOfWork) -> None:
    a = add_doc(uow, "https://a.example/1", [claim(people=[person("KAZ", "k1"), person("CHN", "c1")])])
    b = add_doc(uow, "https://b.example/1", [claim(people=[person("KAZ", "k2"), person("CHN", "c2")])])
    store(uow, a)
    store(uow, b)
    assert len(live_meetings(uow)) == 2


def test_syndicated_copy_is_one_report(uow: UnitOfWork) -> None:
    original = add_doc(uow, "https://kz.example/1", [claim(url="https://kz.example/1")], text=TEXT)
    # The agency's copy, a day later by its own dateline: its claims would not even merge by date.
    agency = add_doc(
        uow,
        "https://agency.example/9",
        [claim(day="2026-11-23", url="https://agency.example/9")],
        text="АГЕНТСТВО. " + TEXT,
    )
    store(uow, original)
    result = store(uow, agency)
    assert result.copy_of == original
    assert result.events == 0
    meetings = live_meetings(uow)
    assert len(meetings) == 1
    rules = [s["merge_rule"] for s in uow.meetings.public_record(meetings[0])["sources"]]
    assert rules == ["new", "syndicated_copy"]
    assert uow.outbox.count() == 1


def test_formulaic_releases_of_two_meetings_are_not_copies(uow: UnitOfWork) -> None:
    # Found by bench/soak.py: two ministries' releases about their ministers' talks with the same counterpart
    # on the same day differ in a few words, and their SimHashes came within 3 bits.
    def text(state: str, name: str) -> str:
        return (
            f"LONDON, 18 November 2026. Minister of Foreign Affairs of {state} {name} held talks with "
            "Minister of Foreign Affairs of the United Kingdom Yvette Cooper in London on 18 November 2026.\n"
            "The sides discussed bilateral cooperation in trade, energy and transport, as well as current "
            "international issues."
        )

    ru_text, pk_text = text("Russia", "Sergey Lavrov"), text("Pakistan", "Ishaq Dar")
    assert hamming(fingerprint(ru_text).simhash, fingerprint(pk_text).simhash) <= MAX_BITS
    gbr = person("GBR", "yvette-cooper", "Yvette Cooper")
    ru = add_doc(
        uow, "https://ru.example/1", [claim("2026-11-18", [person("RUS", "Q58217"), gbr])], text=ru_text
    )
    pk = add_doc(
        uow, "https://pk.example/1", [claim("2026-11-18", [person("PAK", "ishaq-dar"), gbr])], text=pk_text
    )
    store(uow, ru)
    result = store(uow, pk)
    assert result.copy_of is None
    assert result.events == 1
    assert sorted(m.parties for m in live_meetings(uow)) == ["GBR|PAK", "GBR|RUS"]
    # A copy whose own extraction names fewer parties (a teaser) still joins its original.
    teaser = add_doc(uow, "https://agency.example/2", [], text="AGENCY. " + ru_text)
    assert store(uow, teaser).copy_of == ru


def test_formulaic_releases_of_one_pair_on_two_days_are_not_copies(uow: UnitOfWork) -> None:
    # Found by bench/soak.py: one ministry's releases about two rounds of talks five days apart, published the
    # same day, differ in the date only. A copy's date may differ only when it was published on another day.
    def text(day: int) -> str:
        return (
            f"ТОКИО, {day} ноября 2026 года. Министр иностранных дел Азербайджана Джейхун Байрамов и министр "
            "иностранных дел Японии Тосимицу Мотэги провели переговоры в Токио.\nСтороны обсудили вопросы "
            "двустороннего сотрудничества в торгово-экономической и транспортной сферах, а также актуальные "
            "международные вопросы."
        )

    assert hamming(fingerprint(text(20)).simhash, fingerprint(text(25)).simhash) <= MAX_BITS
    people = [person("AZE", "Q4276460"), person("JPN", "Q1064916")]

    def release(url: str, day: int, published: str) -> dict[str, Any]:
        record = claim(f"2026-11-{day}", people, url=url)
        record["sources"][0]["published_at"] = published
        return record

    url1, url2 = "https://az.example/1", "https://az.example/2"
    first = add_doc(uow, url1, [release(url1, 25, "2026-11-28")], text(25))
    second = add_doc(uow, url2, [release(url2, 20, "2026-11-28")], text(20))
    store(uow, first)
    assert store(uow, second).copy_of is None
    assert sorted(str(m.date) for m in live_meetings(uow)) == ["2026-11-20", "2026-11-25"]
    # The same wording reprinted three days later, its "date" read against the reprint's own day: a copy.
    late = add_doc(
        uow,
        "https://agency.example/3",
        [release("https://agency.example/3", 28, "2026-12-01")],
        "АГЕНТСТВО. " + text(25),
    )
    assert store(uow, late).copy_of == first


def test_reparse_unlinks_withdrawn_claims_and_retracts_empty_meetings(uow: UnitOfWork) -> None:
    doc = add_doc(uow, "https://kz.example/1", [claim()])
    store(uow, doc)
    old = live_meetings(uow)[0].id
    # A better extractor now reads another meeting out of the same page.
    row = uow.documents.get(doc)
    assert row is not None
    row.claims = [claim(day="2026-11-25", people=[person("KAZ"), person("UZB")])]
    result = store(uow, doc, now=NOW + timedelta(days=1))
    assert result.events == 1  # the new meeting; the retraction is a change log entry, not an alert
    retracted = uow.meetings.get(old)
    assert retracted is not None
    assert retracted.retracted_at is not None
    assert [c.type for c in uow.changes.for_aggregate(old)] == ["meeting.created", "meeting.retracted"]
    assert [m.parties for m in live_meetings(uow)] == ["KAZ|UZB"]
    # The export tells a loader about both: the new meeting and the retracted one.
    exported = {r["id"]: r["retracted"] for r in iter_changed(uow)}
    assert exported[old] is True
    assert len(exported) == 2


def test_split_moves_a_source_out_and_pins_it(uow: UnitOfWork) -> None:
    a = add_doc(uow, "https://kz.example/1", [claim(url="https://kz.example/1")])
    b = add_doc(uow, "https://cn.example/1", [claim(url="https://cn.example/1")])
    store(uow, a)
    store(uow, b)
    merged = live_meetings(uow)[0].id
    new_id = split_source(uow, merged, b, NOW)
    uow.commit()
    assert new_id is not None
    assert new_id != merged
    assert [s["url"] for s in uow.meetings.public_record(uow.meetings.get(merged))["sources"]] == [  # type: ignore[arg-type]
        "https://kz.example/1"
    ]
    # Re-storing (or reparsing) the split report keeps it in its pinned meeting, and a third report of the
    # same talks merges with the original meeting, not the pinned one.
    store(uow, b)
    c = add_doc(uow, "https://agency.example/1", [claim(url="https://agency.example/1")])
    store(uow, c)
    links = {link.document_id: link.meeting_id for link in uow.merges.links_of_meeting(new_id)}
    assert links == {b: new_id}
    assert {link.document_id for link in uow.merges.links_of_meeting(merged)} == {a, c}
    assert "meeting.split" in [ch.type for ch in uow.changes.for_aggregate(merged)]


def rules_for(rx_url: str, secret: str, notify_updates: bool = False) -> Any:
    text = (
        "rules:\n  - name: kaz\n    match: {level_at_least: foreign_minister, states_any: [KAZ]}\n"
        f"    notify_updates: {str(notify_updates).lower()}\n"
        f"    channels:\n      - webhook: {rx_url}\n        secret: {secret}\n"
    )
    return parse_rules(text)


@pytest.mark.parametrize("notify_updates", [False, True])
def test_an_alert_fires_once_per_rule_and_meeting(uow: UnitOfWork, notify_updates: bool) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    rules = rules_for("https://hooks.example/x", secret, notify_updates)
    kz = add_doc(uow, "https://kz.example/1", [claim()])
    cn = add_doc(uow, "https://cn.example/1", [claim(people=[person("CHN", "Q701801"), person("KAZ", "k1")])])
    store(uow, kz, rules)
    store(uow, cn, rules)
    store(uow, cn, rules)  # a redelivered task
    kinds = sorted(d.kind for d in uow.deliveries.all())
    assert kinds == (["new", "update"] if notify_updates else ["new"])
    meeting = live_meetings(uow)[0]
    assert uow.deliveries.alerted_rules(meeting.id) == {"kaz"}


def relay_once(db_url: str, settings: Settings, rules: Any, client: httpx.Client, now: datetime) -> list[str]:
    factory = session_factory(db_url)
    with UnitOfWork(factory) as u:
        claimed = u.deliveries.claim_due(now, settings.relay_lease_s)
        u.commit()
    return [
        deliver_claimed(
            lambda: UnitOfWork(factory), d, t, settings=settings, rules=rules, client=client, now=lambda: now
        )
        for d, t in claimed
    ]


def _receiver_rules(rx: Receiver) -> Any:
    return parse_rules(rules_yaml(rx, name="kaz", level_at_least="foreign_minister", states_any=["KAZ"]))


def test_relay_retries_honours_retry_after_and_disables_on_410(uow: UnitOfWork, db_url: str) -> None:
    settings = Settings(database_url=db_url)
    client = httpx.Client()
    with webhook_receiver() as rx:
        rules = _receiver_rules(rx)
        store(uow, add_doc(uow, "https://kz.example/1", [claim()]), rules)
        now = datetime.now(UTC)
        rx.script = [(503, {}), (429, {"Retry-After": "120"})]
        assert relay_once(db_url, settings, rules, client, now) == ["retry"]
        assert relay_once(db_url, settings, rules, client, now) == []  # not due yet
        later = now + timedelta(seconds=11)
        assert relay_once(db_url, settings, rules, client, later) == ["retry"]
        row = uow.deliveries.all()[0]
        uow.session.refresh(row)
        assert row.next_attempt_at >= later + timedelta(seconds=120)  # Retry-After is a floor
        assert relay_once(db_url, settings, rules, client, later + timedelta(seconds=121)) == ["sent"]
        assert len(rx.processed) == 1
        assert [a.outcome for a in uow.deliveries.attempts_of(row.id)] == ["retry", "retry", "sent"]

        # 410: the endpoint is switched off, and the next alert to it is not sent.
        rx.script = [(410, {})]
        store(
            uow, add_doc(uow, "https://kz.example/2", [claim(people=[person("KAZ"), person("UZB")])]), rules
        )
        t = later + timedelta(seconds=200)
        assert relay_once(db_url, settings, rules, client, t) == ["disable"]
        store(
            uow, add_doc(uow, "https://kz.example/3", [claim(people=[person("KAZ"), person("KGZ")])]), rules
        )
        assert relay_once(db_url, settings, rules, client, t) == ["disabled"]
        assert len(rx.processed) == 1
        assert uow.deliveries.counts() == {"sent": 1, "disabled": 2}
    client.close()


def test_a_redelivered_deliver_task_does_not_send_twice(uow: UnitOfWork, db_url: str) -> None:
    settings = Settings(database_url=db_url)
    client = httpx.Client()
    factory = session_factory(db_url)
    with webhook_receiver() as rx:
        rules = _receiver_rules(rx)
        store(uow, add_doc(uow, "https://kz.example/1", [claim()]), rules)
        now = datetime.now(UTC)
        with UnitOfWork(factory) as u:
            deferred: list[Any] = []
            u._send = lambda name, args: deferred.append(args)  # type: ignore[method-assign]
            relay_due(u, settings, now)
            u.commit()
        assert len(deferred) == 1
        outcomes = [
            deliver_claimed(
                lambda: UnitOfWork(factory),
                *deferred[0],
                settings=settings,
                rules=rules,
                client=client,
                now=lambda: now,
            )
            for _ in range(2)
        ]
        assert outcomes == ["sent", "skipped"]
        assert len(rx.ids) == 1
    client.close()


def test_change_log_is_a_cursor(uow: UnitOfWork) -> None:
    store(uow, add_doc(uow, "https://kz.example/1", [claim()]))
    first = [r["change_id"] for r in iter_changed(uow)]
    store(uow, add_doc(uow, "https://kz.example/2", [claim(people=[person("KAZ"), person("UZB")])]))
    after = list(iter_changed(uow, after_id=first[-1]))
    assert [r["participants"][1]["country"] for r in after] == ["UZB"]
    assert all(r["id"] and r["sources"] for r in after)


def test_records_are_copied_not_shared(uow: UnitOfWork) -> None:
    rec = claim()
    doc = add_doc(uow, "https://kz.example/1", [copy.deepcopy(rec)])
    store(uow, doc)
    assert uow.documents.get(doc).claims == [rec]  # type: ignore[union-attr]


def test_operator_events_go_to_the_operator_channel_once(uow: UnitOfWork, db_url: str) -> None:
    from services.core.stages import mark_source_broken
    from services.fetcher.sources import SourceDef

    source = SourceDef(
        id="s1", name="S", country="KAZ", language="en", kind="rss", url="https://mfa.example/feed"
    )
    uow.sources.sync([(source.id, source.model_dump(mode="json"))], NOW)
    # The one path of a "source broken" notice: the outbox row the poller (or the delivery counter) writes.
    mark_source_broken(uow, "s1", "selector matched nothing 5 times", datetime.now(UTC))
    uow.dead_letters.add("parser.parse_document", [1], "boom", 5, NOW)
    uow.commit()
    client = httpx.Client()
    with webhook_receiver() as rx:
        settings = Settings(database_url=db_url, operator_webhook=rx.url, operator_webhook_secret=rx.secret)
        factory = session_factory(db_url)
        for _ in range(2):  # a second relay run writes no second event
            with UnitOfWork(factory) as u:
                deferred: list[Any] = []
                u._send = lambda name, args, sink=deferred: sink.append(args)  # type: ignore[method-assign]
                relay_due(u, settings, datetime.now(UTC))
                u.commit()
            for args in deferred:
                deliver_claimed(
                    lambda: UnitOfWork(factory),
                    *args,
                    settings=settings,
                    rules=[],
                    client=client,
                    now=lambda: datetime.now(UTC),
                )
        types = sorted(e["type"] for e in rx.processed)
        assert types == ["operator.dead_letters", "source.broken"]
        broken = next(e for e in rx.processed if e["type"] == "source.broken")
        assert broken["data"]["source_id"] == "s1"
        assert broken["data"]["state"] == "broken"
        assert broken["data"]["last_error"] == "selector matched nothing 5 times"
    client.close()


def test_retries_exhausted_make_a_visible_dead_letter(uow: UnitOfWork, db_url: str) -> None:
    settings = Settings(database_url=db_url, webhook_max_attempts=2)
    client = httpx.Client()
    with webhook_receiver() as rx:
        rules = _receiver_rules(rx)
        store(uow, add_doc(uow, "https://kz.example/1", [claim()]), rules)
        rx.script = [(503, {}), (503, {})]
        now = datetime.now(UTC)
        assert relay_once(db_url, settings, rules, client, now) == ["retry"]
        assert relay_once(db_url, settings, rules, client, now + timedelta(seconds=11)) == ["dead"]
        assert uow.deliveries.counts() == {"dead": 1}
        [dead] = uow.dead_letters.all()
        assert dead.task_name == "notify.deliver"
        assert dead.error.startswith("HTTP 503")
        assert rx.processed == []
    client.close()


def test_reparse_replaces_what_a_report_said_before(uow: UnitOfWork) -> None:
    doc = add_doc(uow, "https://kz.example/1", [claim(topics=["energy"])])
    other = add_doc(uow, "https://cn.example/1", [claim(url="https://cn.example/1", topics=["trade"])])
    store(uow, doc)
    store(uow, other)
    row = uow.documents.get(doc)
    assert row is not None
    # The better extractor no longer reads "energy" into the Kazakh release.
    row.claims = [claim(topics=["transport"])]
    assert store(uow, doc).changes == 1
    [meeting] = live_meetings(uow)
    assert meeting.record["topics"] == ["transport", "trade"]
    assert store(uow, doc).changes == 0
