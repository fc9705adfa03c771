"""The Celery configuration and the one task policy: limits below the visibility timeout, routes, delivery
counter -> dead letter, errors never escaping a task run in-process."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from services.core import stages
from services.core.celery_app import check_limits, load_tasks, make_app
from services.core.db import session_factory
from services.core.settings import Settings
from services.core.task_base import LOCAL_QUEUE, is_transient, retry_cap, retry_delay, using_settings
from services.fetcher.http import BlockedAddress, FetchError, HTTPStatusError
from services.store.uow import UnitOfWork


def test_every_limit_and_retry_delay_stays_below_the_visibility_timeout() -> None:
    s = Settings()
    rng = random.Random(1)
    assert s.task_soft_time_limit_s < s.task_time_limit_s < s.visibility_timeout_s
    longest = max(retry_delay(n, s, rng) for n in range(60))
    assert longest <= retry_cap(s)
    assert retry_cap(s) + s.task_time_limit_s < s.visibility_timeout_s
    conf = make_app(s).conf
    assert conf.broker_transport_options["visibility_timeout"] == s.visibility_timeout_s
    assert conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]


def test_limits_above_the_visibility_timeout_are_refused() -> None:
    with pytest.raises(ValueError, match="visibility_timeout"):
        check_limits(Settings(visibility_timeout_s=300, task_soft_time_limit_s=200, task_time_limit_s=400))


def test_backoff_grows_and_jitters() -> None:
    s = Settings()
    rng = random.Random(7)
    first = [retry_delay(0, s, rng) for _ in range(20)]
    later = [retry_delay(6, s, rng) for _ in range(20)]
    assert max(first) <= 2.0 < min(later)
    assert len(set(later)) > 1


def test_app_routes_each_stage_to_its_queue_with_late_acks() -> None:
    app = make_app(Settings())
    conf = app.conf
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    queues = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in (
            "core.dispatch_due",
            "fetcher.poll_source",
            "fetcher.fetch_document",
            "parser.parse_document",
            "store.store_claims",
        )
    }
    assert queues == {
        "core.dispatch_due": "fetch",
        "fetcher.poll_source": "fetch",
        "fetcher.fetch_document": "fetch",
        "parser.parse_document": "parse",
        "store.store_claims": "store",
    }
    assert conf.beat_schedule["dispatch due sources"]["task"] == "core.dispatch_due"


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (FetchError("reset by peer"), True),
        (HTTPStatusError(503), True),
        (HTTPStatusError(404), False),
        (BlockedAddress("10.0.0.1"), False),
        (ValueError("bug"), False),
        (OperationalError("SELECT 1", {}, Exception("connection reset")), True),
    ],
)
def test_transient_errors(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


@pytest.fixture
def embedded(sqlite_url: str) -> Iterator[Settings]:
    load_tasks()
    LOCAL_QUEUE.clear()
    settings = Settings(database_url=sqlite_url, max_deliveries=3)
    with using_settings(settings):
        yield settings
    LOCAL_QUEUE.clear()


def pending_document(url: str) -> int:
    now = datetime.now(UTC)
    with UnitOfWork(session_factory(url)) as uow:
        doc_id = uow.documents.add_pending(
            source_id=None,
            url="https://x.example/1",
            canonical_url="https://x.example/1",
            guid=None,
            title=None,
            published=None,
            now=now,
        )
        uow.commit()
    assert doc_id is not None
    return doc_id


def task(name: str) -> Any:
    from services.core.celery_app import app

    return app.tasks[name]


def test_poison_document_lands_in_dead_letter_after_max_deliveries(embedded: Settings) -> None:
    doc_id = pending_document(embedded.database_url)
    with UnitOfWork(session_factory(embedded.database_url)) as uow:
        for _ in range(embedded.max_deliveries):  # deliveries that crashed the worker: counted, never reset
            uow.documents.bump_delivery(doc_id)
        uow.commit()
    assert task("fetcher.fetch_document")(doc_id) is None
    with UnitOfWork(session_factory(embedded.database_url)) as uow:
        doc = uow.documents.get(doc_id)
        dead = [(d.task_name, d.args, d.attempts) for d in uow.dead_letters.all()]
        assert doc is not None
        assert doc.status == "dead"
        assert "max_deliveries" in (doc.last_error or "")
    assert dead == [("fetcher.fetch_document", [doc_id], 3)]


def test_a_bug_in_a_stage_is_dead_lettered_not_raised(
    embedded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_id = pending_document(embedded.database_url)

    def boom(*_: Any) -> bool:
        raise RuntimeError("unexpected input")

    monkeypatch.setattr(stages, "fetch_document", boom)
    assert task("fetcher.fetch_document")(doc_id) is None
    with UnitOfWork(session_factory(embedded.database_url)) as uow:
        errors = [d.error for d in uow.dead_letters.all()]
    assert errors == ["RuntimeError: unexpected input"]


def test_successful_delivery_resets_the_counter(embedded: Settings) -> None:
    doc_id = pending_document(embedded.database_url)
    with UnitOfWork(session_factory(embedded.database_url)) as uow:
        uow.documents.bump_delivery(doc_id)
        doc = uow.documents.get(doc_id)
        assert doc is not None
        doc.status = "failed"  # nothing to do: the task returns at once
        uow.commit()
    task("fetcher.fetch_document")(doc_id)
    with UnitOfWork(session_factory(embedded.database_url)) as uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        assert doc.delivery_count == 0
