"""reliability.md #2: a poison message on a real worker.

One document's parse kills its worker process every time: a gate holds that parse at its write, and the
test SIGKILLs the prefork pool process that holds it, as an OOM kill or a segfault in a C extension would
(and ends the dead client's backend at once, which Postgres would do when it noticed). Celery rejects the
message back to the queue at once (``reject_on_worker_lost``), so without a bound it would loop forever.
The delivery counter on the document row, committed before each attempt, bounds it: after
``max_deliveries`` the next delivery is not run but written to ``dead_letter`` and the document is marked
dead. Meanwhile, and after, the other work flows: the other ministry's report is stored, and the same
worker goes on taking new tasks.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.chaos.tools import (
    Gate,
    assert_invariants,
    backend_gone,
    children,
    client_pid,
    query,
)
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_DELIVERIES = 3
# The prefork pool enforces the time limits: generous ones, so that only the test's kills end a held parse
# (the requeue after a lost pool process is immediate; nothing here waits for the visibility timeout).
LIMITS = {
    "COMMUNIQUE_VISIBILITY_TIMEOUT_S": "120",
    "COMMUNIQUE_TASK_SOFT_TIME_LIMIT_S": "40",
    "COMMUNIQUE_TASK_TIME_LIMIT_S": "50",
    "COMMUNIQUE_FETCH_DEADLINE_S": "10",
}
POISON = "%/kz/press/phone-uzbekistan.html"


def test_poison_message_is_dead_lettered_after_max_deliveries_and_work_flows(
    pg_clean: str, spare_redis_url: str, ministry_site: Any
) -> None:
    env = worker_env(pg_clean, spare_redis_url, COMMUNIQUE_MAX_DELIVERIES=str(MAX_DELIVERIES), **LIMITS)
    settings = Settings(database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true")
    when = f"OLD.parse_status = 'pending' AND NEW.parse_status <> 'pending' AND NEW.url LIKE '{POISON}'"
    killed: list[int] = []
    with Gate(pg_clean, "document", "UPDATE", when) as gate:
        worker = start_worker(env, pool="prefork", concurrency=2)
        try:
            pipeline.run_once(settings, ministry_site.sources())

            def poison_dead() -> bool:
                for backend, port in gate.waiters():
                    pid = client_pid(port, children(worker.proc.pid))
                    assert pid is not None, f"no pool process holds the connection from port {port}"
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    backend_gone(pg_clean, backend, timeout=0)  # the dead client's backend is ended
                rows = query(pg_clean, "SELECT status FROM document WHERE url LIKE %s", (POISON,))
                return bool(rows) and rows[0][0] == "dead"

            wait_for(poison_dead, timeout=60, interval=0.1, what="the poison document dead-lettered")
            wait_for(
                lambda: s if (s := snapshot(pg_clean))["done"] == 4 else None,
                timeout=30,
                what="the other documents",
            )
            assert worker.proc.poll() is None  # the worker itself survived every loss of a pool process
            # Work still flows on the same worker: a new cycle is polled (conditional GETs) and recorded.
            before = snapshot(pg_clean)["polled"]
            pipeline.run_once(settings, force=True)
            wait_for(
                lambda: all(v > before[k] for k, v in snapshot(pg_clean)["polled"].items()),
                timeout=30,
                what="a new cycle after the poison message",
            )
        finally:
            stop_worker(worker)
    log = worker.output()
    assert len(killed) == MAX_DELIVERIES, log[-3000:]
    assert len(set(killed)) == MAX_DELIVERIES  # a new pool process each time
    assert log.count("WorkerLostError") >= MAX_DELIVERIES
    (doc_id, status, error), *_ = query(
        pg_clean, "SELECT id, status, last_error FROM document WHERE url LIKE %s", (POISON,)
    )
    letters = query(pg_clean, "SELECT task_name, args, error, attempts FROM dead_letter")
    assert letters == [("parser.parse_document", [doc_id], error, MAX_DELIVERIES)]
    assert f"gave up after {MAX_DELIVERIES} deliveries" in error
    done = snapshot(pg_clean)
    # The poison report's meeting is missing; the talks reported by both ministries are stored from both.
    assert done["meetings"] == 1
    assert done["links"] == 2
    assert done["outbox"].count("meeting.created") == 1
    assert_invariants(pg_clean)
