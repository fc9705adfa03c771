"""The alert relay on the real Postgres (reliability.md #8): a relay killed between sending and recording the
send re-sends with the same webhook-id and the receiver drops the repeat; two relays never send the same row
(SKIP LOCKED); and a Celery worker delivers through the notify queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.alerts.rules import parse_rules
from services.core.db import session_factory
from services.core.settings import Settings
from services.store.relay import deliver_claimed
from services.store.uow import UnitOfWork
from tests.integration.harness import start_worker, stop_worker, wait_for, worker_env
from tests.integration.test_store_merge_backends import add_doc, claim, person, store
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STATES = ["UZB", "KGZ", "TJK", "TKM", "RUS", "CHN", "TUR", "IND", "JPN", "KOR"]


def communique(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    environ.update(env)
    exe = Path(sys.executable).parent / "communique"
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def test_relay_killed_after_sending_resends_the_same_webhook_id(pg_clean: str, tmp_path: Path) -> None:
    with webhook_receiver() as rx:
        rules_file = tmp_path / "rules.yaml"
        rules_file.write_text(
            rules_yaml(rx, name="kaz", level_at_least="foreign_minister", states_any=["KAZ"])
        )
        with UnitOfWork(session_factory(pg_clean)) as uow:
            store(uow, add_doc(uow, "https://kz.example/1", [claim()]), parse_rules(rules_file.read_text()))
        env = {
            "COMMUNIQUE_DATABASE_URL": pg_clean,
            "COMMUNIQUE_RELAY_LEASE_S": "1",
            # The receiver is on 127.0.0.1; webhooks to private addresses are refused unless allowed.
            "COMMUNIQUE_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
        }

        crashed = communique(
            ["relay", "--rules", str(rules_file)], COMMUNIQUE_FAULT_RELAY_EXIT_AFTER_SEND="true", **env
        )
        assert crashed.returncode == 70, crashed.stderr
        assert len(rx.processed) == 1  # sent, but never recorded as sent
        with UnitOfWork(session_factory(pg_clean)) as uow:
            [row] = uow.deliveries.all()
            assert (row.status, row.attempts) == ("pending", 1)

        time.sleep(1.1)  # the dead relay's lease runs out
        again = communique(["relay", "--rules", str(rules_file)], **env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stderr.strip().splitlines()[-1]) == {"sent": 1}

        assert len(rx.ids) == 2
        assert rx.ids[0] == rx.ids[1]
        assert rx.duplicates == [rx.ids[0]]  # ... and the receiver processed it once
        assert len(rx.processed) == 1
        with UnitOfWork(session_factory(pg_clean)) as uow:
            [row] = uow.deliveries.all()
            assert (row.status, row.attempts, row.outbox_id) == ("sent", 2, rx.ids[0])


def test_two_relays_never_send_the_same_row(pg_clean: str) -> None:
    factory = session_factory(pg_clean)
    settings = Settings(database_url=pg_clean)
    with webhook_receiver() as rx:
        rules = parse_rules(rules_yaml(rx, name="kaz", level_at_least="foreign_minister", states_any=["KAZ"]))
        with UnitOfWork(factory) as uow:
            for i, state in enumerate(STATES):
                store(
                    uow,
                    add_doc(uow, f"https://kz.example/{i}", [claim(people=[person("KAZ"), person(state)])]),
                    rules,
                )
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        lock = threading.Lock()

        def relay() -> None:
            now = datetime.now(UTC)
            with UnitOfWork(factory) as uow:
                barrier.wait()
                claimed = uow.deliveries.claim_due(now, 60, limit=len(STATES))
                time.sleep(0.2)  # hold the row locks while the other relay selects
                uow.commit()
            with httpx.Client() as client:
                for delivery_id, token in claimed:
                    out = deliver_claimed(
                        lambda: UnitOfWork(factory),
                        delivery_id,
                        token,
                        settings=settings,
                        rules=rules,
                        client=client,
                        now=lambda: datetime.now(UTC),
                    )
                    with lock:
                        outcomes.append(out)

        threads = [threading.Thread(target=relay) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["sent"] * len(STATES)
        assert len(rx.ids) == len(set(rx.ids)) == len(STATES)
        assert rx.duplicates == []


def test_a_celery_worker_delivers_through_the_notify_queue(
    pg_clean: str, spare_redis_url: str, tmp_path: Path
) -> None:
    from services.core.celery_app import make_app

    with webhook_receiver() as rx:
        rules_file = tmp_path / "rules.yaml"
        rules_file.write_text(
            rules_yaml(rx, name="kaz", level_at_least="foreign_minister", states_any=["KAZ"])
        )
        with UnitOfWork(session_factory(pg_clean)) as uow:
            store(uow, add_doc(uow, "https://kz.example/1", [claim()]), parse_rules(rules_file.read_text()))
        worker = start_worker(
            worker_env(pg_clean, spare_redis_url, COMMUNIQUE_RULES=str(rules_file)), concurrency=2
        )
        try:
            app = make_app(Settings(database_url=pg_clean, broker_url=spare_redis_url))
            app.send_task("notify.relay")
            wait_for(lambda: rx.processed, timeout=60, what="the webhook")

            def sent() -> Any:
                with UnitOfWork(session_factory(pg_clean)) as uow:
                    return uow.deliveries.counts() == {"sent": 1}

            wait_for(sent, timeout=30, what="the delivery marked sent")
        finally:
            stop_worker(worker)
        assert len(rx.ids) == 1
