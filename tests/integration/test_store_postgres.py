"""Repositories on the real Postgres: idempotent upserts, in-batch duplicates, concurrent dispatchers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core import stages
from services.core.db import session_factory
from services.fetcher.sources import SourceDef
from services.store.merge import facts_of, meeting_id_for
from services.store.uow import UnitOfWork

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def source(i: int) -> SourceDef:
    return SourceDef(
        id=f"s{i}",
        name=f"Source {i}",
        country="KAZ",
        language="en",
        kind="rss",
        url=f"https://mfa{i}.example/feed",
    )


def test_document_upsert_is_keyed_on_the_canonical_url(pg_clean: str) -> None:
    with UnitOfWork(session_factory(pg_clean)) as uow:
        kwargs: dict[str, Any] = dict(source_id=None, guid=None, title=None, published=None, now=NOW)
        first = uow.documents.add_pending(
            url="https://a.example/1?utm_source=x", canonical_url="https://a.example/1", **kwargs
        )
        again = uow.documents.add_pending(
            url="https://a.example/1", canonical_url="https://a.example/1", **kwargs
        )
        uow.commit()
    assert first is not None
    assert again is None
    with UnitOfWork(session_factory(pg_clean)) as uow:
        assert uow.documents.counts() == {"pending": 1}


def test_meeting_insert_is_keyed_on_the_identity(pg_clean: str) -> None:
    rec = {
        "date": "2025-03-04",
        "mode": "phone",
        "participants": [
            {"country": "KAZ", "role": "foreign_minister"},
            {"country": "UZB", "role": "foreign_minister"},
        ],
    }
    facts = facts_of(rec, "x")
    with UnitOfWork(session_factory(pg_clean)) as uow:
        assert uow.merges.insert_meeting(meeting_id_for(facts.identity_key), facts, rec, NOW)
        assert not uow.merges.insert_meeting(meeting_id_for(facts.identity_key), facts, rec, NOW)
        uow.commit()
        assert uow.meetings.count() == 1


def test_two_concurrent_dispatchers_poll_each_source_once(pg_clean: str) -> None:
    with UnitOfWork(session_factory(pg_clean)) as uow:
        uow.sources.sync(
            [(s.id, s.model_dump(mode="json")) for s in map(source, range(20))], NOW - timedelta(hours=1)
        )
        uow.commit()
    sent: list[tuple[str, tuple[Any, ...]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def send(name: str, args: tuple[Any, ...]) -> None:
        with lock:
            sent.append((name, args))

    def beat() -> None:
        with UnitOfWork(session_factory(pg_clean), send=send) as uow:
            barrier.wait()
            stages.dispatch_due(uow, NOW, stale_after=timedelta(minutes=15))
            uow.commit()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    polls = sorted(args[0] for name, args in sent if name == "fetcher.poll_source")
    assert polls == sorted(f"s{i}" for i in range(20))
