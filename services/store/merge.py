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
Participants are compatible unless, for some party in both reports, the registry ids both reports give
for it have nobody in common, or (when ids do not decide) the party's most senior participant sits in
another tier (``domain.level_of``: head of state, head of government, minister, ...): the foreign ministers'
talks and the deputy ministers' consultations held the same day are two meetings, and so are a visiting
minister's call on the President and his talks with the Prime Minister. A side with no known role
(``official`` only) is compatible with any.

A meeting an operator split off (``pinned``) is never a candidate: only its own report goes there.

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
    "best_title",
    "decide",
    "facts_of",
    "meeting_id_for",
    "materially_changed",
    "merge_record",
    "participants_compatible",
    "people_of",
    "strip_sources",
    "tiers_of",
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
    # (party, registry person id) of every identified participant
    people: frozenset[tuple[str, str]] = frozenset()
    # (party, tier of its most senior participant) for every party with a known role
    tiers: frozenset[tuple[str, str]] = frozenset()

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
    people: frozenset[tuple[str, str]] = frozenset()
    pinned: bool = False
    tiers: frozenset[tuple[str, str]] = frozenset()


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
    return ClaimFacts(
        parties=parties,
        date=day,
        mode=mode,
        status=status,
        level=level,
        identity_key=key,
        people=people_of(record),
        tiers=tiers_of(record),
    )


def tiers_of(record: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """(party, ``level_of`` its participants) for each party with a role other than ``official``."""
    roles: dict[str, list[str]] = {}
    for raw in record.get("participants") or []:
        p = Participant.from_record(raw)
        if p.party and p.role and p.role != "official":
            roles.setdefault(p.party, []).append(p.role)
    return frozenset((party, level_of(r)) for party, r in roles.items())


def people_of(record: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """(party, person_id) of each participant the registry identified."""
    out: set[tuple[str, str]] = set()
    for raw in record.get("participants") or []:
        p = Participant.from_record(raw)
        if p.party and p.person_id:
            out.add((p.party, p.person_id))
    return frozenset(out)


def participants_compatible(
    a: frozenset[tuple[str, str]],
    b: frozenset[tuple[str, str]],
    a_tiers: frozenset[tuple[str, str]] = frozenset(),
    b_tiers: frozenset[tuple[str, str]] = frozenset(),
) -> bool:
    """Can two reports' participants be one meeting's (see the module docstring)? Registry ids decide for a
    party both identify; otherwise the tiers of the party's most senior participant must agree."""
    ids_a: dict[str, set[str]] = {}
    ids_b: dict[str, set[str]] = {}
    for party, pid in a:
        ids_a.setdefault(party, set()).add(pid)
    for party, pid in b:
        ids_b.setdefault(party, set()).add(pid)
    tier_a, tier_b = dict(a_tiers), dict(b_tiers)
    for party in set(ids_a) | set(ids_b) | set(tier_a) | set(tier_b):
        if party in ids_a and party in ids_b:
            if not ids_a[party] & ids_b[party]:
                return False
        elif party in tier_a and party in tier_b and tier_a[party] != tier_b[party]:
            return False
    return True


def meeting_id_for(identity_key: str) -> str:
    """A stable meeting id: the same first claim gives the same id on every database and every re-run."""
    return "m" + hashlib.sha256(identity_key.encode("utf-8")).hexdigest()[:24]


def decide(facts: ClaimFacts, candidates: Iterable[Candidate]) -> MergeDecision:
    """Which meeting the claim belongs to, and by which rule (see the module docstring)."""
    if not facts.matchable:
        return MergeDecision(None, "unmatched", facts.identity_key)
    assert facts.date is not None
    best: tuple[int, Candidate] | None = None
    key = facts.identity_key
    for c in candidates:
        if c.parties != facts.parties_key or c.date is None or not _modes_compatible(c.mode, facts.mode):
            continue
        if c.pinned:
            continue
        if not participants_compatible(c.people, facts.people, c.tiers, facts.tiers):
            # Another meeting of the same parties that day: its own identity, named after its people.
            sig = sorted(f"{p}:{i}" for p, i in facts.people | facts.tiers)
            key = f"{facts.identity_key}~{','.join(sig)}"
            continue
        gap = abs((c.date - facts.date).days)
        if gap <= MAX_DAY_GAP and (best is None or gap < best[0]):
            best = (gap, c)
    if best is None:
        return MergeDecision(None, "new", key)
    gap, match = best
    return MergeDecision(match.id, "same_key" if gap == 0 else "date_within_1d", facts.identity_key)


def _modes_compatible(a: str, b: str) -> bool:
    return a == b


def strip_sources(record: dict[str, Any]) -> dict[str, Any]:
    """A meeting's own record: sources live in ``meeting_source``, one row per report."""
    return {k: v for k, v in record.items() if k not in ("sources", "id", "explain")}


def _same_person(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same participant in two reports.

    Heuristic: the registry id decides when both have one (equal: the same person, whatever title each
    report printed; different: two people). Otherwise the same side and role, and the same canonical name
    (case-insensitive) unless one report left the person unnamed.
    """
    if (a.get("country"), a.get("org")) != (b.get("country"), b.get("org")):
        return False
    if a.get("person_id") and b.get("person_id"):
        return bool(a["person_id"] == b["person_id"])
    if a.get("role") != b.get("role"):
        return False
    if a.get("name") and b.get("name"):
        return str(a["name"]).casefold() == str(b["name"]).casefold()
    return True


def best_title(a: str | None, b: str | None) -> str | None:
    """The more specific of two printed titles: the longer one ("Minister of Foreign Affairs of the Republic
    of Kazakhstan" over "Minister"); ties go to the alphabetically first, so the order of reports does not
    matter."""
    if not a or not b:
        return a or b
    return min((a, b), key=lambda t: (-len(t), t))


def _unite_person(same: dict[str, Any], p: dict[str, Any]) -> None:
    """Fold report ``p`` into participant ``same``: fill gaps, keep the best title, collect printed forms."""
    printed = same.get("name_as_printed")
    aliases = list(same.get("aliases") or [])
    for alias in [*(p.get("aliases") or []), p.get("name_as_printed")]:
        if alias and alias not in aliases and alias != printed:
            aliases.append(alias)
    for k, v in p.items():
        if k in ("title", "aliases"):
            continue
        if same.get(k) in (None, "", []) and v not in (None, "", []):
            same[k] = v
    same["title"] = best_title(same.get("title"), p.get("title"))
    if aliases or "aliases" in same:
        same["aliases"] = aliases


def _union(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    out = list(a)
    out.extend(x for x in b if x not in out)
    return out


def merge_record(meeting: dict[str, Any], claim: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Fold ``claim`` into ``meeting``; return the new record and whether it changed materially.

    Known values are never overwritten by another report (the first report wins, later ones fill gaps), except
    ``status``: a meeting once reported as held stays held, so ``planned`` upgrades to ``held``. Participants
    are united by registry id, else by side, role and canonical name (an unnamed one matches a named one); a
    later report fills their gaps, the more specific title wins and printed names in other languages are kept
    as aliases. Topics and platforms are united. The result never depends on how often the same claim is
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
        _unite_person(same, p)
    merged["participants"] = people
    merged["level"] = level_of([str(p.get("role") or "official") for p in people])
    return merged, materially_changed(meeting, merged)


def materially_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Would an alert care about the difference (``MATERIAL_FIELDS``; another printed form of a known name
    does not count)?"""
    return any(_material(after, k) != _material(before, k) for k in MATERIAL_FIELDS)


def _material(record: dict[str, Any], key: str) -> Any:
    """A field as an alert sees it: another printed form of a known name is not news."""
    value = record.get(key)
    if key == "participants":
        return [{k: v for k, v in p.items() if k not in ("aliases", "name_as_printed")} for p in value or []]
    return value
