"""The stages on a migrated SQLite database, with fakes for the HTTP client, the poller and the extractor:
dedup, idempotence (running twice = the same rows), failure recording, dispatch once per slot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.core import stages
from services.core.db import session_factory
from services.core.domain import FetchedDoc
from services.fetcher.http import FetchError, HTTPStatusError, TooLarge
from services.fetcher.sources import SourceDef
from services.parser.errors import ParseError
from services.store.models import DocumentRow, MeetingSourceRow, OutboxRow
from services.store.repository import OutboxRepository
from services.store.uow import UnitOfWork

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
SOURCE = SourceDef(
    id="kz", name="Test MFA", country="KAZ", language="en", kind="rss", url="https://mfa.example/feed"
)


@dataclass(frozen=True)
class Item:
    url: str
    guid: str | None = None
    title: str | None = None
    published: datetime | None = None


@dataclass
class Outcome:
    items: list[Item]
    not_modified: bool = False
    etag: str | None = '"v1"'
    last_modified: str | None = "Wed, 05 Mar 2025 09:00:00 GMT"


@dataclass
class FakePoll:
    outcome: Outcome | Exception
    calls: list[tuple[str | None, str | None]] = field(default_factory=list)

    def __call__(
        self, source: SourceDef, client: Any, etag: str | None, last_modified: str | None
    ) -> Outcome:
        self.calls.append((etag, last_modified))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@dataclass
class FakeClient:
    error: Exception | None = None
    urls: list[str] = field(default_factory=list)

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc:
        self.urls.append(url)
        if self.error:
            raise self.error
        return FetchedDoc(url, url, 200, {"content-type": "text/html"}, f"<p>{url}</p>".encode(), NOW)


def claim(
    parties: tuple[str, str] = ("KAZ", "FIN"), day: str = "2025-03-04", url: str = "u"
) -> dict[str, Any]:
    return {
        "status": "held",
        "date": day,
        "mode": "in_person",
        "participants": [{"country": c, "role": "foreign_minister", "name": f"FM {c}"} for c in parties],
        "sources": [{"url": url, "publisher": "Test MFA", "evidence": f"The ministers of {parties} met."}],
    }


class Jobs(list[tuple[str, tuple[Any, ...]]]):
    def send(self, name: str, args: tuple[Any, ...]) -> None:
        self.append((name, args))


@pytest.fixture
def jobs() -> Jobs:
    return Jobs()


@pytest.fixture
def uow(sqlite_url: str, jobs: Jobs) -> UnitOfWork:
    with UnitOfWork(session_factory(sqlite_url)) as u:
        u.sources.sync([(SOURCE.id, SOURCE.model_dump(mode="json"))], NOW - timedelta(hours=1))
        u.commit()
    return UnitOfWork(session_factory(sqlite_url), send=jobs.send)


def poll(uow: UnitOfWork, fake: FakePoll, now: datetime = NOW) -> int:
    with uow:
        n = stages.poll_source(uow, SOURCE.id, FakeClient(), fake, now)
        uow.commit()
    return n


def count(uow: UnitOfWork, model: Any) -> int:
    with uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_poll_adds_each_canonical_url_once(uow: UnitOfWork, jobs: Jobs) -> None:
    items = [
        Item("https://mfa.example/press/1?utm_source=rss", guid="1"),
        Item("https://mfa.example/press/1#top", guid="1b"),
        Item("https://MFA.example/press/2", guid="2"),
    ]
    assert poll(uow, FakePoll(Outcome(items))) == 2
    assert [name for name, _ in jobs] == ["fetcher.fetch_document"] * 2
    assert count(uow, DocumentRow) == 2
    # Re-polled before the fetches ran: the same rows, the pending fetches are sent again (a lost message).
    assert poll(uow, FakePoll(Outcome(items))) == 2
    assert count(uow, DocumentRow) == 2


def test_poll_keeps_and_sends_validators(uow: UnitOfWork) -> None:
    poll(uow, FakePoll(Outcome([])))
    second = FakePoll(Outcome([], not_modified=True, etag=None, last_modified=None))
    assert poll(uow, second) == 0
    assert second.calls == [('"v1"', "Wed, 05 Mar 2025 09:00:00 GMT")]
    with uow:
        row = uow.sources.get(SOURCE.id)
        assert row is not None
        assert row.etag == '"v1"'
        assert row.state == "ok"


@pytest.mark.parametrize(
    ("error", "state", "errors"),
    [
        (FetchError("connection refused"), "failing", 1),
        (HTTPStatusError(410), "disabled", 1),
        (HTTPStatusError(429, retry_after=3600), "ok", 0),
    ],
)
def test_failed_poll_is_recorded_on_the_source(
    uow: UnitOfWork, error: Exception, state: str, errors: int
) -> None:
    assert poll(uow, FakePoll(error)) == 0
    with uow:
        row = uow.sources.get(SOURCE.id)
        assert row is not None
        assert (row.state, row.consecutive_errors) == (state, errors)
        assert row.last_error
        assert type(error).__name__ in row.last_error
        assert row.next_check_at is not None
        assert row.next_check_at > NOW


def fetched_document(uow: UnitOfWork, url: str = "https://mfa.example/press/1") -> int:
    poll(uow, FakePoll(Outcome([Item(url)])))
    with uow:
        doc_id = uow.documents.pending_ids([url])[0]
        assert stages.fetch_document(uow, doc_id, FakeClient(), NOW)
        uow.commit()
    return doc_id


def run_parse_and_store(uow: UnitOfWork, doc_id: int, records: list[dict[str, Any]]) -> None:
    with uow:
        stages.parse_document(uow, doc_id, lambda body, source, doc: records, NOW)
        uow.commit()
    with uow:
        stages.store_claims(uow, doc_id, NOW)
        uow.commit()


def test_document_runs_through_and_every_stage_is_idempotent(uow: UnitOfWork, jobs: Jobs) -> None:
    doc_id = fetched_document(uow)
    run_parse_and_store(uow, doc_id, [claim()])
    with uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        assert doc.sha256
        assert doc.parse_status == "ok"
        assert doc.stored_at
    before = (count(uow, DocumentRow), uow_meetings(uow), count(uow, MeetingSourceRow), count(uow, OutboxRow))
    assert before == (1, 1, 1, 1)
    client = FakeClient()
    with uow:
        assert not stages.fetch_document(uow, doc_id, client, NOW)
        uow.commit()
    assert client.urls == []  # fetched once
    run_parse_and_store(uow, doc_id, [claim()])
    with uow:  # forced re-run of the store stage
        stages.store_claims(uow, doc_id, NOW)
        uow.commit()
    assert (
        count(uow, DocumentRow),
        uow_meetings(uow),
        count(uow, MeetingSourceRow),
        count(uow, OutboxRow),
    ) == before


def uow_meetings(uow: UnitOfWork) -> int:
    with uow:
        return uow.meetings.count()


def test_two_reports_of_one_meeting_merge(uow: UnitOfWork) -> None:
    a = fetched_document(uow, "https://mfa.example/press/a")
    b = fetched_document(uow, "https://mfa.example/press/b")
    run_parse_and_store(uow, a, [claim(("KAZ", "FIN"), "2025-03-04")])
    run_parse_and_store(uow, b, [claim(("FIN", "KAZ"), "2025-03-05")])
    with uow:
        records = list(uow.meetings.iter_records())
        outbox = [r.type for r in uow.session.scalars(select(OutboxRow))]
    assert len(records) == 1
    assert [s["merge_rule"] for s in records[0]["sources"]] == ["new", "date_within_1d"]
    assert [s["url"] for s in records[0]["sources"]] == [
        "https://mfa.example/press/a",
        "https://mfa.example/press/b",
    ]
    assert outbox == ["meeting.created"]  # the second report added a source, nothing material


def test_fetch_errors(uow: UnitOfWork) -> None:
    poll(uow, FakePoll(Outcome([Item("https://mfa.example/big"), Item("https://mfa.example/down")])))
    with uow:
        big, down = uow.documents.pending_ids(["https://mfa.example/big", "https://mfa.example/down"])
        assert not stages.fetch_document(uow, big, FakeClient(TooLarge("over the cap")), NOW)
        uow.commit()
    with uow, pytest.raises(HTTPStatusError):
        stages.fetch_document(uow, down, FakeClient(HTTPStatusError(503)), NOW)
    with uow:
        rows = {d.id: d for d in uow.session.scalars(select(DocumentRow))}
        assert (rows[big].status, rows[down].status) == ("failed", "pending")
        assert rows[big].fetch_error
        assert "TooLarge" in rows[big].fetch_error


def test_parse_error_is_recorded_not_raised(uow: UnitOfWork, jobs: Jobs) -> None:
    doc_id = fetched_document(uow)

    def broken(body: bytes, source: Any, doc: Any) -> list[dict[str, Any]]:
        raise ParseError("no article text")

    jobs.clear()
    with uow:
        assert stages.parse_document(uow, doc_id, broken, NOW) == 0
        uow.commit()
    with uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        assert (doc.parse_status, doc.parse_error) == ("error", "no article text")
    assert jobs == []


def test_dispatch_polls_each_due_source_once_per_slot(uow: UnitOfWork, jobs: Jobs) -> None:
    for _ in range(2):  # a second beat, or the same dispatch redelivered
        with uow:
            stages.dispatch_due(uow, NOW, stale_after=timedelta(minutes=15))
            uow.commit()
    assert jobs == [("fetcher.poll_source", (SOURCE.id,))]
    with uow:
        row = uow.sources.get(SOURCE.id)
        assert row is not None
        assert row.next_check_at is not None
        assert row.next_check_at > NOW


def test_dispatch_resends_stalled_documents(uow: UnitOfWork, jobs: Jobs) -> None:
    poll(uow, FakePoll(Outcome([Item("https://mfa.example/lost")])), now=NOW - timedelta(hours=2))
    jobs.clear()
    with uow:
        result = stages.dispatch_due(uow, NOW, stale_after=timedelta(minutes=15))
        uow.commit()
    assert result.resent == 1
    assert ("fetcher.fetch_document", (1,)) in jobs


def test_deferred_jobs_are_sent_after_commit_only(sqlite_url: str, jobs: Jobs) -> None:
    with UnitOfWork(session_factory(sqlite_url), send=jobs.send) as u:
        u.defer("a.task", 1)
        u.defer("a.task", 1)
        assert jobs == []
        u.commit()
    assert jobs == [("a.task", (1,))]
    with UnitOfWork(session_factory(sqlite_url), send=jobs.send) as u:
        u.defer("b.task", 2)
    assert jobs == [("a.task", (1,))]


def test_a_failure_before_commit_leaves_no_meeting_without_its_outbox_row(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    doc_id = fetched_document(uow)
    with uow:
        stages.parse_document(uow, doc_id, lambda body, source, doc: [claim()], NOW)
        uow.commit()

    def connection_lost(*_: Any) -> str:
        raise OperationalError("INSERT INTO outbox", {}, Exception("server closed the connection"))

    with monkeypatch.context() as m:
        m.setattr(OutboxRepository, "add", connection_lost)
        with uow, pytest.raises(OperationalError):
            stages.store_claims(uow, doc_id, NOW)  # raises before the unit of work could commit
    assert (uow_meetings(uow), count(uow, MeetingSourceRow), count(uow, OutboxRow)) == (0, 0, 0)
    with uow:  # the retry
        stages.store_claims(uow, doc_id, NOW)
        uow.commit()
    assert (uow_meetings(uow), count(uow, MeetingSourceRow), count(uow, OutboxRow)) == (1, 1, 1)
