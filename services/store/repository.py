"""Repositories: all SQL of the pipeline. They add and flush; the unit of work commits.

Upserts are ``INSERT .. ON CONFLICT`` on both backends (the Postgres and SQLite dialects share the syntax),
so a redelivered task, a second beat or a duplicate inside one batch never fails and never doubles a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.store.merge import Candidate, ClaimFacts
from services.store.models import (
    AlertedRow,
    Base,
    ChangeLogRow,
    DeadLetterRow,
    DeliveryLogRow,
    DeliveryRow,
    DocumentRow,
    EndpointRow,
    FetchHostRow,
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
    "HostRepository",
    "SOURCE_FIELDS",
    "ChangeLogRepository",
    "DeliveryRepository",
    "MergeRepository",
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

    def state_counts(self) -> dict[str, int]:
        """Sources per state; a source switched off (``enabled`` false) counts as ``disabled``."""
        state = case((SourceRow.enabled.is_(False), "disabled"), else_=SourceRow.state)
        rows = self.session.execute(select(state, func.count()).group_by(state)).all()
        return {str(s): int(n) for s, n in rows}


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

    def backlog(self) -> dict[str, int]:
        """Documents waiting for a stage: to fetch (``pending``), to parse (fetched, parse pending), to store
        (parsed, not stored)."""
        fetched = DocumentRow.status == "fetched"
        unstored = DocumentRow.stored_at.is_(None)
        row = self.session.execute(
            select(
                func.count().filter(DocumentRow.status == "pending"),
                func.count().filter(fetched, DocumentRow.parse_status == "pending"),
                func.count().filter(fetched, DocumentRow.parse_status == "ok", unstored),
            )
        ).one()
        return {"fetch": int(row[0]), "parse": int(row[1]), "store": int(row[2])}

    def first_seen(self, source_id: str, since: datetime) -> list[datetime]:
        """When this source's documents were first seen (created), since ``since``: the publishing rate of a
        listing that gives no dates."""
        return list(
            self.session.scalars(
                select(DocumentRow.created_at).where(
                    DocumentRow.source_id == source_id, DocumentRow.created_at >= since
                )
            )
        )

    def known_guids(self, source_id: str, guids: Sequence[str]) -> set[str]:
        """The GUIDs among ``guids`` that this source already has documents for."""
        if not guids:
            return set()
        return set(
            self.session.scalars(
                select(DocumentRow.guid).where(
                    DocumentRow.source_id == source_id, DocumentRow.guid.in_(list(set(guids)))
                )
            )
        )

    def has_url(self, canonical_url: str) -> bool:
        return (
            self.session.scalar(select(DocumentRow.id).where(DocumentRow.canonical_url == canonical_url))
            is not None
        )

    def same_content(self, source_id: str | None, sha256: str, exclude_id: int) -> int | None:
        """Another fetched document of this source with exactly these bytes (a moved item), if any."""
        if source_id is None:
            return None
        return self.session.scalar(
            select(DocumentRow.id)
            .where(
                DocumentRow.source_id == source_id,
                DocumentRow.sha256 == sha256,
                DocumentRow.status == "fetched",
                DocumentRow.id != exclude_id,
            )
            .order_by(DocumentRow.id)
            .limit(1)
        )


class MeetingRepository(_Repository):
    def get(self, meeting_id: str, *, for_update: bool = False) -> MeetingRow | None:
        return self.session.get(MeetingRow, meeting_id, with_for_update=for_update)

    def get_by_key(self, identity_key: str) -> MeetingRow | None:
        return self.session.scalar(select(MeetingRow).where(MeetingRow.identity_key == identity_key))

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

    def latest(self, type_: str, aggregate_ids: Sequence[str]) -> dict[str, datetime]:
        """When each of ``aggregate_ids`` last got an outbox row of ``type_`` (absent: never)."""
        if not aggregate_ids:
            return {}
        rows = self.session.execute(
            select(OutboxRow.aggregate_id, func.max(OutboxRow.created_at))
            .where(OutboxRow.type == type_, OutboxRow.aggregate_id.in_(list(aggregate_ids)))
            .group_by(OutboxRow.aggregate_id)
        ).all()
        return {str(a): t for a, t in rows if t is not None}


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

    def recent(self, limit: int) -> list[DeadLetterRow]:
        """The ``limit`` newest dead letters, newest first."""
        newest = (DeadLetterRow.created_at.desc(), DeadLetterRow.id.desc())
        return list(self.session.scalars(select(DeadLetterRow).order_by(*newest).limit(limit)))


class HostRepository(_Repository):
    """Per-host politeness state (``fetch_host``), used by ``services.fetcher.polite`` in short transactions
    of its own (never inside a task's unit of work, so a reservation is visible to other workers at once)."""

    def get(self, host: str) -> FetchHostRow | None:
        return self.session.get(FetchHostRow, host)

    def _locked(self, host: str, now: datetime) -> FetchHostRow:
        """The host's row, created if absent, locked for this transaction (Postgres row lock; SQLite takes
        the database write lock at the first write)."""
        self.session.execute(
            _insert(self.session, FetchHostRow)
            .values(host=host, updated_at=now)
            .on_conflict_do_nothing(index_elements=["host"])
        )
        row = self.session.scalar(select(FetchHostRow).where(FetchHostRow.host == host).with_for_update())
        assert row is not None
        return row

    def reserve(
        self, host: str, now: datetime, spacing_s: float, max_wait_s: float
    ) -> tuple[float | None, datetime | None]:
        """Reserve the host's next request slot: (seconds to wait, None), or (None, held until) when the
        host is on hold or the slot is more than ``max_wait_s`` away (nothing is reserved then)."""
        row = self._locked(host, now)
        if row.hold_until is not None and row.hold_until > now:
            return None, row.hold_until
        start = max(row.next_at or now, now)
        wait = (start - now).total_seconds()
        if wait > max_wait_s:
            return None, start
        row.next_at = start + timedelta(seconds=spacing_s)
        row.updated_at = now
        self.session.flush()
        return wait, None

    def release(self, host: str, done: datetime, spacing_s: float) -> None:
        """A request finished: the next one starts no sooner than ``spacing_s`` after it (slow answers
        widen the gap, so one host sees one request at a time)."""
        row = self._locked(host, done)
        later = done + timedelta(seconds=spacing_s)
        if row.next_at is None or row.next_at < later:
            row.next_at = later
        row.updated_at = done
        self.session.flush()

    def hold(self, host: str, until: datetime, reason: str, now: datetime) -> None:
        """Leave the host alone until ``until`` (a longer hold already in place stays)."""
        row = self._locked(host, now)
        if row.hold_until is None or row.hold_until < until:
            row.hold_until = until
            row.hold_reason = reason[:2000]
        row.updated_at = now
        self.session.flush()

    def save_robots(
        self, host: str, status: int | None, body: str | None, fetched_at: datetime, expires_at: datetime
    ) -> None:
        row = self._locked(host, fetched_at)
        row.robots_status = status
        row.robots_body = body
        row.robots_fetched_at = fetched_at
        row.robots_expires_at = expires_at
        row.updated_at = fetched_at
        self.session.flush()

    def holds(self, now: datetime) -> list[FetchHostRow]:
        """Hosts on hold at ``now`` (for the operator)."""
        return list(
            self.session.scalars(
                select(FetchHostRow).where(FetchHostRow.hold_until > now).order_by(FetchHostRow.host)
            )
        )


# --- Issue 5: merge and versions, syndicated copies, change log, alert deliveries ---------------------------


class MergeRepository(_Repository):
    """The merge's reads and writes beyond ``MeetingRepository``: candidates with their people, the links of
    a document or a meeting, syndicated-copy lookups."""

    def candidates(self, parties_key: str, day: date) -> list[Candidate]:
        """Live (not retracted) meetings of these parties within a day of ``day``, oldest first."""
        from services.store.merge import people_of, tiers_of

        rows = self.session.execute(
            select(
                MeetingRow.id,
                MeetingRow.parties,
                MeetingRow.date,
                MeetingRow.mode,
                MeetingRow.record,
                MeetingRow.pinned,
            )
            .where(
                MeetingRow.parties == parties_key,
                MeetingRow.date.between(day - timedelta(days=1), day + timedelta(days=1)),
                MeetingRow.retracted_at.is_(None),
            )
            .order_by(MeetingRow.created_at, MeetingRow.id)
        ).all()
        return [
            Candidate(
                id=r[0],
                parties=r[1],
                date=r[2],
                mode=r[3],
                people=people_of(r[4]),
                pinned=bool(r[5]),
                tiers=tiers_of(r[4]),
            )
            for r in rows
        ]

    def lock_parties(self, parties_key: str) -> None:
        """Serialise merges of the same parties until the transaction ends (Postgres advisory lock; SQLite has
        one writer anyway): two sides' reports stored at the same moment must see each other's meeting."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
                {"ns": MERGE_LOCK_NS, "key": parties_key},
            )

    def links_of_document(self, document_id: int) -> list[MeetingSourceRow]:
        return list(
            self.session.scalars(
                select(MeetingSourceRow)
                .where(MeetingSourceRow.document_id == document_id)
                .order_by(MeetingSourceRow.id)
            )
        )

    def links_of_meeting(self, meeting_id: str) -> list[MeetingSourceRow]:
        return list(
            self.session.scalars(
                select(MeetingSourceRow)
                .where(MeetingSourceRow.meeting_id == meeting_id)
                .order_by(MeetingSourceRow.id)
            )
        )

    def link(
        self,
        meeting_id: str,
        document_id: int,
        claim_index: int,
        evidence: str | None,
        record: dict[str, Any],
        rule: str,
        now: datetime,
        *,
        pinned: bool = False,
    ) -> tuple[bool, int]:
        """Attach the report to the meeting (or refresh its evidence): (whether the link is new, its id)."""
        stmt = _insert(self.session, MeetingSourceRow).values(
            meeting_id=meeting_id,
            document_id=document_id,
            claim_index=claim_index,
            evidence=evidence,
            record=record,
            merge_rule=rule,
            pinned=pinned,
            created_at=now,
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["meeting_id", "document_id"]).returning(
            MeetingSourceRow.id
        )
        row = self.session.execute(stmt).first()
        if row is not None:
            return True, int(row[0])
        link_id = self.session.scalar(
            update(MeetingSourceRow)
            .where(MeetingSourceRow.meeting_id == meeting_id, MeetingSourceRow.document_id == document_id)
            .values(evidence=evidence, record=record, claim_index=claim_index)
            .returning(MeetingSourceRow.id)
        )
        return False, int(link_id or 0)

    def unlink(self, link_id: int) -> None:
        self.session.execute(delete(MeetingSourceRow).where(MeetingSourceRow.id == link_id))

    def insert_meeting(
        self,
        meeting_id: str,
        facts: ClaimFacts,
        record: dict[str, Any],
        now: datetime,
        *,
        pinned: bool = False,
    ) -> bool:
        """Create the meeting keyed ``facts.identity_key``; False when it exists (a concurrent or earlier
        claim made it)."""
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
                version=0,
                pinned=pinned,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["identity_key"])
            .returning(MeetingRow.id)
        )
        return self.session.execute(stmt).first() is not None

    def find_copy(
        self, document_id: int, text_sha256: str | None, simhash: int | None, bands: Sequence[int]
    ) -> list[tuple[int, int | None, str | None]]:
        """Stored documents (other than this one) with the same normalised text or sharing a SimHash band:
        (id, simhash, text_sha256), oldest first. The caller applies the distance test."""
        conds = []
        if text_sha256:
            conds.append(DocumentRow.text_sha256 == text_sha256)
        if simhash is not None:
            cols = (DocumentRow.sim_b0, DocumentRow.sim_b1, DocumentRow.sim_b2, DocumentRow.sim_b3)
            conds.extend(col == band for col, band in zip(cols, bands, strict=True))
        if not conds:
            return []
        rows = self.session.execute(
            select(DocumentRow.id, DocumentRow.simhash, DocumentRow.text_sha256)
            .where(or_(*conds), DocumentRow.id != document_id, DocumentRow.stored_at.is_not(None))
            .order_by(DocumentRow.id)
            .limit(200)
        ).all()
        return [(int(r[0]), r[1], r[2]) for r in rows]

    def stored_document_ids(self, since: datetime | None) -> list[int]:
        """Parsed documents with a body (for reparse), fetched on or after ``since``."""
        stmt = select(DocumentRow.id).where(DocumentRow.status == "fetched", DocumentRow.body.is_not(None))
        if since is not None:
            stmt = stmt.where(DocumentRow.fetched_at >= since)
        return [int(i) for i in self.session.scalars(stmt.order_by(DocumentRow.id))]


class ChangeLogRepository(_Repository):
    """``change_log``: append-only; ``id`` is the cursor downstream tails by."""

    def add(
        self, aggregate_id: str, type_: str, document_id: int | None, payload: dict[str, Any], now: datetime
    ) -> int:
        row = ChangeLogRow(
            aggregate_id=aggregate_id, type=type_, document_id=document_id, payload=payload, created_at=now
        )
        self.session.add(row)
        self.session.flush()
        return int(row.id)

    def for_aggregate(self, aggregate_id: str) -> list[ChangeLogRow]:
        return list(
            self.session.scalars(
                select(ChangeLogRow)
                .where(ChangeLogRow.aggregate_id == aggregate_id)
                .order_by(ChangeLogRow.id)
            )
        )

    def iter_since(
        self, *, after_id: int = 0, since: datetime | None = None, batch: int = 500
    ) -> Iterator[ChangeLogRow]:
        """Entries after ``after_id`` (and created at or after ``since``), in commit order."""
        last = after_id
        while True:
            stmt = select(ChangeLogRow).where(ChangeLogRow.id > last)
            if since is not None:
                stmt = stmt.where(ChangeLogRow.created_at >= since)
            rows = list(self.session.scalars(stmt.order_by(ChangeLogRow.id).limit(batch)))
            if not rows:
                return
            yield from rows
            last = int(rows[-1].id)

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ChangeLogRow)) or 0)


class DeliveryRepository(_Repository):
    """Alert deliveries: planned in the store transaction, claimed and finished by the relay."""

    def alerted_rules(self, meeting_id: str) -> set[str]:
        return set(self.session.scalars(select(AlertedRow.rule).where(AlertedRow.meeting_id == meeting_id)))

    def mark_alerted(self, meeting_id: str, rules: Iterable[str], outbox_id: str, now: datetime) -> None:
        for rule in rules:
            self.session.execute(
                _insert(self.session, AlertedRow)
                .values(meeting_id=meeting_id, rule=rule, outbox_id=outbox_id, created_at=now)
                .on_conflict_do_nothing(index_elements=["meeting_id", "rule"])
            )

    def add(self, outbox_id: str, channel_key: str, kind: str, rules: Sequence[str], now: datetime) -> bool:
        """One delivery per (outbox row, destination); False when it was planned already."""
        stmt = (
            _insert(self.session, DeliveryRow)
            .values(
                outbox_id=outbox_id,
                channel_key=channel_key,
                kind=kind,
                rules=list(rules),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["outbox_id", "channel_key"])
            .returning(DeliveryRow.id)
        )
        return self.session.execute(stmt).first() is not None

    def claim_due(self, now: datetime, lease_s: float, limit: int = 100) -> list[tuple[int, str]]:
        """Claim due pending rows for ``lease_s``: (id, lease token) each. Postgres skips rows another relay
        has locked (``FOR UPDATE SKIP LOCKED``); SQLite serialises writers, so the update is the claim."""
        stmt = (
            select(DeliveryRow.id)
            .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = [int(i) for i in self.session.scalars(stmt)]
        out: list[tuple[int, str]] = []
        for delivery_id in ids:
            token = str(uuid.uuid4())
            result = self.session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == delivery_id,
                    DeliveryRow.status == "pending",
                    DeliveryRow.next_attempt_at <= now,
                )
                .values(lease_token=token, next_attempt_at=now + timedelta(seconds=lease_s), updated_at=now)
            )
            if getattr(result, "rowcount", 0):
                out.append((delivery_id, token))
        return out

    def take(self, delivery_id: int, token: str, now: datetime, lease_s: float) -> DeliveryRow | None:
        """Swap the relay's lease token for a fresh one and count the attempt: only one sender wins a
        claim (a redelivered task message finds the token gone). None when the row is not ours to send."""
        mine = str(uuid.uuid4())
        result = self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.id == delivery_id,
                DeliveryRow.status == "pending",
                DeliveryRow.lease_token == token,
            )
            .values(
                lease_token=mine,
                attempts=DeliveryRow.attempts + 1,
                next_attempt_at=now + timedelta(seconds=lease_s),
                updated_at=now,
            )
        )
        if not getattr(result, "rowcount", 0):
            return None
        self.session.flush()
        row = self.session.get(DeliveryRow, delivery_id, populate_existing=True)
        return row

    def get(self, delivery_id: int) -> DeliveryRow | None:
        return self.session.get(DeliveryRow, delivery_id)

    def outbox(self, outbox_id: str) -> OutboxRow | None:
        return self.session.get(OutboxRow, outbox_id)

    def finish(
        self,
        delivery_id: int,
        token: str,
        *,
        status: str,
        next_attempt_at: datetime | None,
        http_status: int | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        """Record the outcome of our attempt (only while we still hold the lease)."""
        values: dict[str, Any] = {
            "status": status,
            "lease_token": None,
            "last_status": http_status,
            "last_error": error,
            "updated_at": now,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if status == "sent":
            values["sent_at"] = now
        result = self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.lease_token == token)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    def log(
        self,
        delivery_id: int,
        attempt: int,
        http_status: int | None,
        outcome: str,
        error: str | None,
        duration_ms: int,
        now: datetime,
    ) -> None:
        self.session.add(
            DeliveryLogRow(
                delivery_id=delivery_id,
                attempt=attempt,
                http_status=http_status,
                outcome=outcome,
                error=error,
                duration_ms=duration_ms,
                created_at=now,
            )
        )
        self.session.flush()

    def attempts_of(self, delivery_id: int) -> list[DeliveryLogRow]:
        return list(
            self.session.scalars(
                select(DeliveryLogRow)
                .where(DeliveryLogRow.delivery_id == delivery_id)
                .order_by(DeliveryLogRow.id)
            )
        )

    def endpoint_disabled(self, channel_key: str) -> bool:
        row = self.session.get(EndpointRow, channel_key)
        return bool(row is not None and row.disabled)

    def set_endpoint(self, channel_key: str, disabled: bool, reason: str | None, now: datetime) -> None:
        stmt = _insert(self.session, EndpointRow).values(
            channel_key=channel_key, disabled=disabled, reason=reason, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["channel_key"],
            set_={"disabled": stmt.excluded.disabled, "reason": stmt.excluded.reason, "updated_at": now},
        )
        self.session.execute(stmt)

    def all(self) -> list[DeliveryRow]:
        return list(self.session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))

    def counts(self) -> dict[str, int]:
        rows = self.session.execute(
            select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def backlog(self, now: datetime) -> dict[str, Any]:
        """Deliveries not yet sent: pending (``due`` now, ``retrying`` after a failed attempt), ``held`` for a
        disabled endpoint, and the creation time of the oldest pending one."""
        pending = DeliveryRow.status == "pending"
        row = self.session.execute(
            select(
                func.count().filter(pending),
                func.count().filter(pending, DeliveryRow.next_attempt_at <= now),
                func.count().filter(pending, DeliveryRow.attempts > 0),
                func.count().filter(DeliveryRow.status == "disabled"),
                func.min(DeliveryRow.created_at).filter(pending),
            )
        ).one()
        return {
            "pending": int(row[0]),
            "due": int(row[1]),
            "retrying": int(row[2]),
            "held": int(row[3]),
            "oldest_pending_at": row[4],
        }

    def add_operator_event(self, event_id: str, type_: str, payload: dict[str, Any], now: datetime) -> bool:
        """An operator event (its id is deterministic, so the same event is written once) with its one
        delivery to the operator channel; False when it exists."""
        stmt = (
            _insert(self.session, OutboxRow)
            .values(id=event_id, aggregate_id="operator", type=type_, payload=payload, created_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(OutboxRow.id)
        )
        if self.session.execute(stmt).first() is None:
            return False
        self.add(event_id, OPERATOR_CHANNEL, "new", ["operator"], now)
        return True

    def broken_sources(self) -> list[SourceRow]:
        return list(
            self.session.scalars(select(SourceRow).where(SourceRow.state == "broken").order_by(SourceRow.id))
        )

    def dead_letter_total(self) -> int:
        dead = self.session.scalar(
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "dead")
        )
        return int(dead or 0) + int(self.session.scalar(select(func.count()).select_from(DeadLetterRow)) or 0)

    def without_operator_delivery(self, types: Sequence[str], since: datetime) -> list[str]:
        """Ids of outbox rows of ``types`` written since ``since`` that have no operator delivery yet."""
        planned = select(DeliveryRow.outbox_id).where(DeliveryRow.channel_key == OPERATOR_CHANNEL)
        return list(
            self.session.scalars(
                select(OutboxRow.id)
                .where(
                    OutboxRow.type.in_(list(types)),
                    OutboxRow.created_at >= since,
                    OutboxRow.id.not_in(planned),
                )
                .order_by(OutboxRow.created_at, OutboxRow.id)
            )
        )

    def endpoints(self) -> list[tuple[EndpointRow, int]]:
        """Every endpoint row (disabled or re-enabled) with its count of deliveries left ``disabled``."""
        held = (
            select(DeliveryRow.channel_key, func.count().label("n"))
            .where(DeliveryRow.status == "disabled")
            .group_by(DeliveryRow.channel_key)
            .subquery()
        )
        rows = self.session.execute(
            select(EndpointRow, func.coalesce(held.c.n, 0))
            .outerjoin(held, held.c.channel_key == EndpointRow.channel_key)
            .order_by(EndpointRow.channel_key)
        ).all()
        return [(row, int(n)) for row, n in rows]

    def enable_endpoint(self, channel_key: str, now: datetime, *, resend: bool = False) -> int | None:
        """Re-enable a disabled endpoint. None when it is not disabled; else the number of its ``disabled``
        deliveries put back to pending (due now) when ``resend``, 0 otherwise."""
        done = self.session.execute(
            update(EndpointRow)
            .where(EndpointRow.channel_key == channel_key, EndpointRow.disabled.is_(True))
            .values(disabled=False, reason=None, updated_at=now)
        )
        if not getattr(done, "rowcount", 0):
            return None
        if not resend:
            return 0
        requeued = self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.channel_key == channel_key, DeliveryRow.status == "disabled")
            .values(status="pending", next_attempt_at=now, lease_token=None)
        )
        return int(getattr(requeued, "rowcount", 0))


MERGE_LOCK_NS = 0x6D657267  # "merg": the advisory-lock namespace of merges (two-int form)

OPERATOR_CHANNEL = "operator"
"""Channel key of operator events: sent to ``settings.operator_webhook``, never to subscribers."""
