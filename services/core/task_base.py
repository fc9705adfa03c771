"""The one task policy: every pipeline task is a ``PipelineTask`` (see ``pipeline_task``).

Policy, in the order it applies to one delivery:

1. **Delivery counter.** Before the work, the row the task is about (a source or a document) counts the
   delivery in its own committed transaction, so a worker killed mid-task still leaves the count. Past
   ``settings.max_deliveries`` (retries count too) the delivery is not run: it goes to ``dead_letter``, a
   document is marked dead, a source broken. The count is reset when the task completes.
2. **Unit of work.** ``self.uow()`` gives the task its session; follow-up tasks deferred in it are sent only
   after it commits: to Celery (distributed) or to the in-process ``LOCAL_QUEUE`` (embedded), the same
   functions either way. A broker that is down at that moment loses the message, not the committed work:
   the dispatcher's sweeps send the next step again (a stalled document, the source's next slot).
3. **Retries.** Transient errors (database connection, HTTP transport, transient ``FetchError``) are retried
   with exponential backoff and full jitter, capped below the broker's visibility timeout (a delayed message
   held past it would be delivered twice). Retries exhausted, or any other error: ``dead_letter`` with the
   error, logged, and the worker goes on. Embedded, a transient error is left to the next cycle instead of
   sleeping.
4. ``acks_late`` and ``reject_on_worker_lost``: a message is acknowledged only when its task has finished, so
   a lost worker means a redelivery, and the idempotent stages make that harmless.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import httpx
from celery import Task
from celery.exceptions import Retry
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import DBAPIError, OperationalError

from services.core.db import session_factory
from services.core.settings import Settings, get_settings
from services.store.uow import Send, UnitOfWork

if TYPE_CHECKING:
    from services.core.stages import Http
    from services.fetcher.polite import PoliteClient

__all__ = [
    "LOCAL_QUEUE",
    "LocalQueue",
    "PipelineTask",
    "is_transient",
    "pipeline_task",
    "retry_delay",
    "retry_cap",
    "task_context",
    "using_settings",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

task_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "task_context", default=None
)
"""Name, id and arguments of the running task, for log records (see ``TaskContextFilter``)."""

_settings_override: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("settings", default=None)


@contextmanager
def using_settings(settings: Settings) -> Iterator[Settings]:
    """Run tasks in-process with these settings instead of the environment's (embedded mode, the demo)."""
    token = _settings_override.set(settings)
    try:
        yield settings
    finally:
        _settings_override.reset(token)


def active_settings() -> Settings:
    return _settings_override.get() or get_settings()


class TaskContextFilter(logging.Filter):
    """Adds ``task`` (name and arguments) to every log record, empty outside tasks."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = task_context.get()
        record.task = f"{ctx['name']}{list(ctx['args'])}" if ctx else ""
        return True


def is_transient(exc: BaseException) -> bool:
    """Errors that a later attempt can overcome: a lost or refused database connection, an HTTP transport
    failure, a transient ``FetchError`` (5xx, 429, timeout, network). Everything else is a bad input or a
    bug."""
    from services.core.stages import is_transient_fetch_error
    from services.fetcher.http import FetchError

    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, FetchError) and is_transient_fetch_error(exc)


def retry_cap(settings: Settings) -> float:
    """Longest retry delay: below the visibility timeout minus the longest run, so a message that waits for
    its countdown and then runs to its hard limit is still acknowledged before the broker would redeliver
    it."""
    room = settings.visibility_timeout_s - settings.task_time_limit_s - 60
    return float(max(1, min(settings.retry_backoff_max_s, room)))


def retry_delay(retries: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Exponential backoff (2 s, 4 s, 8 s ...) with full jitter, capped by ``retry_cap``."""
    ceiling = min(retry_cap(settings), 2.0 * 2.0 ** min(retries, 30))
    return (rng or random).uniform(ceiling / 2, ceiling)


class LocalQueue:
    """Embedded mode's broker: follow-up tasks appended after commit, run in order by ``drain``."""

    def __init__(self) -> None:
        self._jobs: deque[tuple[str, tuple[Any, ...]]] = deque()

    def send(self, name: str, args: tuple[Any, ...]) -> None:
        self._jobs.append((name, args))

    def __len__(self) -> int:
        return len(self._jobs)

    def clear(self) -> None:
        self._jobs.clear()

    def drain(self, tasks: Callable[[str], Callable[..., Any]], limit: int = 1_000_000) -> Counter[str]:
        """Run queued tasks (and the ones they queue) until none is left; counts runs per task name."""
        ran: Counter[str] = Counter()
        while self._jobs and sum(ran.values()) < limit:
            name, args = self._jobs.popleft()
            ran[name] += 1
            try:
                tasks(name)(*args)
            except Exception:  # noqa: BLE001 - one failed task must not stop the others; it is logged
                log.warning(
                    "embedded task %s%s failed; the next cycle picks it up", name, list(args), exc_info=True
                )
        return ran


LOCAL_QUEUE = LocalQueue()

_clients: dict[int, tuple[Settings, PoliteClient]] = {}
_clients_lock = threading.Lock()


class PipelineTask(Task):  # type: ignore[misc]  # celery is untyped
    """Base class of every pipeline task (policy in the module docstring)."""

    acks_late = True
    reject_on_worker_lost = True
    # "source" or "document": the first argument is that row's id, and the row carries the delivery counter.
    delivery: str | None = None

    @property
    def settings(self) -> Settings:
        return active_settings()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sender(self) -> Send:
        settings = self.settings
        if settings.distributed:
            from services.core.celery_app import app_for

            app = app_for(settings)

            def send(name: str, args: tuple[Any, ...]) -> None:
                try:
                    app.send_task(name, args=list(args))
                except BrokerError as exc:
                    # Sent after the commit: the work is done and kept, only the next step's message is
                    # lost. Failing the task now would dead-letter work that succeeded, and a retry needs the
                    # same broker; the sweeps send it again instead (``stages.dispatch_due``: a document's
                    # next stage after stale_after_s, a poll at the source's next slot; a delivery when its
                    # relay lease ends).
                    log.warning("broker unreachable: %s%s not sent, a sweep re-sends it: %s", name, args, exc)

            return send
        return LOCAL_QUEUE.send

    def uow(self) -> UnitOfWork:
        return UnitOfWork(session_factory(self.settings.database_url), send=self.sender())

    def http(self) -> Http:
        """The process's polite, guarded HTTP client for the active settings (``services.fetcher.polite``)."""
        from services.fetcher.http import GuardedClient
        from services.fetcher.polite import DbHosts, PoliteClient

        settings = self.settings
        with _clients_lock:  # worker threads start together: one client (and one robots cache) per process
            entry = _clients.get(id(settings))
            if entry is None:
                # Politeness (robots.txt, host spacing, Retry-After holds) around the guarded client; its
                # host state is in the database, so it spans the workers.
                hosts = DbHosts(session_factory(settings.database_url))
                entry = (settings, PoliteClient(GuardedClient(settings), settings, hosts))
                _clients[id(settings)] = entry
        return entry[1]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = task_context.set({"name": self.name, "id": self.request.id, "args": args})
        try:
            return self._run_with_policy(args, kwargs)
        finally:
            task_context.reset(token)

    def _run_with_policy(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = self.settings
        count: int | None = None
        try:
            # Inside the policy: a database that is down when the task starts is a transient error like
            # any other (retried), not a failure that acknowledges and drops the message.
            count = self._count_delivery(args, +1)
            if count is not None and count > settings.max_deliveries:
                self._dead_letter(args, f"gave up after {count - 1} deliveries (max_deliveries)", count - 1)
                return None
            result = super().__call__(*args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            if is_transient(exc):
                if self.request.called_directly:
                    raise
                retries = int(self.request.retries or 0)
                if retries < settings.task_max_retries:
                    log.warning(
                        "%s%s: transient error, retry %d: %s", self.name, list(args), retries + 1, exc
                    )
                    raise self.retry(
                        exc=exc,
                        countdown=retry_delay(retries, settings),
                        max_retries=settings.task_max_retries,
                    ) from exc
            log.exception("%s%s failed; moved to dead_letter", self.name, list(args))
            self._dead_letter(args, f"{type(exc).__name__}: {exc}", count or 1)
            return None
        try:
            self._count_delivery(args, 0)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The work is committed; a count left standing only brings max_deliveries nearer.
            log.warning("%s%s: done, delivery count not reset: %s", self.name, list(args), exc)
        return result

    def _count_delivery(self, args: tuple[Any, ...], step: int) -> int | None:
        """+1: count this delivery, return the count; 0: reset. None when the task has no counted row."""
        if self.delivery is None or not args:
            return None
        with UnitOfWork(session_factory(self.settings.database_url)) as uow:
            repo = uow.sources if self.delivery == "source" else uow.documents
            if step:
                count = repo.bump_delivery(args[0])
            else:
                repo.reset_delivery(args[0])
                count = 0
            uow.commit()
        return count

    def _dead_letter(self, args: tuple[Any, ...], error: str, attempts: int) -> None:
        with UnitOfWork(session_factory(self.settings.database_url)) as uow:
            uow.dead_letters.add(self.name, args, error[:4000], attempts, self.now())
            if self.delivery == "source" and args:
                from services.core.stages import mark_source_broken

                mark_source_broken(uow, args[0], error[:2000], self.now())
            elif self.delivery == "document" and args:
                uow.documents.mark_dead(args[0], error[:2000])
            uow.commit()


def close_clients() -> None:
    """Close the HTTP clients opened by tasks in this process."""
    for _, client in _clients.values():
        client.close()
    _clients.clear()


def pipeline_task(name: str, *, delivery: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a function as the pipeline task ``name`` (bound: it receives the task as ``self``)."""
    from services.core.celery_app import app

    def register(fn: Callable[P, R]) -> Callable[P, R]:
        return cast(Callable[P, R], app.task(base=PipelineTask, bind=True, name=name, delivery=delivery)(fn))

    return register
