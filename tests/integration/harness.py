"""Test harness for the pipeline tests: a local source server, a Celery worker process, waiting helpers.

Fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.core.db import session_factory
from services.store.models import DocumentRow, MeetingSourceRow, OutboxRow
from services.store.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def output(self) -> str:
        return "".join(self.log)


def _pump(proc: subprocess.Popen[str], sink: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line)
        if " ready." in line:
            ready.set()


def worker_env(pg_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    env.update(
        COMMUNIQUE_DATABASE_URL=pg_url,
        COMMUNIQUE_BROKER_URL=redis_url,
        COMMUNIQUE_ALLOW_PRIVATE_NETWORKS="true",
        COMMUNIQUE_HOST_SPACING_S="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def start_worker(env: dict[str, str], pool: str = "threads", concurrency: int = 4) -> Worker:
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    cmd = [
        celery,
        "-A",
        "services.core.celery_app",
        "worker",
        "-Q",
        "fetch,parse,store,notify",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
        f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    worker = Worker(proc=proc, env=env)
    ready = threading.Event()
    worker.pump = threading.Thread(target=_pump, args=(proc, worker.log, ready), daemon=True)
    worker.pump.start()
    if not ready.wait(60):
        stop_worker(worker)
        pytest.fail("the Celery worker did not become ready in 60 s:\n" + worker.output()[-4000:])
    return worker


def stop_process(proc: subprocess.Popen[str], pump: threading.Thread | None, grace: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; join the thread reading its output."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if pump is not None:
        pump.join(5)
    if proc.stdout is not None:
        proc.stdout.close()


def stop_worker(worker: Worker) -> None:
    stop_process(worker.proc, worker.pump)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def communique_cmd() -> list[str]:
    """The ``communique`` command of this venv (or the CLI through this interpreter when not installed)."""
    exe = shutil.which("communique", path=str(Path(sys.executable).parent))
    return (
        [exe]
        if exe
        else [sys.executable, "-c", "import sys; from services.core.cli import main; sys.exit(main())"]
    )


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class SourceServer:
    """Serves ``pages`` (path -> (body, content type)) on 127.0.0.1 with ETag / Last-Modified validators and
    honest 304s; records every request."""

    pages: dict[str, tuple[bytes, str]]
    hits: list[Hit] = field(default_factory=list)
    base: str = ""
    last_modified: str = "Mon, 03 Mar 2025 09:00:00 GMT"
    # path -> seconds to stall before answering, one entry per request (a slow first response, say)
    stalls: dict[str, list[float]] = field(default_factory=dict)
    # path -> statuses to answer first, one per request (a 503 before the page, say)
    failures: dict[str, list[int]] = field(default_factory=dict)

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.pages[path][0]).hexdigest()[:16] + '"'

    def url(self, path: str) -> str:
        return self.base + path

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path.split("?", 1)[0] == path]


def handler(server: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            stalls = server.stalls.get(path)
            if stalls:
                server.hits.append(Hit(path=self.path, headers=headers, status=0))
                time.sleep(stalls.pop(0))
                return  # the client is gone by now (killed); nothing to answer
            page = server.pages.get(path)
            failures = server.failures.get(path)
            if failures:
                status = failures.pop(0)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif page is None:
                status = 404
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif headers.get("if-none-match") == server.etag(path) or (
                "if-none-match" not in headers and headers.get("if-modified-since") == server.last_modified
            ):
                status = 304
                self.send_response(304)
                self.send_header("ETag", server.etag(path))
                self.end_headers()
            else:
                status = 200
                body, ctype = page
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", server.etag(path))
                self.send_header("Last-Modified", server.last_modified)
                self.end_headers()
                self.wfile.write(body)
            server.hits.append(Hit(path=self.path, headers=headers, status=status))

    return Handler


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


SITE = ROOT / "tests" / "integration" / "site"


@dataclass
class Site:
    server: SourceServer
    sources_file: Path

    def sources(self) -> list[Any]:
        from services.fetcher.sources import load_sources

        return load_sources(self.sources_file)


def snapshot(url: str) -> dict[str, Any]:
    with UnitOfWork(session_factory(url)) as uow:
        docs = uow.documents.session.scalars(select(DocumentRow)).all()
        return {
            "documents": len(docs),
            "done": sum(
                1
                for d in docs
                if d.status in ("failed", "dead")
                or d.parse_status == "error"
                or (d.parse_status == "ok" and d.stored_at is not None)
            ),
            "meetings": uow.meetings.count(),
            "links": uow.session.scalar(select(func.count()).select_from(MeetingSourceRow)),
            "outbox": sorted(r.type for r in uow.session.scalars(select(OutboxRow))),
            "dead_letters": len(uow.dead_letters.all()),
            "polled": {s.id: s.last_success_at for s in uow.sources.all()},
            "validators": {s.id: (s.etag, s.last_modified) for s in uow.sources.all()},
        }
