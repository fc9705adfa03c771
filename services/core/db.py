"""Engines and sessions: one engine per database URL and process; sessions are opened by the unit of work
only.

SQLite (embedded mode) gets foreign keys, WAL and a busy timeout so that the CLI and a reader can share the
file. Postgres connections are pre-pinged, so a pool survives a server restart (the next checkout reconnects).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["get_engine", "session_factory", "dispose_engines", "is_sqlite"]

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (created on first use)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if is_sqlite(url):
                engine = create_engine(url)
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(
                    url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800
                )
            _engines[url] = engine
        return engine


def session_factory(url: str) -> sessionmaker[Session]:
    factory = _factories.get(url)
    if factory is None:
        factory = sessionmaker(bind=get_engine(url), expire_on_commit=False, autoflush=False)
        _factories[url] = factory
    return factory


def dispose_engines() -> None:
    """Drop every pooled connection and forget the engines (after a fork, and at the end of tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()
