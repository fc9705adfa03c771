"""All SQL of the HTTP API: read queries over the pipeline's tables, and the source enable/disable switch.

The meeting queries page by keyset on ``(date, id)`` (newest first, undated meetings last), so a page costs
the same at any depth and a meeting stored meanwhile never shifts the next page. State and organisation
filters use the ``parties`` column (sorted ``|``-joined ISO3 codes and ``ORG:NAME``), the same on both
backends; the JSON record is never queried in SQL (JSONB on Postgres, text on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, text, true
from sqlalchemy.orm import Session

from services.api.filters import Cursor, MeetingFilter
from services.store.models import (
    ChangeLogRow,
    DeliveryRow,
    DocumentRow,
    MeetingRow,
    MeetingSourceRow,
    OutboxRow,
    SourceRow,
)
from services.store.repository import MeetingRepository

__all__ = ["ApiRepository", "DeliveryView", "MeetingView", "SourceActivity", "SourceHealth"]


@dataclass(frozen=True, slots=True)
class MeetingView:
    """A meeting as the API shows it: the schema-shaped record and when the meeting was stored and changed."""

    record: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def cursor(self) -> Cursor:
        day = self.record.get("date")
        return Cursor(date.fromisoformat(day) if isinstance(day, str) else None, str(self.record["id"]))


@dataclass(frozen=True, slots=True)
class SourceHealth:
    id: str
    definition: dict[str, Any]
    enabled: bool
    state: str
    last_success_at: datetime | None
    last_polled_at: datetime | None
    next_check_at: datetime | None
    consecutive_errors: int
    consecutive_empty: int
    last_error: str | None
    documents: dict[str, int]
    meetings: int


@dataclass(frozen=True, slots=True)
class SourceActivity:
    """What a source brought in lately: its newest document, documents since a day, the scheduler's rate."""

    last_item_at: datetime | None
    items_since: int
    rate_per_week: float | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One alert delivery with the outbox event it carries."""

    id: int
    outbox_id: str
    aggregate_id: str
    type: str
    channel_key: str
    kind: str
    rules: list[str]
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime


def _bounded() -> ColumnElement[str]:
    """``|parties|``: every party, states and ``ORG:NAME`` alike, between two bars."""
    return literal("|") + MeetingRow.parties + literal("|")


class ApiRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- health ---------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raises when the database does not answer."""
        self.session.execute(text("SELECT 1"))

    # --- meetings -------------------------------------------------------------------------------------

    def _where(self, f: MeetingFilter) -> list[ColumnElement[bool]]:
        parties = _bounded()
        cond: list[ColumnElement[bool]] = [MeetingRow.retracted_at.is_(None)]
        for state in f.states:
            cond.append(parties.contains(f"|{state}|", autoescape=True))
        if f.org is not None:
            cond.append(func.lower(parties).contains(f"|org:{f.org.lower()}|", autoescape=True))
        if f.levels is not None:
            cond.append(MeetingRow.level.in_(f.levels))
        if f.since is not None:
            cond.append(MeetingRow.date >= f.since)
        if f.until is not None:
            cond.append(MeetingRow.date <= f.until)
        if f.mode is not None:
            cond.append(MeetingRow.mode == f.mode)
        if f.status is not None:
            cond.append(MeetingRow.status == f.status)
        return cond

    @staticmethod
    def _after(cursor: Cursor) -> ColumnElement[bool]:
        """Rows after ``cursor`` in the order (date desc nulls last, id desc)."""
        if cursor.date is None:
            return and_(MeetingRow.date.is_(None), MeetingRow.id < cursor.id)
        return or_(
            MeetingRow.date < cursor.date,
            and_(MeetingRow.date == cursor.date, MeetingRow.id < cursor.id),
            MeetingRow.date.is_(None),
        )

    def meetings(self, f: MeetingFilter, after: Cursor | None, limit: int) -> list[MeetingView]:
        """Up to ``limit`` meetings matching ``f`` after ``after``, newest first, with their sources."""
        cond = self._where(f)
        if after is not None:
            cond.append(self._after(after))
        stmt = (
            select(MeetingRow)
            .where(and_(true(), *cond))
            .order_by(MeetingRow.date.is_(None), MeetingRow.date.desc(), MeetingRow.id.desc())
            .limit(limit)
        )
        return self._views(list(self.session.scalars(stmt)))

    def meeting(self, meeting_id: str) -> MeetingView | None:
        row = self.session.get(MeetingRow, meeting_id)
        if row is None or row.retracted_at is not None:
            return None
        return self._views([row])[0]

    def _views(self, rows: Sequence[MeetingRow]) -> list[MeetingView]:
        # The store's own record builder: the API, the export and the webhooks show the same record.
        records = MeetingRepository(self.session).public_records(rows)
        return [
            MeetingView(rec, row.created_at, row.updated_at) for rec, row in zip(records, rows, strict=True)
        ]

    def merge_links(self, meeting_id: str) -> list[dict[str, Any]]:
        """The reports behind a meeting in arrival order: document, source, merge rule, when linked."""
        rows = self.session.execute(
            select(
                MeetingSourceRow.document_id,
                MeetingSourceRow.merge_rule,
                MeetingSourceRow.created_at,
                DocumentRow.source_id,
                DocumentRow.url,
                DocumentRow.published_hint,
            )
            .join(DocumentRow, DocumentRow.id == MeetingSourceRow.document_id)
            .where(MeetingSourceRow.meeting_id == meeting_id)
            .order_by(MeetingSourceRow.id)
        ).all()
        return [
            {
                "document_id": int(doc_id),
                "merge_rule": rule,
                "linked_at": linked_at,
                "source_id": source_id,
                "url": url,
                "published_hint": published,
            }
            for doc_id, rule, linked_at, source_id, url, published in rows
        ]

    # --- sources --------------------------------------------------------------------------------------

    def sources(self, source_id: str | None = None) -> list[SourceHealth]:
        """Every source (or one) with its polling state, its documents by status and its meetings."""
        stmt = select(SourceRow).order_by(SourceRow.id)
        doc_stmt = select(DocumentRow.source_id, DocumentRow.status, func.count()).group_by(
            DocumentRow.source_id, DocumentRow.status
        )
        meet_stmt = (
            select(DocumentRow.source_id, func.count(func.distinct(MeetingSourceRow.meeting_id)))
            .join(DocumentRow, DocumentRow.id == MeetingSourceRow.document_id)
            .group_by(DocumentRow.source_id)
        )
        if source_id is not None:
            stmt = stmt.where(SourceRow.id == source_id)
            doc_stmt = doc_stmt.where(DocumentRow.source_id == source_id)
            meet_stmt = meet_stmt.where(DocumentRow.source_id == source_id)
        rows = list(self.session.scalars(stmt))
        if not rows:
            return []
        docs: dict[str, dict[str, int]] = {}
        for sid, status, n in self.session.execute(doc_stmt).all():
            if sid is not None:
                docs.setdefault(sid, {})[str(status)] = int(n)
        meetings = {sid: int(n) for sid, n in self.session.execute(meet_stmt).all() if sid is not None}
        return [
            SourceHealth(
                id=r.id,
                definition=dict(r.definition or {}),
                enabled=r.enabled,
                state=r.state,
                last_success_at=r.last_success_at,
                last_polled_at=r.last_polled_at,
                next_check_at=r.next_check_at,
                consecutive_errors=r.consecutive_errors,
                consecutive_empty=r.consecutive_empty,
                last_error=r.last_error,
                documents=docs.get(r.id, {}),
                meetings=meetings.get(r.id, 0),
            )
            for r in rows
        ]

    def set_source_hold(self, source_id: str, *, disabled: bool, now: datetime) -> bool:
        """Operator switch: ``state = disabled`` stops the polls (the dispatcher skips that state) and
        survives a re-sync of the registry file, which only rewrites ``definition`` and ``enabled``.
        Enabling clears the error counters and makes the source due at once. False: no such source."""
        row = self.session.get(SourceRow, source_id, with_for_update=True)
        if row is None:
            return False
        if disabled:
            row.state = "disabled"
        else:
            row.state = "ok"
            row.consecutive_errors = 0
            row.consecutive_empty = 0
            row.next_check_at = now
        row.updated_at = now
        self.session.flush()
        return True

    # --- dashboard (services.web) ---------------------------------------------------------------------

    def party_counts(self, f: MeetingFilter) -> list[tuple[str, int]]:
        """``(parties, meetings)`` per distinct ``parties`` value of the meetings matching ``f``: who meets
        whom, counted in SQL without reading a single record."""
        stmt = (
            select(MeetingRow.parties, func.count())
            .where(and_(true(), *self._where(f)))
            .group_by(MeetingRow.parties)
            .order_by(MeetingRow.parties)
        )
        return [(str(parties), int(n)) for parties, n in self.session.execute(stmt).all()]

    def change_cursor(self) -> int:
        """The newest ``change_log`` id (0 when empty): where a live view starts listening."""
        return int(self.session.scalar(select(func.max(ChangeLogRow.id))) or 0)

    def changed_meetings(self, after_id: int, limit: int = 500) -> tuple[list[str], int]:
        """The meetings changed by the first ``limit`` ``change_log`` entries after ``after_id`` (in commit
        order, each once) and the id of the last entry read (``after_id`` when there is none)."""
        rows = self.session.execute(
            select(ChangeLogRow.id, ChangeLogRow.aggregate_id)
            .where(ChangeLogRow.id > after_id)
            .order_by(ChangeLogRow.id)
            .limit(limit)
        ).all()
        ids = list(dict.fromkeys(str(aggregate) for _, aggregate in rows))
        return ids, int(rows[-1][0]) if rows else after_id

    def meetings_by_ids(self, meeting_ids: Sequence[str], f: MeetingFilter) -> list[MeetingView]:
        """Those of ``meeting_ids`` that match ``f`` (retracted ones never do), newest first."""
        if not meeting_ids:
            return []
        stmt = (
            select(MeetingRow)
            .where(MeetingRow.id.in_(list(meeting_ids)), *self._where(f))
            .order_by(MeetingRow.date.is_(None), MeetingRow.date.desc(), MeetingRow.id.desc())
        )
        return self._views(list(self.session.scalars(stmt)))

    def source_activity(self, since: datetime) -> dict[str, SourceActivity]:
        """Per source: its newest document (when first seen), its documents first seen since ``since``,
        and the publishing rate the scheduler keeps (``rate_per_week``, None when unknown)."""
        docs = self.session.execute(
            select(
                DocumentRow.source_id,
                func.max(DocumentRow.created_at),
                func.sum(case((DocumentRow.created_at >= since, 1), else_=0)),
            )
            .where(DocumentRow.source_id.is_not(None))
            .group_by(DocumentRow.source_id)
        ).all()
        latest = {str(sid): (last, int(n or 0)) for sid, last, n in docs}
        out: dict[str, SourceActivity] = {}
        for sid, rate in self.session.execute(select(SourceRow.id, SourceRow.rate_per_week)).all():
            last, n = latest.get(str(sid), (None, 0))
            out[str(sid)] = SourceActivity(last, n, float(rate) if rate is not None else None)
        return out

    def recent_deliveries(self, limit: int = 50) -> list[DeliveryView]:
        """The newest alert deliveries (by creation, then id) with their outbox event."""
        rows = self.session.execute(
            select(DeliveryRow, OutboxRow.aggregate_id, OutboxRow.type)
            .join(OutboxRow, OutboxRow.id == DeliveryRow.outbox_id)
            .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
            .limit(limit)
        ).all()
        return [
            DeliveryView(
                id=int(d.id),
                outbox_id=d.outbox_id,
                aggregate_id=str(aggregate),
                type=str(type_),
                channel_key=d.channel_key,
                kind=d.kind,
                rules=[str(r) for r in d.rules or ()],
                status=d.status,
                attempts=d.attempts,
                last_status=d.last_status,
                last_error=d.last_error,
                next_attempt_at=d.next_attempt_at,
                sent_at=d.sent_at,
                created_at=d.created_at,
            )
            for d, aggregate, type_ in rows
        ]

    def delivery_counts(self) -> dict[str, int]:
        """Alert deliveries by status (pending, sent, dead, dropped, disabled)."""
        rows = self.session.execute(
            select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}
