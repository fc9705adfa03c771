"""Repositories: all SQL of the pipeline. They add and flush; the unit of work commits.

Upserts are ``INSERT .. ON CONFLICT`` on both backends (the Postgres and SQLite dialects share the syntax),
so a redelivered task, a second beat or a duplicate inside one batch never fails and never doubles a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.store.merge import Candidate, ClaimFacts
from services.store.models import (
    Base,
    DeadLetterRow,
    DocumentRow,
    MeetingRow,
    MeetingSourceRow,
    OutboxRow,
    PollSlotRow,
    SourceRow,
)

__all__ = [
    "SourceRepository",
    "DocumentRepository",
    "MeetingRepository",
    "OutboxRepository",
    "DeadLetterRepository",
    "SOURCE_FIELDS",
]

SOURCE_FIELDS = ("url", "publisher", "published_at", "language", "title", "evidence")
# Any constant works; every dispatcher of one database must use the same.
DISPATCH_LOCK_ID = 0x6469737061746368  # "dispatch"


def _insert(session: Session, table: type[Base]) -> Any:
    """The dialect's INSERT (both know ON CONFLICT and RETURNING)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class _Repository:
    def __init__(self, session: Session) -> None:
        self.session = session


class SourceRepository(_Repository):
    def sync(self, definitions: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> tuple[int, int]:
        """Upsert source definitions (new ones are due at once); disable rows no longer defined.

        Returns (upserted, disabled).
        """
        for source_id, definition in definitions:
            stmt = _insert(self.session, SourceRow).values(
                id=source_id,
                definition=definition,
                enabled=bool(definition.get("enabled", True)),
                state="ok",
                next_check_at=now,
                consecutive_errors=0,
                consecutive_empty=0,
                delivery_count=0,
                created_at=now,
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "definition": stmt.excluded.definition,
                    "enabled": stmt.excluded.enabled,
                    "updated_at": now,
                },
            )
            self.session.execute(stmt)
        ids = [i for i, _ in definitions]
        result = self.session.execute(
            update(SourceRow)
            .where(SourceRow.id.not_in(ids), SourceRow.enabled.is_(True))
            .values(enabled=False, updated_at=now)
        )
        return len(ids), int(getattr(result, "rowcount", 0) or 0)

    def get(self, source_id: str) -> SourceRow | None:
        return self.session.get(SourceRow, source_id)

    def all(self) -> list[SourceRow]:
        return list(self.session.scalars(select(SourceRow).order_by(SourceRow.id)))

    def due(self, now: datetime, limit: int = 500) -> list[SourceRow]:
        return list(
            self.session.scalars(
                select(SourceRow)
                .where(
                    SourceRow.enabled.is_(True), SourceRow.state != "disabled", SourceRow.next_check_at <= now
                )
                .order_by(SourceRow.next_check_at)
                .limit(limit)
            )
        )

    def try_dispatch_lock(self) -> bool:
        """Serialise dispatchers on Postgres for this transaction; SQLite is single-writer anyway."""
        if self.session.get_bind().dialect.name != "postgresql":
            return True
        return bool(
            self.session.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": DISPATCH_LOCK_ID})
        )

    def claim_slot(self, source_id: str, slot: int, now: datetime) -> bool:
        """True when this (source, slot) was not dispatched before."""
        stmt = (
            _insert(self.session, PollSlotRow)
            .values(source_id=source_id, slot=slot, created_at=now)
            .on_conflict_do_nothing(index_elements=["source_id", "slot"])
            .returning(PollSlotRow.id)
        )
        return self.session.execute(stmt).first() is not None

    def bump_delivery(self, source_id: str) -> int | None:
        return self.session.scalar(
            update(SourceRow)
            .where(SourceRow.id == source_id)
            .values(delivery_count=SourceRow.delivery_count + 1)
            .returning(SourceRow.delivery_count)
        )

    def reset_delivery(self, source_id: str) -> None:
        self.session.execute(update(SourceRow).where(SourceRow.id == source_id).values(delivery_count=0))

    def mark_broken(self, source_id: str, error: str) -> None:
        """Visible to the operator; the schedule keeps polling it (a fixed source recovers by itself)."""
        self.session.execute(
            update(SourceRow).where(SourceRow.id == source_id).values(state="broken", last_error=error)
        )


class DocumentRepository(_Repository):
    def add_pending(
        self,
        *,
        source_id: str | None,
        url: str,
        canonical_url: str,
        guid: str | None,
        title: str | None,
        published: datetime | None,
        now: datetime,
    ) -> int | None:
        """Insert a document to fetch; None when its canonical URL is already known."""
        stmt = (
            _insert(self.session, DocumentRow)
            .values(
                source_id=source_id,
                url=url,
                canonical_url=canonical_url,
                guid=guid,
                title_hint=title,
                published_hint=published,
                status="pending",
                parse_status="pending",
                delivery_count=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["canonical_url"])
            .returning(DocumentRow.id)
        )
        row = self.session.execute(stmt).first()
        return int(row[0]) if row else None

    def get(self, document_id: int) -> DocumentRow | None:
        return self.session.get(DocumentRow, document_id)

    def pending_ids(self, canonical_urls: Iterable[str]) -> list[int]:
        urls = list(canonical_urls)
        if not urls:
            return []
        return list(
            self.session.scalars(
                select(DocumentRow.id)
                .where(DocumentRow.canonical_url.in_(urls), DocumentRow.status == "pending")
                .order_by(DocumentRow.id)
            )
        )

    def stalled(self, older_than: datetime, limit: int = 500) -> list[tuple[int, str]]:
        """Documents whose next stage never ran (a lost message): (id, stage) with stage fetch/parse/store."""
        rows = self.session.execute(
            select(DocumentRow.id, DocumentRow.status, DocumentRow.parse_status)
            .where(
                DocumentRow.updated_at < older_than,
                or_(
                    DocumentRow.status == "pending",
                    and_(DocumentRow.status == "fetched", DocumentRow.parse_status == "pending"),
                    and_(
                        DocumentRow.status == "fetched",
                        DocumentRow.parse_status == "ok",
                        DocumentRow.stored_at.is_(None),
                    ),
                ),
            )
            .order_by(DocumentRow.id)
            .limit(limit)
        ).all()
        out: list[tuple[int, str]] = []
        for doc_id, status, parse_status in rows:
            stage = "fetch" if status == "pending" else "parse" if parse_status == "pending" else "store"
            out.append((int(doc_id), stage))
        return out

    def touch(self, document_ids: Sequence[int], now: datetime) -> None:
        if document_ids:
            self.session.execute(
                update(DocumentRow).where(DocumentRow.id.in_(document_ids)).values(updated_at=now)
            )

    def bump_delivery(self, document_id: int) -> int | None:
        return self.session.scalar(
            update(DocumentRow)
            .where(DocumentRow.id == document_id)
            .values(delivery_count=DocumentRow.delivery_count + 1)
            .returning(DocumentRow.delivery_count)
        )

    def reset_delivery(self, document_id: int) -> None:
        self.session.execute(
            update(DocumentRow).where(DocumentRow.id == document_id).values(delivery_count=0)
        )

    def mark_dead(self, document_id: int, error: str) -> None:
        self.session.execute(
            update(DocumentRow).where(DocumentRow.id == document_id).values(status="dead", last_error=error)
        )

    def counts(self) -> dict[str, int]:
        rows = self.session.execute(
            select(DocumentRow.status, func.count()).group_by(DocumentRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}


class MeetingRepository(_Repository):
    def candidates(self, parties_key: str, day: date) -> list[Candidate]:
        rows = self.session.execute(
            select(MeetingRow.id, MeetingRow.parties, MeetingRow.date, MeetingRow.mode)
            .where(
                MeetingRow.parties == parties_key,
                MeetingRow.date.between(day - timedelta(days=1), day + timedelta(days=1)),
            )
            .order_by(MeetingRow.created_at, MeetingRow.id)
        ).all()
        return [Candidate(id=r[0], parties=r[1], date=r[2], mode=r[3]) for r in rows]

    def insert_if_absent(
        self, meeting_id: str, facts: ClaimFacts, record: dict[str, Any], now: datetime
    ) -> bool:
        """Create the meeting keyed ``facts.identity_key``; False when a concurrent or earlier claim made
        it."""
        stmt = (
            _insert(self.session, MeetingRow)
            .values(
                id=meeting_id,
                identity_key=facts.identity_key,
                parties=facts.parties_key,
                date=facts.date,
                mode=facts.mode,
                status=facts.status,
                level=facts.level,
                record=record,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["identity_key"])
            .returning(MeetingRow.id)
        )
        return self.session.execute(stmt).first() is not None

    def get(self, meeting_id: str, *, for_update: bool = False) -> MeetingRow | None:
        return self.session.get(MeetingRow, meeting_id, with_for_update=for_update)

    def get_by_key(self, identity_key: str) -> MeetingRow | None:
        return self.session.scalar(select(MeetingRow).where(MeetingRow.identity_key == identity_key))

    def link_source(
        self,
        meeting_id: str,
        document_id: int,
        evidence: str | None,
        record: dict[str, Any],
        rule: str,
        now: datetime,
    ) -> None:
        stmt = _insert(self.session, MeetingSourceRow).values(
            meeting_id=meeting_id,
            document_id=document_id,
            evidence=evidence,
            record=record,
            merge_rule=rule,
            created_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["meeting_id", "document_id"],
            set_={"evidence": stmt.excluded.evidence, "record": stmt.excluded.record},
        )
        self.session.execute(stmt)

    def sources_of(self, meeting_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The public ``sources`` list of each meeting, in the order the reports arrived."""
        out: dict[str, list[dict[str, Any]]] = {m: [] for m in meeting_ids}
        if not meeting_ids:
            return out
        rows = self.session.execute(
            select(MeetingSourceRow, DocumentRow.url)
            .join(DocumentRow, DocumentRow.id == MeetingSourceRow.document_id)
            .where(MeetingSourceRow.meeting_id.in_(meeting_ids))
            .order_by(MeetingSourceRow.id)
        ).all()
        for link, url in rows:
            given = (link.record.get("sources") or [{}])[0]
            src = {k: given.get(k) for k in SOURCE_FIELDS}
            src.update(url=url, evidence=link.evidence, merge_rule=link.merge_rule)
            out[link.meeting_id].append(src)
        return out

    def public_record(self, meeting: MeetingRow) -> dict[str, Any]:
        return self.public_records([meeting])[0]

    def public_records(self, meetings: Sequence[MeetingRow]) -> list[dict[str, Any]]:
        sources = self.sources_of([m.id for m in meetings])
        return [{"id": m.id, **m.record, "sources": sources[m.id]} for m in meetings]

    def iter_records(self, since: date | None = None, batch: int = 200) -> Iterator[dict[str, Any]]:
        """Every meeting (held on or after ``since``) as a schema-shaped record, oldest meeting first."""
        stmt = select(MeetingRow).order_by(MeetingRow.date.is_(None), MeetingRow.date, MeetingRow.id)
        if since is not None:
            stmt = stmt.where(MeetingRow.date >= since)
        offset = 0
        while True:
            rows = list(self.session.scalars(stmt.limit(batch).offset(offset)))
            if not rows:
                return
            yield from self.public_records(rows)
            offset += len(rows)

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(MeetingRow)) or 0)


class OutboxRepository(_Repository):
    def add(self, aggregate_id: str, type_: str, payload: dict[str, Any], now: datetime) -> str:
        row = OutboxRow(
            id=str(uuid.uuid4()), aggregate_id=aggregate_id, type=type_, payload=payload, created_at=now
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def for_aggregate(self, aggregate_id: str) -> list[OutboxRow]:
        return list(
            self.session.scalars(
                select(OutboxRow).where(OutboxRow.aggregate_id == aggregate_id).order_by(OutboxRow.created_at)
            )
        )

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


class DeadLetterRepository(_Repository):
    def add(self, task_name: str, args: Sequence[Any], error: str, attempts: int, now: datetime) -> None:
        self.session.add(
            DeadLetterRow(
                task_name=task_name, args=list(args), error=error, attempts=attempts, created_at=now
            )
        )
        self.session.flush()

    def all(self) -> list[DeadLetterRow]:
        return list(self.session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)))

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(DeadLetterRow)) or 0)
