"""ORM models: the tables behind the pipeline. The schema itself is owned by the Alembic migrations.

source         one row per source definition (synced from the YAML registry) with its polling state
poll_slot      (source, slot) pairs already dispatched: two beats or a re-sent dispatch poll a source once
document       one row per canonical URL: the raw body as fetched, then the parser's claims
meeting        one row per meeting (identity key unique); ``record`` is the merged record without sources
meeting_source the reports a meeting was built from, with the merge rule that attached each one
outbox         events for the alert relay, written in the same transaction as the meeting
dead_letter    task deliveries given up on (poison input, retries exhausted), with their error
fetch_host     per-host politeness: next allowed request, Retry-After hold, cached robots.txt
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "SourceRow",
    "PollSlotRow",
    "DocumentRow",
    "MeetingRow",
    "MeetingSourceRow",
    "OutboxRow",
    "DeadLetterRow",
    "FetchHostRow",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on Postgres (indexable, compact), plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the offset; it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: Json, list[Any]: Json}


class SourceRow(Base):
    __tablename__ = "source"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    definition: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # services.fetcher.schedule.SourceState: ok, failing, broken, disabled
    state: Mapped[str] = mapped_column(String(20), default="ok")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_empty: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivery_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Fetcher politeness and scheduling (revision b1f0e7a2c001).
    # Items per week seen recently (services.fetcher.schedule.items_per_week); None: unknown.
    rate_per_week: Mapped[float | None] = mapped_column(Float)
    # The feed's <ttl> in seconds, kept because a 304 does not repeat it.
    ttl_s: Mapped[float | None] = mapped_column(Float)
    # Last poll sent without validators (servers with broken ETags are caught by a periodic full fetch).
    last_unconditional_at: Mapped[datetime | None]
    polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # `communique backfill` cursor: {"next": url|None, "pages": n, "done": bool, "since": date|None}
    backfill: Mapped[dict[str, Any] | None]
    # WebSub (services.fetcher.websub): the hub the feed advertises and our subscription to it.
    websub_hub: Mapped[str | None] = mapped_column(Text)
    websub_topic: Mapped[str | None] = mapped_column(Text)
    websub_secret: Mapped[str | None] = mapped_column(String(100))
    websub_lease_until: Mapped[datetime | None]


class PollSlotRow(Base):
    __tablename__ = "poll_slot"
    __table_args__ = (UniqueConstraint("source_id", "slot"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    # Epoch seconds of the due time the dispatcher saw; two dispatchers that see the same due time collide
    # here.
    slot: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentRow(Base):
    __tablename__ = "document"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source_id: Mapped[str | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"), index=True)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    guid: Mapped[str | None] = mapped_column(Text)
    # pending -> fetched | failed; dead once dead-lettered
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    http_status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    headers: Mapped[dict[str, Any] | None]
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime | None]
    fetch_error: Mapped[str | None] = mapped_column(Text)
    title_hint: Mapped[str | None] = mapped_column(Text)
    published_hint: Mapped[datetime | None]
    # pending -> ok | error
    parse_status: Mapped[str] = mapped_column(String(20), default="pending")
    parse_error: Mapped[str | None] = mapped_column(Text)
    claims: Mapped[list[Any] | None]
    stored_at: Mapped[datetime | None]
    delivery_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Syndicated copies (issue 5): the normalised article text's hash, its 64-bit SimHash and the SimHash's
    # four 16-bit bands (indexed: two texts within 3 bits share a band), and the document this one copies.
    text_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    simhash: Mapped[int | None] = mapped_column(BigInteger)
    sim_b0: Mapped[int | None] = mapped_column(Integer, index=True)
    sim_b1: Mapped[int | None] = mapped_column(Integer, index=True)
    sim_b2: Mapped[int | None] = mapped_column(Integer, index=True)
    sim_b3: Mapped[int | None] = mapped_column(Integer, index=True)
    copy_of: Mapped[int | None] = mapped_column(BigInteger)


class MeetingRow(Base):
    __tablename__ = "meeting"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    identity_key: Mapped[str] = mapped_column(Text, unique=True)
    # Sorted parties joined by "|": the merge looks candidates up by it.
    parties: Mapped[str] = mapped_column(Text, index=True)
    date: Mapped[date | None] = mapped_column(Date, index=True)
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(30))
    record: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    # Issue 5: bumped on every change (change_log keeps each version); a split-off meeting is pinned (never a
    # merge candidate); a meeting whose every source was withdrawn is retracted, not deleted.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    retracted_at: Mapped[datetime | None]


class MeetingSourceRow(Base):
    __tablename__ = "meeting_source"
    __table_args__ = (UniqueConstraint("meeting_id", "document_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    evidence: Mapped[str | None] = mapped_column(Text)
    record: Mapped[dict[str, Any]]
    merge_rule: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The claim's position in the document, and whether an operator pinned the report to this meeting (split).
    claim_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aggregate_id: Mapped[str] = mapped_column(String(40), index=True)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)


class DeadLetterRow(Base):
    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]]
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FetchHostRow(Base):
    """Per-host politeness state shared by every worker (services.fetcher.polite): the next moment a request
    may start (spacing), a hold asked for by the server (Retry-After), and the cached robots.txt."""

    __tablename__ = "fetch_host"

    # host[:port], lower case
    host: Mapped[str] = mapped_column(String(300), primary_key=True)
    next_at: Mapped[datetime | None]
    hold_until: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # robots.txt as fetched: status (None = unreachable) and body; re-fetched after robots_expires_at
    robots_status: Mapped[int | None] = mapped_column(Integer)
    robots_body: Mapped[str | None] = mapped_column(Text)
    robots_fetched_at: Mapped[datetime | None]
    robots_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# A moved item (new URL, same feed GUID) is recognised by its GUID within its source.
Index("ix_document_source_id_guid", DocumentRow.source_id, DocumentRow.guid)


# --- Issue 5: merge versions, change log, syndicated copies, alert deliveries (revision c2e1f8b3d002) -----


class ChangeLogRow(Base):
    """Every change of a meeting, in commit order: the meeting's version history and the feed downstream
    databases tail (``id`` is the cursor). ``payload`` holds the version, the document and merge rule behind
    the change, what it added, and the public record after it."""

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    aggregate_id: Mapped[str] = mapped_column(String(40), index=True)
    # meeting.created, meeting.updated, meeting.source_added, meeting.source_removed, meeting.split,
    # meeting.retracted
    type: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeliveryRow(Base):
    """One destination of one outbox row; the relay's unit of work. Retries live here (``next_attempt_at``),
    not in the broker."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("outbox_id", "channel_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    outbox_id: Mapped[str] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    channel_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))
    rules: Mapped[list[Any]]
    # pending -> sent | dead | dropped (destination removed from the rules) | disabled (410)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    # Set by the relay's claim; the sender swaps it for its own, so one claim is sent by one process only.
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryLogRow(Base):
    """One row per delivery attempt (what the endpoint answered, and what the relay did next)."""

    __tablename__ = "delivery_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertedRow(Base):
    """(meeting, rule) pairs already alerted: an alert fires once per rule and meeting."""

    __tablename__ = "alerted"
    __table_args__ = (UniqueConstraint("meeting_id", "rule"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(200))
    outbox_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EndpointRow(Base):
    """Destinations an endpoint switched off (410 Gone): no deliveries until an operator re-enables them."""

    __tablename__ = "endpoint"

    channel_key: Mapped[str] = mapped_column(Text, primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
