"""Exports for downstream databases: meeting records read through the change log.

``iter_changed`` yields, once per meeting, the meeting's current record for every meeting with a change log
entry after the cursor (``after_id``) and at or after ``since``: a loader upserts by ``id`` (and deletes on
``retracted``), then remembers the ``change_id`` of the last line as its next cursor. Without a cursor or a
date it is a full export.

Each record is the schema's meeting record (``id`` and ``sources`` included) plus ``version`` (bumped on every
change), ``retracted`` (every report withdrawn; kept rather than deleted) and ``change_id`` (the latest change
log entry behind this line).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from services.store.uow import UnitOfWork

__all__ = ["iter_changed"]


def iter_changed(
    uow: UnitOfWork, *, since: datetime | None = None, after_id: int = 0, batch: int = 200
) -> Iterator[dict[str, Any]]:
    """Current records of the meetings changed after ``after_id`` / since ``since``, in the order of their
    latest change."""
    latest: dict[str, int] = {}
    for entry in uow.changes.iter_since(after_id=after_id, since=since):
        latest.pop(entry.aggregate_id, None)
        latest[entry.aggregate_id] = int(entry.id)
    ids = list(latest)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        rows = [m for m in (uow.meetings.get(i) for i in chunk) if m is not None]
        for meeting, record in zip(rows, uow.meetings.public_records(rows), strict=True):
            record["version"] = meeting.version
            record["retracted"] = meeting.retracted_at is not None
            record["change_id"] = latest[meeting.id]
            yield record
