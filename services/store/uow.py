"""Unit of work: one session, its repositories, and the follow-up tasks to send once it commits.

Business code never commits: it flushes through the repositories and calls ``defer`` for follow-up tasks. The
caller (a task) commits; only then are the deferred tasks handed to ``send`` — a message sent inside the
transaction could reach a worker before the row it names is visible, or name a row that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.orm import Session

from services.store.repository import (
    ChangeLogRepository,
    DeadLetterRepository,
    DeliveryRepository,
    DocumentRepository,
    MeetingRepository,
    MergeRepository,
    OutboxRepository,
    SourceRepository,
)

__all__ = ["Send", "UnitOfWork"]

Send = Callable[[str, tuple[Any, ...]], None]
"""Hands one task (name, positional args) to the queue: Celery in distributed mode, a local deque embedded."""


def _drop(name: str, args: tuple[Any, ...]) -> None:
    return None


class UnitOfWork:
    sources: SourceRepository
    documents: DocumentRepository
    meetings: MeetingRepository
    outbox: OutboxRepository
    dead_letters: DeadLetterRepository
    merges: MergeRepository
    changes: ChangeLogRepository
    deliveries: DeliveryRepository

    def __init__(self, session_factory: Callable[[], Session], send: Send | None = None) -> None:
        self._session_factory = session_factory
        self._send = send or _drop
        self._jobs: list[tuple[str, tuple[Any, ...]]] = []

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.sources = SourceRepository(self.session)
        self.documents = DocumentRepository(self.session)
        self.meetings = MeetingRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.dead_letters = DeadLetterRepository(self.session)
        self.merges = MergeRepository(self.session)
        self.changes = ChangeLogRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self._jobs = []
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()
        self.session.close()

    def defer(self, task_name: str, *args: Any) -> None:
        """Send ``task_name(*args)`` after the next successful commit (dropped on rollback)."""
        job = (task_name, args)
        if job not in self._jobs:
            self._jobs.append(job)

    def commit(self) -> None:
        self.session.commit()
        jobs, self._jobs = self._jobs, []
        for name, args in jobs:
            self._send(name, args)

    def rollback(self) -> None:
        self.session.rollback()
        self._jobs = []
