"""Shared fixtures: the real services of the integration tests (helpers in tests/integration/harness.py).

* ``pg_url``: a uniquely named Postgres database on 127.0.0.1:5432 for this test session, built by the Alembic
  migrations (never ``create_all``) and dropped at the end.
* ``redis_url``: a Redis database number on 127.0.0.1:6379 claimed for this session (a lock key, so two test
  sessions on one machine never share queues), flushed at the end.
* ``celery_worker``: a real ``celery worker`` process on all queues, pointed at both.
* ``sqlite_url``: a migrated SQLite file per test (copied from one migrated template per session).

With ``CI=true`` an unreachable Postgres or Redis fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    SITE,
    Site,
    SourceServer,
    Worker,
    handler,
    start_worker,
    stop_worker,
    worker_env,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
PG_HOST = "127.0.0.1"
PG_PORT = 5432
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(what: str, err: object) -> None:
    """Fail under CI (a missing service is a broken build), skip on a laptop without it."""
    msg = f"{what} is not reachable: {err}"
    if _ci():
        pytest.fail(msg + " (CI=true: the integration services must run)", pytrace=False)
    pytest.skip(msg)


# --- Postgres ---------------------------------------------------------------------------------------------


def _pg_admin() -> Any:
    import psycopg

    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", autocommit=True, connect_timeout=5
            )
            return conn, user
        except psycopg.Error as exc:
            last = exc
    raise ConnectionError(str(last))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database migrated to head; its URL (``postgresql+psycopg://``)."""
    from services.core import pipeline
    from services.core.db import dispose_engines
    from services.core.settings import Settings

    try:
        admin, user = _pg_admin()
    except ConnectionError as exc:
        unavailable(f"Postgres on {PG_HOST}:{PG_PORT}", exc)
        raise  # unreachable: unavailable() fails or skips
    name = f"communique_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    try:
        pipeline.init_db(Settings(database_url=url))
        yield url
    finally:
        dispose_engines()
        admin, _ = _pg_admin()
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_clean(pg_url: str) -> str:
    """``pg_url`` with every table emptied (the schema stays)."""
    from sqlalchemy import text

    from services.core.db import get_engine
    from services.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return pg_url


# --- Redis ------------------------------------------------------------------------------------------------

_REDIS_LOCK = "communique:test-session"


@contextmanager
def claimed_redis_db() -> Iterator[str]:
    """A Redis database number nobody else is using (claimed with a lock key), emptied before and after."""
    import redis

    token = uuid.uuid4().hex
    chosen: Any = None
    for db in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=3)
        try:
            if client.set(_REDIS_LOCK, token, nx=True, ex=3600):
                chosen = (db, client)
                break
        except redis.RedisError as exc:
            client.close()
            unavailable(f"Redis on {REDIS_HOST}:{REDIS_PORT}", exc)
        client.close()
    if chosen is None:
        pytest.fail("every Redis database 1-15 is claimed by another test session")
    db, client = chosen
    for key in client.scan_iter():
        if key != _REDIS_LOCK.encode():
            client.delete(key)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This session's Redis database (see ``claimed_redis_db``)."""
    with claimed_redis_db() as url:
        yield url


@pytest.fixture
def spare_redis_url() -> Iterator[str]:
    """A Redis database of its own for one test (for workers that the test kills or reconfigures)."""
    with claimed_redis_db() as url:
        yield url


# --- Celery worker ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker(pg_url: str, redis_url: str) -> Iterator[Worker]:
    """A real worker process consuming every queue of this session's Redis database."""
    worker = start_worker(worker_env(pg_url, redis_url))
    try:
        yield worker
    finally:
        stop_worker(worker)


# --- SQLite -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from services.core import pipeline
    from services.core.db import dispose_engines
    from services.core.settings import Settings

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    pipeline.init_db(Settings(database_url=f"sqlite:///{path}"))
    dispose_engines()
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite database of its own for one test."""
    from services.core.db import dispose_engines

    path = tmp_path / "communique.db"
    shutil.copy(_sqlite_template, path)
    yield f"sqlite:///{path}"
    dispose_engines()


# --- A local source server --------------------------------------------------------------------------------


@pytest.fixture
def source_server() -> Iterator[Callable[[dict[str, tuple[bytes, str]]], SourceServer]]:
    """Start a local source server for given pages: ``source_server(pages) -> SourceServer``. Pages may hold
    ``{base}``, replaced by the server's address."""
    running: list[ThreadingHTTPServer] = []

    def start(pages: dict[str, tuple[bytes, str]]) -> SourceServer:
        server = SourceServer(pages={})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(server))
        server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
        server.pages = {
            p: (body.replace(b"{base}", server.base.encode()), ct) for p, (body, ct) in pages.items()
        }
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        running.append(httpd)
        return server

    yield start
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def ministry_site(
    source_server: Callable[[dict[str, tuple[bytes, str]]], SourceServer], tmp_path: Path
) -> Site:
    """The two test ministries of ``tests/integration/site`` served locally, and their source registry."""
    pages: dict[str, tuple[bytes, str]] = {}
    for f in SITE.rglob("*"):
        if f.suffix not in (".xml", ".html"):
            continue
        rel = "/" + f.relative_to(SITE).as_posix()
        if rel.endswith("/index.html"):
            rel = rel[: -len("index.html")]
        ctype = "application/rss+xml; charset=utf-8" if f.suffix == ".xml" else "text/html; charset=utf-8"
        pages[rel] = (f.read_bytes(), ctype)
    server = source_server(pages)
    sources_file = tmp_path / "sources.yaml"
    sources_file.write_text((SITE / "sources.yaml").read_text().replace("{base}", server.base))
    return Site(server=server, sources_file=sources_file)
