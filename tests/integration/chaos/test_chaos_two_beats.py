"""reliability.md #5: two real beat processes at once.

Two ``communique beat`` processes (each with its own schedule file) send ``core.dispatch_due`` every half
second to the same Redis; a worker with four threads runs those dispatches side by side against the same
Postgres. Over three schedule slots (the clock is moved to each source's next slot) every source is polled
exactly once per slot — counted on the source server and in ``poll_slot`` — although dozens of dispatches ran.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.chaos.tools import assert_invariants, query, start_beat, stop_beat, task_ids
from tests.integration.harness import SourceServer, snapshot, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

FEEDS = ("/kz/feed.xml", "/fi/news/")
SLOTS = 3


def slots_dispatched(url: str, slots: int) -> bool:
    return bool(query(url, "SELECT count(*) FROM poll_slot")[0][0] == 2 * slots)


def slots_polled(server: SourceServer, slots: int) -> bool:
    return all(len(server.hits_for(p)) == slots for p in FEEDS)


def test_two_beats_poll_each_source_once_per_slot(
    pg_clean: str, spare_redis_url: str, ministry_site: Any, tmp_path: Path
) -> None:
    server = ministry_site.server
    env = worker_env(
        pg_clean, spare_redis_url, COMMUNIQUE_TICK_SECONDS="0.5", COMMUNIQUE_RELAY_INTERVAL_S="5"
    )
    settings = Settings(database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true")
    pipeline.sync_sources(settings, ministry_site.sources())  # every source due now: the first slot
    worker = start_worker(env, pool="threads", concurrency=4)
    beats = []
    try:
        beats = [start_beat(env, tmp_path / f"beat{i}") for i in (1, 2)]
        for slot in range(1, SLOTS + 1):
            if slot > 1:
                query(pg_clean, "UPDATE source SET next_check_at = %s", (datetime.now(UTC),))
            wait_for(partial(slots_dispatched, pg_clean, slot), timeout=30, what=f"slot {slot} dispatched")
            wait_for(partial(slots_polled, server, slot), timeout=30, what=f"slot {slot} polled")
            time.sleep(2.0)  # eight more ticks of the two beats within the slot
        done = wait_for(
            lambda: s if (s := snapshot(pg_clean))["done"] == 4 else None, timeout=60, what="the pipeline"
        )
        assert all(b.proc.poll() is None for b in beats)
    finally:
        for b in beats:
            stop_beat(b)
        stop_worker(worker)
    sent = [b.sent("dispatch due sources") for b in beats]
    assert min(sent) >= 10, sent  # both beats really ran the schedule, side by side
    log = worker.output()
    dispatched = task_ids(worker, "core.dispatch_due", "succeeded")
    assert len(dispatched) >= 20
    # One dispatch per slot found both sources due; every other dispatch found nothing to do.
    results = re.findall(r"core\.dispatch_due\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: \{'polls': (\d+)", log)
    assert sorted(int(n) for n in results if n != "0") == [2] * SLOTS
    assert [len(server.hits_for(p)) for p in FEEDS] == [SLOTS, SLOTS]
    rows = query(pg_clean, "SELECT source_id, count(*), count(DISTINCT slot) FROM poll_slot GROUP BY 1")
    assert sorted(rows) == [("test-fi-mfa", SLOTS, SLOTS), ("test-kz-mfa", SLOTS, SLOTS)]
    assert done["meetings"] == 2
    assert done["outbox"].count("meeting.created") == 2
    assert done["dead_letters"] == 0
    assert_invariants(pg_clean)
