"""Issue 5 end to end, distributed: the two-ministries site of ``test_two_ministries`` through a real Celery
worker on Redis and Postgres. Two cycles (the second forced, so every source is polled again) end with one
meeting, three sources, one signed webhook verified by the local receiver, and the API and Atom feed on the
Postgres database show it. The worker is this test's own, since it must know the rules file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.core import pipeline
from services.core.celery_app import make_app
from services.core.db import session_factory
from services.core.settings import Settings
from services.fetcher.sources import load_sources
from services.store.models import DeliveryRow
from services.store.uow import UnitOfWork
from tests.e2e.test_two_ministries import assert_api_and_feed_show_one_meeting, serve_two_ministries
from tests.integration.harness import SourceServer, snapshot, start_worker, stop_worker, wait_for, worker_env
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_distributed_one_meeting_three_sources_one_verified_webhook(
    pg_clean: str,
    spare_redis_url: str,
    source_server: Callable[[dict[str, tuple[bytes, str]]], SourceServer],
    tmp_path: Path,
) -> None:
    server, sources_file = serve_two_ministries(source_server, tmp_path)
    with webhook_receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(rx))
        settings = Settings(
            database_url=pg_clean,
            broker_url=spare_redis_url,
            allow_private_networks="true",  # the site and the receiver are on 127.0.0.1
            host_spacing_s=0.0,
            rules=rules,
        )
        worker = start_worker(
            worker_env(pg_clean, spare_redis_url, COMMUNIQUE_RULES=str(rules)), concurrency=2
        )
        try:
            app = make_app(settings)

            def settled() -> dict[str, Any] | None:
                snap = snapshot(pg_clean)
                return snap if snap["documents"] == 3 and snap["done"] == 3 else None

            def delivered() -> bool:
                # Beat is not running here: the test plays it, sending the relay until the delivery is done.
                with UnitOfWork(session_factory(pg_clean)) as uow:
                    done = uow.deliveries.counts() == {"sent": 1}
                if not done:
                    app.send_task("notify.relay")
                return done

            counts = pipeline.run_once(settings, load_sources(sources_file))
            assert counts["polls"] == 3
            first = wait_for(settled, timeout=120, what="3 documents stored by the worker")
            wait_for(delivered, timeout=60, interval=0.5, what="the webhook delivery marked sent")

            again = pipeline.run_once(settings, force=True)
            assert again["polls"] == 3

            def repolled() -> dict[str, Any] | None:
                snap = snapshot(pg_clean)
                return snap if all(snap["polled"][s] > first["polled"][s] for s in snap["polled"]) else None

            second = wait_for(repolled, timeout=60, what="every source polled again")
            app.send_task("notify.relay")
            wait_for(delivered, timeout=30, what="the relay after the second cycle")
        finally:
            stop_worker(worker)

        assert second["documents"] == 3
        assert second["meetings"] == 1
        assert second["links"] == 3
        assert second["outbox"].count("meeting.created") == 1
        assert second["dead_letters"] == 0
        assert len(rx.processed) == 1, rx.ids
        assert rx.rejected == []
        assert rx.duplicates == []
        event = rx.processed[0]
        assert event["type"] == "meeting.created"
        assert event["data"]["rules"] == ["kaz-chn-ministers"]

    with UnitOfWork(session_factory(pg_clean)) as uow:
        [delivery] = uow.session.scalars(select(DeliveryRow)).all()
        assert (delivery.status, delivery.attempts) == ("sent", 1)
    urls = {
        server.url("/kz/press/koshrebaev-wang-yi.html"),
        server.url("/cn/wjbxw/202611/t20261120_01.shtml"),
        server.url("/agency/politics/kosherbaev-wang-yi-20261120"),
    }
    assert_api_and_feed_show_one_meeting(pg_clean, event["data"]["meeting"]["id"], urls)
