"""The stdlib receiver in docs/webhooks.md runs as printed and verifies real deliveries."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.alerts.delivery import deliver_webhook
from services.alerts.signing import generate_secret

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "webhooks.md"


def snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "docs/webhooks.md has no python example"
    return blocks[0]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    secret = generate_secret()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "receiver.py"
    script.write_text(snippet(), encoding="utf-8")
    env = {**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"receiver exited: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/", secret, proc
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_documented_receiver(receiver: tuple[str, str, subprocess.Popen[str]]) -> None:
    url, secret, proc = receiver
    payload = {"type": "meeting.created", "data": {"meeting": {"id": "m-1", "mode": "phone"}}}
    with httpx.Client() as client:
        now = datetime.now(UTC)
        assert deliver_webhook(url, secret, "ob-1", payload, client, now).status == 204
        assert deliver_webhook(url, secret, "ob-1", payload, client, now).status == 200  # duplicate
        assert deliver_webhook(url, generate_secret(), "ob-2", payload, client, now).status == 401
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert out.splitlines() == ['meeting.created ob-1 {"id": "m-1", "mode": "phone"}']
    assert "rejected: InvalidSignature" in err
