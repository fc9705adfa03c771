"""Alembic environment: the database URL from settings (or a connection handed in by the caller).

Postgres: a lock timeout so a migration never queues behind a long transaction while blocking everyone after
it, and an advisory lock so two deployers (or test workers) never migrate at once. SQLite: batch mode, because
SQLite alters tables by copying them.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, text

from services.core.db import get_engine
from services.core.settings import get_settings
from services.store.models import Base, UTCDateTime

target_metadata = Base.metadata
config = context.config

# Any constant works; it only has to be the same for every process that migrates this database.
MIGRATION_LOCK_ID = 0x636F6D6D756E  # "commun"


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    # Migrations stay free of project imports: the UTC wrapper is stored as a plain timestamptz.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        if is_pg:
            # The advisory lock first (waiting for another migrator is fine), then the lock timeout for DDL.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.execute(text("SET LOCAL lock_timeout = '4s'"))
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    with get_engine(url).connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
