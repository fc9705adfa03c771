"""``communique serve`` as a real process on 127.0.0.1: it answers /healthz and /api/meetings."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.api.seed import REPORTS, seed
from tests.integration.harness import communique_cmd, free_port

ROOT = Path(__file__).resolve().parents[3]


def test_communique_serve_answers(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from services.core.db import dispose_engines

    db = tmp_path / "serve.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), db)
    url = f"sqlite:///{db}"
    seed(url, REPORTS)
    dispose_engines()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    env.update(COMMUNIQUE_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    cmd = communique_cmd()
    proc = subprocess.Popen(
        [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, f"the server did not answer in 30 s (exit {proc.poll()})"
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        page = httpx.get(f"{base}/api/meetings", params={"pair": "KAZ,CHN"}, timeout=10)
        assert page.status_code == 200
        (meeting,) = page.json()["items"]
        assert len(meeting["sources"]) == 2
        assert httpx.get(f"{base}/api/meetings", params={"since": "bad"}, timeout=10).status_code == 422
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
    assert "Traceback" not in out, out[-3000:]
