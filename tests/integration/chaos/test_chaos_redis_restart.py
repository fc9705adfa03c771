"""reliability.md #4: the broker (Redis) killed mid-run and restarted, without and with persistence.

A Redis server of the test's own (never the system one) carries a real worker and a real beat. The kill
comes when the queues hold work: two parses held at the gate (unacknowledged), the rest of the cycle queued
behind them, and a poll for each source dispatched for its next slot. Redis is SIGKILLed; the held parses
then commit and send their store messages to a broker that is gone; Redis comes back on the same port:
empty without persistence, with every message with an fsync-per-write AOF.

Then: the worker and the beat resume within a bounded time; documents whose messages were lost are picked up
by the dispatcher's stalled-document sweep; a poll lost from the queue is recreated by the source's next
slot (the clock is moved to it), once; and there is still one meeting of each, one ``meeting.created`` row
each, one delivery per destination and one webhook each.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.core import celery_app, pipeline
from services.core.settings import Settings
from services.core.task_base import using_settings
from tests.integration.chaos.tools import (
    FAST,
    Gate,
    RedisServer,
    assert_invariants,
    deliveries,
    query,
    start_beat,
    stop_beat,
)
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

FEEDS = ("/kz/feed.xml", "/fi/news/")
RESUME_BOUND_S = 30.0


def queued_polls(redis: RedisServer) -> int:
    """Poll messages in the broker: waiting in the queue, or taken by a worker and not yet acknowledged."""
    client = redis.client()
    messages = [json.loads(m) for m in client.lrange("fetch", 0, -1)]
    messages += [json.loads(m)[0] for m in client.hvals("unacked")]
    return sum(1 for m in messages if m["headers"]["task"] == "fetcher.poll_source")


def make_due(url: str) -> None:
    """The clock reaches every source's next slot."""
    query(url, "UPDATE source SET next_check_at = %s", (datetime.now(UTC),))


@pytest.mark.parametrize("persist", [False, True], ids=["no-persistence", "aof"])
def test_redis_restart_loses_nothing_and_doubles_nothing(
    persist: bool, pg_clean: str, ministry_site: Any, tmp_path: Path
) -> None:
    server = ministry_site.server
    redis = RedisServer(persist=persist).start()
    worker = beat = None
    with webhook_receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(rx, name="kaz", states_any=["KAZ"]))
        env = worker_env(
            pg_clean,
            redis.url,
            COMMUNIQUE_RULES=str(rules),
            COMMUNIQUE_TICK_SECONDS="1",
            COMMUNIQUE_RELAY_INTERVAL_S="1",
            COMMUNIQUE_STALE_AFTER_S="3",
            **FAST,
        )
        settings = Settings(
            database_url=pg_clean, broker_url=redis.url, allow_private_networks="true", rules=rules
        )
        try:
            pipeline.sync_sources(settings, ministry_site.sources())
            when = "OLD.parse_status = 'pending' AND NEW.parse_status <> 'pending'"
            with Gate(pg_clean, "document", "UPDATE", when) as gate:
                worker = start_worker(env, pool="threads", concurrency=2)
                beat = start_beat(env, tmp_path / "beat")
                gate.wait_blocked(2)  # both worker threads inside a parse transaction
                # Another dispatcher (in this process) sends the polls of the next slot; they queue up.
                make_due(pg_clean)
                celery_app.load_tasks()
                with using_settings(settings):
                    polled = celery_app.app.tasks["core.dispatch_due"]()["polls"]
                assert polled == 2
                assert queued_polls(redis) == 2  # the two polls wait in the broker

                redis.kill()  # SIGKILL: no shutdown save
                gate.open()  # the held parses commit; their store messages meet a dead broker
                wait_for(
                    lambda: (
                        query(pg_clean, "SELECT count(*) FROM document WHERE parse_status <> 'pending'")[0][0]
                        == 2
                    ),
                    timeout=30,
                    what="the two held parses to commit",
                )
            time.sleep(1.0)
            mark, beat_mark = len(worker.output()), len(beat.output())
            hits_before = {p: len(server.hits_for(p)) for p in FEEDS}
            redis.start()  # the same port (and, with persistence, the same directory)
            restarted = time.monotonic()
            # Kept with every message, or lost (as everything queued or unacknowledged is) without.
            assert queued_polls(redis) == (2 if persist else 0)

            wait_for(
                lambda: "] received" in worker.output()[mark:],  # a message taken from the broker
                timeout=RESUME_BOUND_S,
                interval=0.1,
                what="the worker to consume again after the restart",
            )
            resumed_s = time.monotonic() - restarted
            wait_for(
                lambda: "Sending due task" in beat.output()[beat_mark:] and beat.proc.poll() is None,
                timeout=10,
                what="the beat to send again",
            )
            done = wait_for(
                lambda: s if (s := snapshot(pg_clean))["done"] == 4 and s["meetings"] == 2 else None,
                timeout=60,
                what="the documents whose messages were lost to be swept and finished",
            )
            # With persistence the queued polls survive and run; without, they are gone until the next slot.
            kept = 1 if persist else 0
            wait_for(
                lambda: all(len(server.hits_for(p)) == hits_before[p] + kept for p in FEEDS),
                timeout=30,
                what="the persisted polls to run",
            )
            slots = query(pg_clean, "SELECT count(*) FROM poll_slot")[0][0]
            make_due(pg_clean)  # the next slot: beat's dispatcher polls every source once
            wait_for(
                lambda: all(len(server.hits_for(p)) == hits_before[p] + kept + 1 for p in FEEDS),
                timeout=30,
                what="the next slot's polls",
            )
            assert query(pg_clean, "SELECT count(*) FROM poll_slot")[0][0] == slots + 2
            wait_for(
                lambda: (rows := deliveries(pg_clean)) and all(r[3] == "sent" for r in rows),
                timeout=30,
                what="beat's relay to send the alerts",
            )
            time.sleep(2.0)  # a few more beat ticks: nothing more may happen
            final = snapshot(pg_clean)
        finally:
            if beat is not None:
                stop_beat(beat)
            if worker is not None:
                stop_worker(worker)
            redis.stop()
    print(f"worker consuming again {resumed_s:.1f} s after Redis restarted (persistence: {persist})")
    assert resumed_s < RESUME_BOUND_S
    assert all(len(server.hits_for(p)) == hits_before[p] + kept + 1 for p in FEEDS)
    for key in ("documents", "meetings", "links", "outbox"):
        assert final[key] == done[key], key
    assert final["meetings"] == 2
    assert final["links"] == 3
    assert final["outbox"].count("meeting.created") == 2
    assert final["dead_letters"] == 0
    rows = deliveries(pg_clean)
    assert sorted(rx.ids) == sorted(r[0] for r in rows)  # one webhook per delivery, none repeated
    assert rx.duplicates == []
    assert_invariants(pg_clean)
