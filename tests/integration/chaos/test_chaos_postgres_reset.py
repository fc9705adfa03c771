"""reliability.md #6: Postgres connections reset mid-transaction, and a Postgres outage, under a real worker.

The worker reaches Postgres only through ``tests/integration/faultproxy.py``; the test itself goes direct.

* **Reset mid-transaction.** The worker's store transactions are held at the gate (meeting, link and change
  log written, outbox row not yet); the proxy resets every connection and refuses new ones for a while. The
  server rolls the held transactions back whole; the tasks retry with backoff (each retry fails while the
  outage lasts, and is retried again); when the proxy lets connections through, the retries succeed on a
  pool that reconnects, and a later cycle works on the same worker.
* **Outage.** The proxy resets everything and refuses connections while a cycle is in flight (tasks fail at
  their first statement, including the delivery counter), then recovers: every document is still finished,
  nothing dead-lettered, nothing doubled.

A watcher samples the invariants all along: never a meeting without its ``meeting.created`` row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.chaos.tools import (
    FAST,
    Gate,
    assert_invariants,
    backend_gone,
    invariants,
    query,
)
from tests.integration.faultproxy import FaultProxy
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

OUTAGE_S = 3.0
CLEAN = {"orphans": 0, "created_twice": 0, "double_deliveries": 0}


@contextmanager
def watched(url: str) -> Iterator[list[dict[str, Any]]]:
    """Sample the invariants every 50 ms until the block ends; yields the violations seen."""
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = invariants(url)
            if now != CLEAN:
                seen.append(now)
            stop.wait(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def settled(url: str) -> dict[str, Any] | None:
    snap = snapshot(url)
    return snap if snap["documents"] == 4 and snap["done"] == 4 and snap["meetings"] == 2 else None


def test_connection_reset_mid_store_rolls_back_whole_and_the_retry_succeeds(
    pg_clean: str, spare_redis_url: str, ministry_site: Any
) -> None:
    settings = Settings(database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true")
    with FaultProxy(("127.0.0.1", 5432)) as proxy, watched(pg_clean) as violations:
        env = worker_env(proxy.url_for(pg_clean), spare_redis_url, **FAST)
        worker = start_worker(env, pool="threads", concurrency=2)
        try:
            with Gate(pg_clean, "outbox", "INSERT", "NEW.type = 'meeting.created'") as gate:
                pipeline.run_once(settings, ministry_site.sources())
                gate.wait_blocked(1)
                time.sleep(0.5)  # the second worker thread may reach the gate too
                held = gate.waiters()
                # the held transaction has written the meeting (it holds the table's row-exclusive lock)
                writes = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                writes += "WHERE l.pid = %s AND c.relname = 'meeting' AND l.mode = 'RowExclusiveLock'"
                assert query(pg_clean, writes, (held[0][0],))[0][0] == 1
                cut_at = time.monotonic()
                assert proxy.cut() >= len(held)
                proxy.refuse()
                gate.open()
                for backend, _ in held:
                    backend_gone(pg_clean, backend)  # rolled back: its client is gone
                # mid-outage: the held stores left nothing behind
                assert query(pg_clean, "SELECT count(*) FROM meeting")[0][0] == 0
                assert query(pg_clean, "SELECT count(*) FROM change_log")[0][0] == 0
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
                accepted = proxy.accepted
                proxy.restore()
            done = wait_for(lambda: settled(pg_clean), timeout=60, what="the retried stores to succeed")
            assert proxy.accepted > accepted  # the pool reconnected through the proxy
            # The pool recovered: a later cycle runs on the same worker.
            before = done["polled"]
            pipeline.run_once(settings, force=True)
            wait_for(
                lambda: all(v > before[k] for k, v in snapshot(pg_clean)["polled"].items()),
                timeout=30,
                what="a later cycle on the same worker",
            )
        finally:
            stop_worker(worker)
    log = worker.output()
    assert "store.store_claims" in log
    assert log.count("transient error, retry") >= 2, log[-3000:]  # retried, and retried again in the outage
    assert violations == []
    final = snapshot(pg_clean)
    assert final["meetings"] == 2
    assert final["links"] == 3
    assert final["outbox"].count("meeting.created") == 2
    assert final["dead_letters"] == 0
    assert_invariants(pg_clean)


def test_postgres_outage_mid_cycle_loses_nothing(
    pg_clean: str, spare_redis_url: str, ministry_site: Any
) -> None:
    settings = Settings(database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true")
    with FaultProxy(("127.0.0.1", 5432)) as proxy, watched(pg_clean) as violations:
        env = worker_env(proxy.url_for(pg_clean), spare_redis_url, **FAST)
        worker = start_worker(env, pool="threads", concurrency=2)
        try:
            pipeline.run_once(settings, ministry_site.sources())
            wait_for(
                lambda: query(pg_clean, "SELECT count(*) FROM document WHERE status = 'fetched'")[0][0] >= 1,
                timeout=30,
                interval=0.05,
                what="the cycle under way",
            )
            proxy.refuse()
            proxy.cut()
            time.sleep(OUTAGE_S)
            proxy.restore()
            done = wait_for(
                lambda: settled(pg_clean), timeout=60, what="the cycle to finish after the outage"
            )
        finally:
            stop_worker(worker)
    log = worker.output()
    assert "transient error, retry" in log, log[-3000:]
    assert violations == []
    assert done["links"] == 3
    assert done["outbox"].count("meeting.created") == 2
    assert done["dead_letters"] == 0
    assert_invariants(pg_clean)
