"""``communique endpoints list|enable``: an endpoint that answered 410 Gone is disabled and its alerts held
back; the operator sees it in the list, re-enables it (``--resend`` sends the held alerts again), and the next
relay delivers. Embedded (SQLite), through the real CLI and a local receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.alerts.rules import parse_rules
from services.core.db import session_factory
from services.store.uow import UnitOfWork
from tests.integration.test_store_merge_backends import add_doc, claim, store
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

ROOT = Path(__file__).resolve().parents[3]


def communique(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    # The receiver is on 127.0.0.1: allowed explicitly, as the webhook client refuses private addresses.
    environ.update(COMMUNIQUE_DATABASE_URL=database_url, COMMUNIQUE_ALLOW_PRIVATE_NETWORKS="127.0.0.1/32")
    exe = Path(sys.executable).parent / "communique"
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def listed(database_url: str) -> list[dict[str, object]]:
    out = communique(["endpoints", "list"], database_url)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_gone_endpoint_is_listed_and_re_enabled(sqlite_url: str, tmp_path: Path) -> None:
    with webhook_receiver() as rx:
        rules_file = tmp_path / "rules.yaml"
        rules_file.write_text(
            rules_yaml(rx, name="kaz", level_at_least="foreign_minister", states_any=["KAZ"])
        )
        rules = parse_rules(rules_file.read_text())
        with UnitOfWork(session_factory(sqlite_url)) as uow:
            store(uow, add_doc(uow, "https://kz.example/1", [claim()]), rules)
        assert listed(sqlite_url) == []

        rx.script.append((410, {}))
        gone = communique(["relay", "--rules", str(rules_file)], sqlite_url)
        assert gone.returncode == 0, gone.stderr
        assert json.loads(gone.stderr.strip().splitlines()[-1]) == {"disable": 1}
        [entry] = listed(sqlite_url)
        assert entry["endpoint"] == "webhook:" + rx.url
        assert entry["disabled"] is True
        assert entry["held_deliveries"] == 1
        assert str(entry["reason"]).startswith("HTTP 410")

        enabled = communique(["endpoints", "enable", rx.url, "--resend"], sqlite_url)
        assert enabled.returncode == 0, enabled.stderr
        assert json.loads(enabled.stderr.strip().splitlines()[-1]) == {
            "enabled": "webhook:" + rx.url,
            "requeued": 1,
        }
        [entry] = listed(sqlite_url)
        assert (entry["disabled"], entry["held_deliveries"]) == (False, 0)

        again = communique(["relay", "--rules", str(rules_file)], sqlite_url)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stderr.strip().splitlines()[-1]) == {"sent": 1}
        assert len(rx.processed) == 1
        assert rx.rejected == []

        # Not disabled (any more), or never seen: a clear error, exit status 1.
        twice = communique(["endpoints", "enable", rx.url], sqlite_url)
        assert twice.returncode == 1
        assert "is not a disabled endpoint" in twice.stderr
