"""Response models of the HTTP API (they make the published OpenAPI document).

Meeting records follow ../shared/schema/meeting-record.schema.json; the models are open (``extra="allow"``)
and lenient on enumerations so that a field the extractor adds later passes through instead of failing the
response. Routes serialise with ``exclude_unset``: a key the record does not have is not invented as null.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Health",
    "MeetingDetail",
    "MeetingPage",
    "MeetingRecord",
    "MergeLink",
    "Participant",
    "Person",
    "PersonPage",
    "SourceHealthOut",
    "SourceList",
    "SourceRef",
    "StatusOut",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Location(_Open):
    city: str | None = None
    country: str | None = None


class Participant(_Open):
    name: str | None = None
    name_as_printed: str | None = None
    aliases: list[str] = Field(default_factory=list)
    title: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-3")
    org: str | None = None
    role: str = Field(description="the schema's role enum, e.g. head_of_state, foreign_minister")
    person_id: str | None = None


class SourceRef(_Open):
    url: str
    publisher: str | None = None
    published_at: str | None = None
    language: str | None = None
    title: str | None = None
    evidence: str | None = Field(default=None, description="the sentence(s) that state the meeting")
    merge_rule: str | None = Field(default=None, description="the merge rule that attached this report")


class Visit(_Open):
    visitor: str | None = None
    host: str | None = None
    type: str | None = None


class MeetingRecord(_Open):
    id: str
    status: str = Field(description="held | planned")
    date: str | None = Field(description="YYYY-MM-DD")
    mode: str = Field(description="in_person | phone | video")
    location: Location | None = None
    participants: list[Participant]
    level: str | None = Field(default=None, description="tier of the most senior participant")
    visit: Visit | None = None
    sidelines_of: str | None = None
    topics: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)


class MeetingPage(BaseModel):
    items: list[MeetingRecord]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class MergeLink(BaseModel):
    document_id: int
    source_id: str | None
    url: str
    merge_rule: str
    rule_explained: str
    linked_at: datetime


class MergeExplanation(BaseModel):
    summary: str
    links: list[MergeLink]


class MeetingDetail(MeetingRecord):
    created_at: datetime
    updated_at: datetime
    merge: MergeExplanation


class SourceHealthOut(BaseModel):
    id: str
    name: str | None
    country: str | None
    language: str | None
    kind: str | None
    url: str | None
    enabled: bool = Field(description="enabled in the source registry file")
    state: str = Field(
        description="ok | failing | broken | disabled (410 Gone, or switched off by an operator)"
    )
    last_success_at: datetime | None
    last_polled_at: datetime | None
    next_check_at: datetime | None
    consecutive_errors: int
    consecutive_empty: int
    last_error: str | None
    items: int = Field(description="documents found through this source")
    documents: dict[str, int] = Field(description="documents by status (pending, fetched, failed, dead)")
    meetings: int


class SourceList(BaseModel):
    items: list[SourceHealthOut]


class Person(BaseModel):
    person_id: str
    name: str
    variants: list[str]
    country: str | None
    org: str | None
    role: str
    office: str
    start: date | None
    end: date | None


class PersonPage(BaseModel):
    items: list[Person]
    total: int
    next_offset: int | None


class Health(BaseModel):
    status: str = Field(description="ok | degraded")
    database: str
    broker: str
    details: dict[str, Any] = Field(default_factory=dict)


# --- GET /api/status (services.store.status.health_summary) -----------------------------------------------


class BrokenSourceOut(BaseModel):
    id: str
    url: str | None
    since: datetime | None = Field(description="when the source turned broken (its source.broken event)")
    last_error: str | None
    consecutive_errors: int
    consecutive_empty: int
    last_success_at: datetime | None


class SourceStates(BaseModel):
    total: int
    states: dict[str, int] = Field(description="sources per state: ok, failing, broken, disabled")
    broken: list[BrokenSourceOut]


class DeadLetterOut(BaseModel):
    id: int
    task: str
    args: list[Any]
    error: str
    attempts: int
    at: datetime


class DeadLetters(BaseModel):
    count: int = Field(description="task deliveries given up (poison messages, retries exhausted)")
    deliveries_dead: int = Field(description="alert deliveries given up")
    recent: list[DeadLetterOut] = Field(description="the most recent dead letters, newest first")


class DocumentBacklog(BaseModel):
    fetch: int
    parse: int
    store: int


class DeliveryBacklog(BaseModel):
    pending: int
    due: int
    retrying: int
    held: int = Field(description="deliveries held back for a disabled (410) endpoint")
    oldest_pending_at: datetime | None


class Backlog(BaseModel):
    documents: DocumentBacklog
    deliveries: DeliveryBacklog


class StatusOut(BaseModel):
    generated_at: datetime
    attention: list[str] = Field(description="what needs the operator, in words; empty when healthy")
    sources: SourceStates
    dead_letters: DeadLetters
    backlog: Backlog
