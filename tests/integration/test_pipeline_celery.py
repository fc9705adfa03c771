"""The distributed pipeline: a real Celery worker (subprocess) on Redis and Postgres, against a local server.

One poll cycle leads, through fetch, parse and store on the worker, to meeting rows in Postgres; the second
poll is conditional (the server sees If-None-Match / If-Modified-Since and answers 304) and adds nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.core import pipeline
from services.core.db import session_factory
from services.core.settings import Settings
from services.store.models import SourceRow
from services.store.uow import UnitOfWork
from tests.integration.harness import snapshot, wait_for

pytestmark = pytest.mark.integration


def settings_for(pg_url: str, redis_url: str) -> Settings:
    return Settings(
        database_url=pg_url, broker_url=redis_url, allow_private_networks="true", host_spacing_s=0.0
    )


def test_poll_through_worker_then_conditional_repoll(
    pg_clean: str, redis_url: str, celery_worker: Any, ministry_site: Any
) -> None:
    settings = settings_for(pg_clean, redis_url)
    server = ministry_site.server

    counts = pipeline.run_once(settings, ministry_site.sources())
    assert counts["polls"] == 2

    def settled() -> dict[str, Any] | None:
        snap = snapshot(pg_clean)
        return snap if snap["documents"] == 4 and snap["done"] == 4 and snap["meetings"] == 2 else None

    first = wait_for(settled, timeout=90, what="4 documents stored as 2 meetings by the worker")
    assert first["links"] == 3  # the Kazakh-Finnish talks carry both ministries' reports
    # One event per new meeting, written in the meeting's transaction; the second report of the talks adds an
    # update only when it brings something material (the visit, if the Finnish report came first).
    assert first["outbox"].count("meeting.created") == 2
    assert first["outbox"].count("meeting.updated") <= 1
    assert first["dead_letters"] == 0
    assert all(etag for etag, _ in first["validators"].values())
    article_hits = [h for h in server.hits if "/press/" in h.path or h.path.endswith("kazakhstan.html")]
    assert len(article_hits) == 4

    # Second cycle: forced (nothing is due yet), conditional, and a 304 everywhere.
    counts = pipeline.run_once(settings, force=True)
    assert counts["polls"] == 2

    def repolled() -> dict[str, Any] | None:
        snap = snapshot(pg_clean)
        fresh = all(snap["polled"][s] > first["polled"][s] for s in snap["polled"])
        return snap if fresh else None

    second = wait_for(repolled, timeout=60, what="both sources polled again")
    for path in ("/kz/feed.xml", "/fi/news/"):
        again = server.hits_for(path)[-1]
        assert again.headers.get("if-none-match") == server.etag(path)
        assert again.headers.get("if-modified-since") == server.last_modified
        assert again.status == 304
    for key in ("documents", "meetings", "links", "outbox", "dead_letters"):
        assert second[key] == first[key], key
    assert len([h for h in server.hits if "/press/" in h.path or h.path.endswith("kazakhstan.html")]) == 4


def test_worker_is_configured_for_late_acks(celery_worker: Any) -> None:
    from services.core.celery_app import make_app

    conf = make_app(settings_for("sqlite://", "redis://127.0.0.1:6379/0")).conf
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert celery_worker.proc.poll() is None, celery_worker.output()[-2000:]


def test_sources_are_synced_into_the_table(pg_clean: str, ministry_site: Any) -> None:
    settings = Settings(database_url=pg_clean)
    assert pipeline.sync_sources(settings, ministry_site.sources()) == {"sources": 2, "disabled": 0}
    assert pipeline.sync_sources(settings, ministry_site.sources()[:1]) == {"sources": 1, "disabled": 1}
    with UnitOfWork(session_factory(pg_clean)) as uow:
        enabled = {r.id: r.enabled for r in uow.session.scalars(select(SourceRow))}
    assert enabled == {"test-kz-mfa": True, "test-fi-mfa": False}


def test_transient_fetch_error_is_retried_by_the_worker(
    pg_clean: str, redis_url: str, celery_worker: Any, ministry_site: Any
) -> None:
    server = ministry_site.server
    flaky = "/fi/news/valtonen-kazakhstan.html"
    server.failures[flaky] = [503, 503]
    pipeline.run_once(settings_for(pg_clean, redis_url), ministry_site.sources())

    def settled() -> dict[str, Any] | None:
        snap = snapshot(pg_clean)
        return snap if snap["documents"] == 4 and snap["done"] == 4 and snap["links"] == 3 else None

    done = wait_for(settled, timeout=90, what="the 503s retried with backoff and the page stored")
    assert [h.status for h in server.hits_for(flaky)] == [503, 503, 200]
    assert done["dead_letters"] == 0
