"""Running the pipeline: set up the database, sync the sources, run cycles, read the meetings back.

Embedded (no broker): ``run_once`` runs the dispatcher and then every task it leads to, in this process,
through the same task functions a Celery worker runs (the unit of work hands follow-ups to ``LOCAL_QUEUE``).
Distributed (``settings.broker_url``): ``run_once`` dispatches one cycle to the Celery workers and returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from services.core.db import session_factory
from services.core.settings import Settings
from services.core.task_base import LOCAL_QUEUE, close_clients, using_settings
from services.fetcher.sources import SourceDef
from services.store.uow import UnitOfWork

__all__ = [
    "alembic_config",
    "init_db",
    "iter_meeting_records",
    "run_forever",
    "run_once",
    "sync_sources",
]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def _project_root() -> Path:
    # A source checkout has migrations/ beside services/; an installed package (the Docker image) runs from
    # the directory that holds them.
    for root in (ROOT, Path.cwd()):
        if (root / "migrations" / "env.py").is_file():
            return root
    raise FileNotFoundError(f"migrations/ not found in {ROOT} or {Path.cwd()}")


def alembic_config(settings: Settings) -> Config:
    """The project's Alembic configuration, pointed at ``settings.database_url``."""
    root = _project_root()
    ini = root / "alembic.ini"
    cfg = Config(str(ini)) if ini.is_file() else Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def init_db(settings: Settings) -> None:
    """Bring the database to the latest schema (``alembic upgrade head``); safe to run at every start."""
    command.upgrade(alembic_config(settings), "head")


def _uow(settings: Settings) -> UnitOfWork:
    return UnitOfWork(session_factory(settings.database_url))


def sync_sources(settings: Settings, sources: Sequence[SourceDef]) -> dict[str, int]:
    """Write the source definitions to the ``source`` table (new sources are due at once, dropped ones
    disabled)."""
    with _uow(settings) as uow:
        upserted, disabled = uow.sources.sync(
            [(s.id, s.model_dump(mode="json")) for s in sources], datetime.now(UTC)
        )
        uow.commit()
    return {"sources": upserted, "disabled": disabled}


def run_once(
    settings: Settings, sources: Sequence[SourceDef] | None = None, *, force: bool = False
) -> dict[str, Any]:
    """One cycle: sync ``sources`` (when given), dispatch the due ones (all with ``force``), and embedded run
    every resulting task to the end. Returns counts: tasks run per name (embedded) and the database totals."""
    from services.core import celery_app

    celery_app.load_tasks()
    if sources is not None:
        sync_sources(settings, sources)
    dispatch = celery_app.app.tasks["core.dispatch_due"]
    with using_settings(settings):
        dispatched = dispatch(force)
        counts: dict[str, Any] = {"polls": dispatched["polls"], "resent": dispatched["resent"]}
        if not settings.distributed:
            try:
                ran = LOCAL_QUEUE.drain(lambda name: celery_app.app.tasks[name])
                # The alert relay runs once per cycle, after the stores that planned the deliveries.
                celery_app.app.tasks["notify.relay"]()
                ran.update(LOCAL_QUEUE.drain(lambda name: celery_app.app.tasks[name]))
            finally:
                close_clients()
            counts["tasks"] = dict(ran)
        else:
            # Workers run the deliveries; beat runs the relay every few seconds anyway.
            celery_app.app.tasks["notify.relay"]()
    counts.update(_totals(settings))
    return counts


def _totals(settings: Settings) -> dict[str, Any]:
    with _uow(settings) as uow:
        return {
            "documents": uow.documents.counts(),
            "meetings": uow.meetings.count(),
            "outbox": uow.outbox.count(),
            "deliveries": uow.deliveries.counts(),
            "dead_letters": uow.dead_letters.count(),
        }


def run_forever(settings: Settings, sources: Sequence[SourceDef] | None = None) -> None:
    """Embedded scheduler: a cycle every ``settings.tick_seconds`` until interrupted."""
    if sources is not None:
        sync_sources(settings, sources)
    while True:
        started = time.monotonic()
        counts = run_once(settings)
        log.info("cycle: %s", counts)
        time.sleep(max(0.0, settings.tick_seconds - (time.monotonic() - started)))


def iter_meeting_records(settings: Settings, since: date | None = None) -> Iterator[dict[str, Any]]:
    """Stored meetings (held on or after ``since``) as schema-shaped records with ``id`` and ``sources``."""
    with _uow(settings) as uow:
        yield from uow.meetings.iter_records(since)
