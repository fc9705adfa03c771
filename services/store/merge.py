"""Meeting merge: is this claim a meeting we already hold? Pure decisions, no I/O.

The heuristic (``decide``):

1. A claim has an *identity*: its parties (states as ISO3, organisations as ``ORG:NAME``) sorted, its date
   and its mode. Two claims with the same identity are the same meeting (rule ``same_key``).
2. Otherwise a claim joins an existing meeting with the same parties, a date at most one day away (the two
   sides publish in different time zones, or a day late) and a compatible mode (rule ``date_within_1d``). The
   closest date wins; among equals, the first candidate (the repository lists the oldest first).
3. A claim with fewer than two parties or without a date cannot be matched safely: it stays a meeting of its
   own, keyed on the document and its position (rule ``unmatched``).
4. Anything else starts a new meeting (rule ``new``).

Modes are compatible when equal: a phone call and a visit on consecutive days are two meetings.

``merge_record`` folds a claim's record into a meeting's record (fill gaps, union lists) and says whether the
meeting changed materially (what an alert would care about), as opposed to only gaining a source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.core.domain import Participant, level_of

__all__ = [
    "MATERIAL_FIELDS",
    "Candidate",
    "ClaimFacts",
    "MergeDecision",
    "decide",
    "facts_of",
    "meeting_id_for",
    "merge_record",
    "strip_sources",
]

MAX_DAY_GAP = 1
MATERIAL_FIELDS = ("status", "date", "mode", "location", "participants", "visit", "sidelines_of")


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    """What the merge looks at in one claim."""

    parties: tuple[str, ...]
    date: date | None
    mode: str
    status: str
    level: str
    identity_key: str

    @property
    def parties_key(self) -> str:
        return "|".join(self.parties)

    @property
    def matchable(self) -> bool:
        return len(self.parties) >= 2 and self.date is not None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored meeting that could be the same as the claim."""

    id: str
    parties: str
    date: date | None
    mode: str


@dataclass(frozen=True, slots=True)
class MergeDecision:
    """``meeting_id`` None means: create a meeting keyed ``identity_key``."""

    meeting_id: str | None
    rule: str
    identity_key: str


def facts_of(record: dict[str, Any], fallback_key: str) -> ClaimFacts:
    """The merge facts of a schema-shaped record; ``fallback_key`` identifies an unmatchable claim."""
    participants = [Participant.from_record(p) for p in record.get("participants") or []]
    parties = tuple(sorted({p.party for p in participants if p.party}))
    day = date.fromisoformat(record["date"]) if record.get("date") else None
    mode = str(record.get("mode") or "in_person")
    status = str(record.get("status") or "held")
    level = str(record.get("level") or level_of([p.role for p in participants]))
    if len(parties) >= 2 and day is not None:
        key = f"{'|'.join(parties)}@{day.isoformat()}#{mode}"
    else:
        key = f"unmatched:{fallback_key}"
    return ClaimFacts(parties=parties, date=day, mode=mode, status=status, level=level, identity_key=key)


def meeting_id_for(identity_key: str) -> str:
    """A stable meeting id: the same first claim gives the same id on every database and every re-run."""
    return "m" + hashlib.sha256(identity_key.encode("utf-8")).hexdigest()[:24]


def decide(facts: ClaimFacts, candidates: Iterable[Candidate]) -> MergeDecision:
    """Which meeting the claim belongs to, and by which rule (see the module docstring)."""
    if not facts.matchable:
        return MergeDecision(None, "unmatched", facts.identity_key)
    assert facts.date is not None
    best: tuple[int, Candidate] | None = None
    for c in candidates:
        if c.parties != facts.parties_key or c.date is None or not _modes_compatible(c.mode, facts.mode):
            continue
        gap = abs((c.date - facts.date).days)
        if gap <= MAX_DAY_GAP and (best is None or gap < best[0]):
            best = (gap, c)
    if best is None:
        return MergeDecision(None, "new", facts.identity_key)
    gap, match = best
    return MergeDecision(match.id, "same_key" if gap == 0 else "date_within_1d", facts.identity_key)


def _modes_compatible(a: str, b: str) -> bool:
    return a == b


def strip_sources(record: dict[str, Any]) -> dict[str, Any]:
    """A meeting's own record: sources live in ``meeting_source``, one row per report."""
    return {k: v for k, v in record.items() if k not in ("sources", "id", "explain")}


def _same_person(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same side and role, and the same person (registry id, else name) unless one report left it unnamed."""
    if (a.get("country"), a.get("org"), a.get("role")) != (b.get("country"), b.get("org"), b.get("role")):
        return False
    for key in ("person_id", "name"):
        if a.get(key) and b.get(key):
            return bool(a[key] == b[key])
    return True


def _union(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    out = list(a)
    out.extend(x for x in b if x not in out)
    return out


def merge_record(meeting: dict[str, Any], claim: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Fold ``claim`` into ``meeting``; return the new record and whether it changed materially.

    Known values are never overwritten by another report (the first report wins, later ones fill gaps), except
    ``status``: a meeting once reported as held stays held, so ``planned`` upgrades to ``held``. Participants
    are united by side, role and person (an unnamed one matches a named one), and a later report fills their
    gaps. Topics and platforms are united. The result never depends on how often the same claim is
    merged.
    """
    claim = strip_sources(claim)
    merged = dict(meeting)
    for key, value in claim.items():
        if key == "participants":
            continue
        if key in ("topics", "platforms"):
            merged[key] = _union(merged.get(key) or [], value or [])
        elif key == "status":
            merged[key] = "held" if "held" in (merged.get(key), value) else (merged.get(key) or value)
        elif merged.get(key) in (None, "", [], {}) and value not in (None, "", [], {}):
            merged[key] = value
    people: list[dict[str, Any]] = [dict(p) for p in merged.get("participants") or []]
    for p in claim.get("participants") or []:
        same = next((q for q in people if _same_person(q, p)), None)
        if same is None:
            people.append(dict(p))
            continue
        for k, v in p.items():
            if same.get(k) in (None, "", []) and v not in (None, "", []):
                same[k] = v
    merged["participants"] = people
    merged["level"] = level_of([str(p.get("role") or "official") for p in people])
    changed = any(merged.get(k) != meeting.get(k) for k in MATERIAL_FIELDS)
    return merged, changed
