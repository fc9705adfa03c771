"""Fixtures of the API tests: a seeded database on each backend and a test client on it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core.settings import Settings
from tests.integration.api.seed import REPORTS, filler, seed

TOKEN = "test-token-1b2c3d"
FILLER = 30


def _empty_postgres(url: str) -> None:
    from sqlalchemy import text

    from services.core.db import get_engine
    from services.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)],
)
def seeded_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding the seed meetings (REPORTS and FILLER paging meetings), once per test module and
    backend: SQLite (a copy of the migrated template), then this session's Postgres database emptied.
    Tests on it only read (or undo what they change)."""
    from services.core.db import dispose_engines

    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path_factory.mktemp("api") / "api.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
        _empty_postgres(url)
    seed(url, REPORTS + filler(FILLER))
    yield url
    if request.param == "sqlite":
        dispose_engines()


def make_client(url: str, **settings: Any) -> TestClient:
    opts: dict[str, Any] = {"database_url": url, "api_token": TOKEN, "api_rate_per_s": 0.0}
    opts.update(settings)
    return TestClient(create_app(Settings(**opts)))


@pytest.fixture
def client(seeded_url: str) -> Iterator[TestClient]:
    with make_client(seeded_url) as c:
        yield c
