"""reliability.md #1: a worker killed (SIGKILL) in the middle of a fetch. The message was not acknowledged
(late acks), so the broker hands it to the next worker after the visibility timeout; the stages are
idempotent, so the meeting exists once, with one outbox row."""

from __future__ import annotations

from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env

pytestmark = pytest.mark.integration

# Short enough for a test; the limits keep their order (soft < hard < visibility timeout, retries below it).
FAST = {
    "COMMUNIQUE_VISIBILITY_TIMEOUT_S": "10",
    "COMMUNIQUE_TASK_SOFT_TIME_LIMIT_S": "4",
    "COMMUNIQUE_TASK_TIME_LIMIT_S": "5",
    "COMMUNIQUE_FETCH_DEADLINE_S": "4",
}


def test_killed_worker_leaves_one_meeting_and_one_event(
    pg_clean: str, spare_redis_url: str, ministry_site: Any
) -> None:
    server = ministry_site.server
    slow = "/kz/press/talks-finland.html"
    server.stalls[slow] = [30.0]
    env = worker_env(pg_clean, spare_redis_url, **FAST)
    first = start_worker(env, pool="solo", concurrency=1)
    try:
        settings = Settings(database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true")
        pipeline.run_once(settings, ministry_site.sources())
        wait_for(lambda: server.hits_for(slow), timeout=60, what="the worker to start fetching the slow page")
        first.proc.kill()  # SIGKILL: no warm shutdown, no ack, no requeue by the worker itself
        first.proc.wait(10)
    finally:
        stop_worker(first)

    second = start_worker(env, pool="threads", concurrency=2)
    try:

        def settled() -> dict[str, Any] | None:
            snap = snapshot(pg_clean)
            return snap if snap["documents"] == 4 and snap["done"] == 4 else None

        done = wait_for(settled, timeout=90, what="the redelivered fetch and the rest of the pipeline")
    finally:
        stop_worker(second)
    assert len(server.hits_for(slow)) == 2  # the killed attempt, and the redelivery
    assert done["meetings"] == 2
    assert done["links"] == 3
    assert done["outbox"].count("meeting.created") == 2
    assert done["dead_letters"] == 0
