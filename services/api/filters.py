"""Query parameters of the read endpoints: validation and the pure decisions behind each filter.

Everything here is pure (no I/O): the routes turn a bad value into a 422 by catching ``BadParameter``, whose
message names the parameter and says what a good value looks like.

Filters and their heuristics:

* ``state`` / ``pair``: ISO 3166-1 alpha-3 codes (case-insensitive on input). A meeting matches when every
  named state takes part (a participant represents it); ``pair=KAZ,CHN`` also matches a multilateral
  meeting where both sides are present, since "KAZ-CHN meetings" includes talks on the sidelines of a summit.
  The meeting's location does not count: talks in Geneva are not about Switzerland.
* ``org``: an organisation a participant represents, by its short name, case-insensitive.
* ``level``: "at least": the meeting's tier (``level`` of the schema, its most senior participant) is this one
  or higher. The alert rules' vocabulary is accepted too (``foreign_minister`` means the minister tier).
* ``person``: a registry id (exact), or a name in any script: the participants' canonical and printed names
  and aliases are searched case-insensitively, and a name the registry knows in full also matches the
  participants resolved to that person (so ``王毅`` finds reports that printed "Wang Yi").
* ``q``: case-insensitive substring of an evidence sentence, a source title, or a participant's name or title
  (substring, not words: scripts without spaces such as Chinese work too).
* ``cursor``: opaque (base64url JSON of the last row's ``(date, id)``); the order is newest meeting first,
  meetings without a date last.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from services.core.domain import LEVELS

__all__ = [
    "LEVEL_ALIASES",
    "BadParameter",
    "Cursor",
    "MeetingFilter",
    "check_text",
    "decode_cursor",
    "encode_cursor",
    "levels_at_least",
    "parse_iso3",
    "parse_org",
    "parse_pair",
    "person_matches",
    "text_matches",
]

# The alert rules' level names (services.alerts.rules.Level) mapped to the schema's tiers.
LEVEL_ALIASES: dict[str, str] = {
    "foreign_minister": "minister",
    "deputy_foreign_minister": "deputy_minister",
    "any": "other",
}
# User-assigned codes in common use that ISO 3166-1 itself does not list.
EXTRA_ISO3 = frozenset({"XKX"})
MAX_TEXT = 200
_ISO3 = re.compile(r"^[A-Za-z]{3}$")
_ORG = re.compile(r"^[^\x00-\x1f%_|]{1,60}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadParameter(ValueError):
    """A query parameter that cannot be used; ``param`` names it, the message says why."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@lru_cache(maxsize=1)
def _iso3_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.countries) | EXTRA_ISO3


def parse_iso3(value: str, param: str = "state") -> str:
    """An ISO 3166-1 alpha-3 code, upper case; ``BadParameter`` for a malformed or unassigned one."""
    v = value.strip()
    if not _ISO3.match(v):
        raise BadParameter(
            param, f"{value!r} is not an ISO 3166-1 alpha-3 country code (three letters, e.g. KAZ)"
        )
    v = v.upper()
    if v not in _iso3_codes():
        raise BadParameter(param, f"{v!r} is not an assigned ISO 3166-1 alpha-3 country code")
    return v


def parse_pair(value: str) -> tuple[str, str]:
    """``KAZ,CHN`` -> ("KAZ", "CHN"): two different alpha-3 codes separated by a comma."""
    parts = [p for p in value.split(",")]
    if len(parts) != 2:
        raise BadParameter(
            "pair", f"{value!r}: expected two country codes separated by a comma, e.g. KAZ,CHN"
        )
    a, b = (parse_iso3(p, "pair") for p in parts)
    if a == b:
        raise BadParameter("pair", f"{value!r}: the two countries must differ")
    return a, b


def parse_org(value: str) -> str:
    """An organisation's short name (UN, SCO, EU, ...): printable, at most 60 characters."""
    v = value.strip()
    if not _ORG.match(v):
        raise BadParameter("org", f"{value!r} is not an organisation short name (e.g. SCO, UN, EU)")
    return v


def check_text(value: str, param: str) -> str:
    """Free text (``q``, ``person``): non-empty after trimming, no control characters, bounded length."""
    v = value.strip()
    if not v:
        raise BadParameter(param, "must not be empty")
    if len(v) > MAX_TEXT:
        raise BadParameter(param, f"longer than {MAX_TEXT} characters")
    if _CONTROL.search(v):
        raise BadParameter(param, "contains control characters")
    return v


def levels_at_least(value: str) -> tuple[str, ...]:
    """The schema tiers that are ``value`` or higher (``LEVELS`` is ordered most senior first)."""
    tier = LEVEL_ALIASES.get(value, value)
    if tier not in LEVELS:
        allowed = ", ".join([*LEVELS, *LEVEL_ALIASES])
        raise BadParameter("level", f"{value!r} is not a level; one of: {allowed}")
    return LEVELS[: LEVELS.index(tier) + 1]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page, in the order (date desc, nulls last, id desc)."""

    date: date | None
    id: str


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps(
        [cursor.date.isoformat() if cursor.date else None, cursor.id],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """The cursor a previous page returned; anything else is a ``BadParameter``."""
    bad = BadParameter("cursor", "not a cursor returned by this API (use next_cursor of the previous page)")
    if len(value) > 512:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        day, meeting_id = json.loads(raw)
        if not isinstance(meeting_id, str) or not meeting_id or len(meeting_id) > 40 or "\x00" in meeting_id:
            raise bad
        return Cursor(date.fromisoformat(day) if day is not None else None, meeting_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise bad from exc


@dataclass(frozen=True, slots=True)
class MeetingFilter:
    """The SQL-side filters of a meeting query (``person`` and ``q`` are applied to the records after)."""

    states: tuple[str, ...] = ()
    org: str | None = None
    levels: tuple[str, ...] | None = None
    since: date | None = None
    until: date | None = None
    mode: str | None = None
    status: str | None = None


def _fold(values: Iterable[Any]) -> list[str]:
    return [v.casefold() for v in values if isinstance(v, str) and v]


def _participants(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in record.get("participants") or () if isinstance(p, Mapping)]


def person_matches(record: Mapping[str, Any], query: str, person_ids: Iterable[str] = ()) -> bool:
    """Does a participant match ``query`` (a registry id, or part of a name) or one of ``person_ids``?

    ``person_ids`` are the registry ids the caller resolved the query to (full-name matches only).
    """
    ids = {query, *person_ids}
    needle = query.casefold()
    for p in _participants(record):
        if p.get("person_id") in ids:
            return True
        names = _fold([p.get("name"), p.get("name_as_printed"), *(p.get("aliases") or ())])
        if any(needle in n for n in names):
            return True
    return False


def text_matches(record: Mapping[str, Any], query: str) -> bool:
    """Is ``query`` a case-insensitive substring of an evidence sentence, a source title, or a participant's
    name, printed name or title?"""
    needle = query.casefold()
    hay: list[Any] = []
    for src in record.get("sources") or ():
        if isinstance(src, Mapping):
            hay.extend([src.get("evidence"), src.get("title")])
    for p in _participants(record):
        hay.extend([p.get("name"), p.get("name_as_printed"), p.get("title")])
    return any(needle in h for h in _fold(hay))
