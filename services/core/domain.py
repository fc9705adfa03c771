"""Domain types shared by every stage. Plain frozen dataclasses: no Celery, httpx or SQLAlchemy here.

    SourceDef      a source definition from the YAML registry (see services/fetcher/sources.py)
    FetchedDoc     a raw document as fetched (bytes + headers + sha256)
    Article        what the parser makes of a document: title, text, language, publication date
    Participant    one official taking part in a meeting
    MeetingClaim   one meeting as one report states it (evidence included); the store merges claims
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

__all__ = [
    "ROLES",
    "Role",
    "LEVELS",
    "MODES",
    "Article",
    "ArticleSelectors",
    "FetchedDoc",
    "Participant",
    "MeetingClaim",
    "level_of",
]

Mode = Literal["in_person", "phone", "video"]
Status = Literal["held", "planned"]

Role = Literal[
    "head_of_state",
    "deputy_head_of_state",
    "head_of_government",
    "deputy_head_of_government",
    "foreign_minister",
    "deputy_foreign_minister",
    "minister",
    "ambassador",
    "envoy",
    "legislator",
    "org_head",
    "official",
]
ROLES: tuple[str, ...] = get_args(Role)
LEVELS: tuple[str, ...] = (
    "head_of_state",
    "head_of_government",
    "minister",
    "deputy_minister",
    "ambassador",
    "other",
)
MODES: tuple[str, ...] = ("in_person", "phone", "video")

_ROLE_LEVEL = {
    "head_of_state": "head_of_state",
    "org_head": "head_of_government",
    "deputy_head_of_state": "head_of_government",
    "head_of_government": "head_of_government",
    "deputy_head_of_government": "minister",
    "foreign_minister": "minister",
    "minister": "minister",
    "deputy_foreign_minister": "deputy_minister",
    "ambassador": "ambassador",
    "envoy": "ambassador",
}


def level_of(roles: list[str]) -> str:
    """Tier of the highest-ranking participant (the schema's ``level``), for alert rules."""
    ranks = [LEVELS.index(_ROLE_LEVEL.get(r, "other")) for r in roles]
    return LEVELS[min(ranks)] if ranks else "other"


@dataclass(frozen=True, slots=True)
class FetchedDoc:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True, slots=True)
class ArticleSelectors:
    """CSS selectors of a source's article pages. Empty fields fall back to the general extractor."""

    title: str | None = None
    body: str | None = None
    date: str | None = None
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """The text of one report, ready for meeting extraction."""

    text: str
    title: str | None = None
    url: str | None = None
    language: str | None = None
    published: date | None = None
    publisher: str | None = None
    source_country: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    role: str
    name: str | None = None
    name_as_printed: str | None = None
    title: str | None = None
    country: str | None = None
    org: str | None = None
    person_id: str | None = None
    aliases: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "name_as_printed": self.name_as_printed,
            "aliases": list(self.aliases),
            "title": self.title,
            "country": self.country,
            "org": self.org,
            "role": self.role,
            "person_id": self.person_id,
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Participant:
        return cls(
            role=d.get("role") or "official",
            name=d.get("name"),
            name_as_printed=d.get("name_as_printed"),
            title=d.get("title"),
            country=d.get("country"),
            org=d.get("org"),
            person_id=d.get("person_id"),
            aliases=tuple(d.get("aliases") or ()),
        )

    @property
    def party(self) -> str | None:
        """The state (ISO3) or organisation (``ORG:NAME``) this participant represents."""
        if self.country:
            return self.country
        if self.org:
            return "ORG:" + self.org
        return None


@dataclass(frozen=True, slots=True)
class MeetingClaim:
    """One meeting as one report states it. ``explain``: the cue, title and registry entry behind it."""

    participants: tuple[Participant, ...]
    date: date | None
    mode: Mode = "in_person"
    status: Status = "held"
    city: str | None = None
    location_country: str | None = None
    visit: dict[str, str | None] | None = None
    sidelines_of: str | None = None
    topics: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    evidence: str | None = None
    explain: dict[str, Any] = field(default_factory=dict)

    @property
    def parties(self) -> frozenset[str]:
        return frozenset(p.party for p in self.participants if p.party)

    @property
    def level(self) -> str:
        return level_of([p.role for p in self.participants])

    def to_record(self, source: dict[str, Any] | None = None, explain: bool = False) -> dict[str, Any]:
        """The meeting record of ../shared/schema/meeting-record.schema.json (one source)."""
        rec: dict[str, Any] = {
            "status": self.status,
            "date": self.date.isoformat() if self.date else None,
            "mode": self.mode,
            "location": (
                {"city": self.city, "country": self.location_country}
                if (self.city or self.location_country)
                else None
            ),
            "participants": [p.to_record() for p in self.participants],
            "level": self.level,
            "visit": self.visit,
            "sidelines_of": self.sidelines_of,
            "topics": list(self.topics),
            "platforms": list(self.platforms),
            "sources": [dict(source or {}, evidence=self.evidence)],
        }
        if explain:
            rec["explain"] = self.explain
        return rec
