"""Alembic is the only schema source: the models and the migrations agree (``alembic check``) on Postgres and
SQLite, and the migrations go down and up again cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from services.core.pipeline import alembic_config
from services.core.settings import Settings

pytestmark = pytest.mark.integration


def test_alembic_check_on_postgres(pg_url: str) -> None:
    command.check(alembic_config(Settings(database_url=pg_url)))


def test_alembic_check_on_sqlite(sqlite_url: str) -> None:
    command.check(alembic_config(Settings(database_url=sqlite_url)))


def test_downgrade_and_upgrade_roundtrip(tmp_path: Path) -> None:
    cfg = alembic_config(Settings(database_url=f"sqlite:///{tmp_path / 'roundtrip.db'}"))
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)


def test_migration_files_are_named_by_date_and_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config(Settings()))
    assert len(script.get_heads()) == 1
    for rev in script.walk_revisions():
        assert rev.path is not None
        name = Path(rev.path).name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py", name), name
