"""reliability.md #3: tasks slower than the visibility timeout run twice, through the broker, at once.

Worker A holds its store transactions at the gate (meeting written, outbox row not yet) for longer than the
visibility timeout; the broker then hands the same unacknowledged messages out again (to worker B or to A
itself) while the first runs are still open. Each second run has started — the delivery counter, committed at
the start of every run, reads 2 — before the gate opens; then both runs finish, and both workers' logs show
each store task id succeeding twice. The rows are those of one run: one document, each meeting once, one
``meeting.created`` row each, one delivery per destination, each webhook received once.

(That every time limit and retry delay stays below the visibility timeout is asserted by
``services.core.celery_app.check_limits`` and its unit tests.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.core import pipeline
from services.core.settings import Settings
from tests.integration.chaos.tools import FAST, Gate, assert_invariants, check_alerts, query, task_ids
from tests.integration.harness import snapshot, start_worker, stop_worker, wait_for, worker_env
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

STORE = "store.store_claims"
SHORT = {
    **FAST,
    "COMMUNIQUE_VISIBILITY_TIMEOUT_S": "6",
    "COMMUNIQUE_TASK_SOFT_TIME_LIMIT_S": "2",
    "COMMUNIQUE_TASK_TIME_LIMIT_S": "3",
}


def test_stores_running_past_the_visibility_timeout_twice_at_once_leave_one_of_everything(
    pg_clean: str, spare_redis_url: str, ministry_site: Any, tmp_path: Path
) -> None:
    with webhook_receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(rx, name="kaz", states_any=["KAZ"]))
        env = worker_env(pg_clean, spare_redis_url, COMMUNIQUE_RULES=str(rules), **SHORT)
        settings = Settings(
            database_url=pg_clean, broker_url=spare_redis_url, allow_private_networks="true", rules=rules
        )
        a = b = None
        try:
            with Gate(pg_clean, "outbox", "INSERT", "NEW.type = 'meeting.created'") as gate:
                # Threads to spare: a copy the broker hands back to A must start at once, not queue
                # behind A's held first runs.
                a = start_worker(env, pool="threads", concurrency=8)
                pipeline.run_once(settings, ministry_site.sources())

                def held() -> list[int] | None:
                    parsed = query(pg_clean, "SELECT count(*) FROM document WHERE parse_status = 'ok'")[0][0]
                    open_ = [
                        int(r[0])
                        for r in query(
                            pg_clean,
                            "SELECT id FROM document WHERE stored_at IS NULL AND delivery_count > 0",
                        )
                    ]
                    # both new meetings held at the gate; the other report of the talks behind its lock
                    return open_ if parsed == 4 and len(gate.waiters()) == 2 and len(open_) == 3 else None

                docs = wait_for(held, timeout=60, what="three stores in flight, two held at the gate")
                first_runs = sorted(set(task_ids(a, STORE)) - set(task_ids(a, STORE, "succeeded")))
                assert len(first_runs) == 3
                b = start_worker(env, pool="threads", concurrency=4)
                counts = "SELECT id, delivery_count FROM document WHERE id = ANY(%s) ORDER BY id"
                try:
                    wait_for(
                        lambda: all(n >= 2 for _, n in query(pg_clean, counts, (docs,))),
                        timeout=45,
                        what="a second run of each held store, started while the first is open",
                    )
                except pytest.fail.Exception:
                    pytest.fail(
                        f"no second run of each held store: counts {query(pg_clean, counts, (docs,))}\n"
                        f"A:\n{a.output()[-4000:]}\nB:\n{b.output()[-4000:]}"
                    )
                assert_invariants(pg_clean)
            # the gate is open: every run finishes
            done = wait_for(
                lambda: s if (s := snapshot(pg_clean))["done"] == 4 else None,
                timeout=60,
                what="the pipeline to settle",
            )

            def runs(task_id: str) -> int:
                return sum(task_ids(w, STORE, "succeeded").count(task_id) for w in (a, b) if w is not None)

            wait_for(
                lambda: all(runs(t) >= 2 for t in first_runs),
                timeout=30,
                what="both runs of each store message to succeed",
            )
            check_alerts(pg_clean, settings, rx)
        finally:
            for w in (a, b):
                if w is not None:
                    stop_worker(w)
    assert done["documents"] == 4
    assert done["meetings"] == 2
    assert done["links"] == 3
    assert done["outbox"].count("meeting.created") == 2
    assert done["dead_letters"] == 0
    assert_invariants(pg_clean)
