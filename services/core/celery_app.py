"""The Celery application: one app, a queue per stage, late acks, limits below the visibility timeout.

Distributed mode needs ``COMMUNIQUE_BROKER_URL`` (Redis). Without it the app still exists (on an in-memory
transport) so that the task functions can be registered and run in-process by the embedded pipeline.

Run a worker per queue: ``celery -A services.core.celery_app worker -Q fetch`` (or ``communique worker``), and
exactly one beat: ``celery -A services.core.celery_app beat``. A second beat is harmless anyway: dispatch
takes a database lock and every poll is keyed on (source, slot).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from services.core.db import dispose_engines
from services.core.settings import Settings, get_settings

__all__ = ["QUEUES", "TASK_MODULES", "app", "app_for", "load_tasks", "make_app"]

QUEUES = ("fetch", "parse", "store", "notify")
TASK_MODULES = (
    "services.core.tasks",
    "services.fetcher.tasks",
    "services.parser.tasks",
    "services.store.tasks",
)


def check_limits(settings: Settings) -> None:
    """Every time limit and retry delay below the visibility timeout, or Redis redelivers running tasks."""
    from services.core.task_base import retry_cap

    vt = settings.visibility_timeout_s
    if not settings.task_soft_time_limit_s < settings.task_time_limit_s < vt:
        raise ValueError("need task_soft_time_limit_s < task_time_limit_s < visibility_timeout_s")
    if retry_cap(settings) + settings.task_time_limit_s >= vt:
        raise ValueError("retry delays plus the hard time limit must stay below visibility_timeout_s")


def make_app(settings: Settings) -> Celery:
    check_limits(settings)
    vt = settings.visibility_timeout_s
    # Redis restores unacknowledged messages in sweeps every interval * throttle seconds (kombu's default is
    # 100 s); keep that a tenth of the visibility timeout, so a lost worker's task comes back soon after it.
    interval = max(1, min(10, vt // 10))
    transport = {
        "visibility_timeout": vt,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, min(10, vt // (10 * interval))),
    }
    celery = Celery("communique", broker=settings.broker_url or "memory://", include=list(TASK_MODULES))
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=settings.result_backend,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_time_limit=settings.task_time_limit_s,
        task_default_queue="fetch",
        task_create_missing_queues=True,
        task_routes={
            "core.*": {"queue": "fetch"},
            "fetcher.*": {"queue": "fetch"},
            "parser.*": {"queue": "parse"},
            "store.*": {"queue": "store"},
            "alerts.*": {"queue": "notify"},
            "notify.*": {"queue": "notify"},
        },
        beat_schedule={
            "dispatch due sources": {"task": "core.dispatch_due", "schedule": settings.tick_seconds},
            # Alert deliveries: due rows are claimed in the database (retries live on the rows).
            "relay alert deliveries": {"task": "notify.relay", "schedule": settings.relay_interval_s},
        },
        timezone="UTC",
        enable_utc=True,
    )
    return celery


def load_tasks() -> None:
    """Import every task module (a worker does this itself; the embedded pipeline calls it)."""
    import importlib

    for name in TASK_MODULES:
        importlib.import_module(name)


@worker_process_init.connect  # type: ignore[untyped-decorator]  # celery is untyped
def _after_fork(**_: Any) -> None:
    # Pooled connections inherited from the parent process must not be shared with it.
    dispose_engines()


app = make_app(get_settings())
_producers: dict[str, Celery] = {}


def app_for(settings: Settings) -> Celery:
    """The app to send tasks with under ``settings``: the module's app, or (when a caller runs with settings
    of its own, e.g. tests and tools) an app on that broker, made once."""
    broker = settings.broker_url or "memory://"
    if app.conf.broker_url == broker:
        return app
    if broker not in _producers:
        _producers[broker] = make_app(settings)
    return _producers[broker]
