"""Paging meetings with filters that SQL cannot apply portably (``person``, ``q``).

Heuristic: SQL applies the column filters and the keyset order; the text filters run over the records of
each batch. A request examines at most ``scan_limit`` meetings: when that budget runs out before the page is
full, the page comes back short with a ``next_cursor`` at the last meeting examined, so a client that follows
the cursors still sees every match and no request scans the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.api.filters import Cursor, MeetingFilter, person_matches, text_matches
from services.api.repository import ApiRepository, MeetingView

__all__ = ["Page", "page_meetings", "registry_person_ids"]

BATCH = 200


@dataclass(frozen=True, slots=True)
class Page:
    items: list[MeetingView]
    next_cursor: Cursor | None
    scanned: int


def registry_person_ids(name: str) -> tuple[str, ...]:
    """Registry ids of the people one of whose stored names equals ``name`` (normalised, any script)."""
    from services.parser.registry import Registry, normalize_name

    want = normalize_name(name)
    if not want:
        return ()
    ids: list[str] = []
    for term in Registry.default().by_name(name):
        if term.person_id not in ids and any(normalize_name(v) == want for v in (term.name, *term.variants)):
            ids.append(term.person_id)
    return tuple(ids)


def _predicate(person: str | None, q: str | None) -> Callable[[Mapping[str, Any]], bool] | None:
    if person is None and q is None:
        return None
    ids = registry_person_ids(person) if person is not None else ()

    def keep(record: Mapping[str, Any]) -> bool:
        if person is not None and not person_matches(record, person, ids):
            return False
        return q is None or text_matches(record, q)

    return keep


def page_meetings(
    repo: ApiRepository,
    f: MeetingFilter,
    *,
    after: Cursor | None,
    limit: int,
    person: str | None = None,
    q: str | None = None,
    scan_limit: int = 5000,
) -> Page:
    """One page of meetings (newest first) and the cursor of the next one (None at the end)."""
    keep = _predicate(person, q)
    if keep is None:
        rows = repo.meetings(f, after, limit + 1)
        more = len(rows) > limit
        page = rows[:limit]
        return Page(page, page[-1].cursor if more and page else None, len(page))
    items: list[MeetingView] = []
    scanned = 0
    cursor = after
    while scanned < scan_limit:
        want = min(BATCH, scan_limit - scanned)
        batch = repo.meetings(f, cursor, want)
        for view in batch:
            scanned += 1
            cursor = view.cursor
            if keep(view.record):
                items.append(view)
                if len(items) == limit:
                    return Page(items, cursor, scanned)
        if len(batch) < want:
            return Page(items, None, scanned)
    return Page(items, cursor, scanned)
