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

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, text, true
from sqlalchemy.orm import Session

from services.api.filters import Cursor, MeetingFilter
from services.store.models import DocumentRow, MeetingRow, MeetingSourceRow, SourceRow
from services.store.repository import MeetingRepository

__all__ = ["ApiRepository", "MeetingView", "SourceHealth"]


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
