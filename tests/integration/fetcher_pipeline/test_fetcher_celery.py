"""The politeness wrapper is what the real Celery workers fetch with: robots.txt and a Retry-After hold,
seen through a worker process on Redis and Postgres."""

from __future__ import annotations

from typing import Any

import pytest

from services.core import pipeline
from services.core.db import session_factory
from services.core.settings import Settings
from services.store.models import FetchHostRow, SourceRow
from services.store.uow import UnitOfWork
from tests.integration.fetcher_pipeline.server import page, serve, status
from tests.integration.fetcher_pipeline.test_fetcher_pipeline import feed_source, rss
from tests.integration.harness import wait_for

pytestmark = pytest.mark.integration


def test_workers_honour_robots_txt_and_hold_the_host(
    pg_clean: str, redis_url: str, celery_worker: Any
) -> None:
    with serve({}) as site:
        site.routes["/robots.txt"] = page(b"User-agent: *\nDisallow: /private/\n", "text/plain")
        site.routes["/private/feed.xml"] = page(rss(site.base, []), "application/rss+xml")
        site.routes["/a/feed.xml"] = status(429, {"Retry-After": "300"})
        settings = Settings(
            database_url=pg_clean,
            broker_url=redis_url,
            allow_private_networks="127.0.0.1/32",
            host_spacing_s=0,
        )
        sources = [
            feed_source("a", site.url("/a/feed.xml")),
            feed_source("p", site.url("/private/feed.xml")),
        ]
        pipeline.run_once(settings, sources, force=True)

        def settled() -> dict[str, Any] | None:
            with UnitOfWork(session_factory(pg_clean)) as uow:
                rows = {r.id: r for r in uow.session.query(SourceRow)}
                if not all(r.last_polled_at for r in rows.values()):
                    return None
                host = uow.session.get(FetchHostRow, site.base.removeprefix("http://"))
                return {
                    "errors": {k: (r.last_error or "", r.consecutive_errors) for k, r in rows.items()},
                    "hold": host.hold_until if host else None,
                }

        state = wait_for(settled, timeout=60, what="both sources polled by the worker")
        assert site.hits_for("/private/feed.xml") == []
        assert "RobotsDisallowed" in state["errors"]["p"][0]
        assert "429" in state["errors"]["a"][0]
        assert state["errors"]["a"][1] == 0  # a hold is not a failure
        assert state["hold"] is not None
        assert len(site.hits_for("/robots.txt")) == 1  # one fetch for the worker's threads, then cached
