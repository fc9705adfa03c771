"""reliability.md #1: a worker SIGKILLed in the middle of parse and in the middle of store (fetch:
``tests/integration/test_worker_loss.py``).

A gate (``tools.Gate``) holds the stage at its write, inside its open transaction: parse after the extraction,
when it writes the claims; store after the meeting, its link and its change-log entry are written, when it
writes the outbox row. The worker is killed there. Its transaction must roll back whole (no meeting without
its outbox row), the unacknowledged message must come back (late acks) to the next worker, and after it: each
meeting once, one ``meeting.created`` row each, one delivery per endpoint, each webhook received once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.chaos.tools import (
    FAST,
    Gate,
    assert_invariants,
    backend_gone,
    check_alerts,
    query,
    task_ids,
)
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

# stage -> (task, gate: table, event, which rows)
STAGES = {
    "parse": (
        "parser.parse_document",
        ("document", "UPDATE", "OLD.parse_status = 'pending' AND NEW.parse_status <> 'pending'"),
    ),
    "store": ("store.store_claims", ("outbox", "INSERT", "NEW.type = 'meeting.created'")),
}


def settled(url: str) -> dict[str, Any] | None:
    snap = snapshot(url)
    return snap if snap["documents"] == 4 and snap["done"] == 4 else None


@pytest.mark.parametrize("stage", ["parse", "store"])
def test_worker_killed_mid_stage_leaves_one_meeting_one_event_one_delivery(
    stage: str, pg_clean: str, spare_redis_url: str, ministry_site: Any, tmp_path: Path
) -> None:
    task, (table, event, when) = STAGES[stage]
    with webhook_receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(rx, name="kaz", states_any=["KAZ"]))
        env = worker_env(pg_clean, spare_redis_url, COMMUNIQUE_RULES=str(rules), **FAST)
        settings = Settings(
            database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true", rules=rules
        )
        with Gate(pg_clean, table, event, when) as gate:
            first = start_worker(env, pool="solo", concurrency=1)
            try:
                pipeline.run_once(settings, ministry_site.sources())
                ((backend, _),) = gate.wait_blocked(1)
                # what the held transaction has written so far (and must lose)
                written = {
                    r[0]
                    for r in query(
                        pg_clean,
                        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock'",
                        (backend,),
                    )
                }
                if stage == "store":
                    assert {"meeting", "meeting_source", "change_log"} <= written, written
                held = wait_for(
                    lambda: [t for t in task_ids(first, task) if t not in task_ids(first, task, "succeeded")],
                    timeout=10,
                    what=f"the held {task} in the worker's log",
                )
                first.proc.kill()  # SIGKILL inside the open transaction: no ack, no rollback by the worker
                first.proc.wait(10)
            finally:
                stop_worker(first)
            gate.open()
            # Postgres finds the client gone when the held statement returns, and rolls the transaction back.
            backend_gone(pg_clean, backend)
        assert_invariants(pg_clean)
        if stage == "parse":
            assert query(pg_clean, "SELECT count(*) FROM document WHERE parse_status <> 'pending'")[0][0] == 0
        else:
            # the meeting, its link and its change-log entry were written before the outbox row: all gone
            assert query(pg_clean, "SELECT count(*) FROM meeting")[0][0] == 0
            assert query(pg_clean, "SELECT count(*) FROM meeting_source")[0][0] == 0
            assert query(pg_clean, "SELECT count(*) FROM change_log")[0][0] == 0

        second = start_worker(env, pool="threads", concurrency=2)
        try:
            done = wait_for(lambda: settled(pg_clean), timeout=60, what="the redelivered task and the rest")
            assert set(held) <= set(task_ids(second, task, "succeeded"))  # the same message, redelivered
            check_alerts(pg_clean, settings, rx)
        finally:
            stop_worker(second)
    assert done["meetings"] == 2
    assert done["links"] == 3
    assert done["outbox"].count("meeting.created") == 2
    assert done["dead_letters"] == 0
    assert_invariants(pg_clean)
