"""``/api/meetings``, ``/api/meetings/{id}`` and ``/feeds/meetings.atom``: one query, two renderings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from services.api import filters as F
from services.api.deps import Repo, get_settings_of_app
from services.api.feeds import render_atom
from services.api.query import page_meetings
from services.api.schemas import MeetingDetail, MeetingPage
from services.core.settings import Settings

__all__ = ["MERGE_RULES", "MeetingQuery", "meeting_query", "router"]

router = APIRouter()

Level = Literal[
    "head_of_state",
    "head_of_government",
    "minister",
    "deputy_minister",
    "ambassador",
    "other",
    "foreign_minister",
    "deputy_foreign_minister",
    "any",
]
# What each merge rule (services.store.merge.decide) means, for the merge explanation.
MERGE_RULES: dict[str, str] = {
    "new": "the first report of this meeting: it created the meeting",
    "same_key": "same parties, same date and same mode as the meeting",
    "date_within_1d": "same parties and mode, dated one day apart (time zones, late publication)",
    "unmatched": "fewer than two parties or no date: kept as a meeting of its own, never merged",
    "syndicated_copy": "the same or nearly the same text as a report already attached (a syndicated copy)",
    "pinned": "attached here by an operator (a wrong merge split off)",
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Published in the OpenAPI document only: the route checks the values itself, with clearer messages.
ISO3_PATTERN = "^[A-Za-z]{3}$"
PAIR_PATTERN = "^[A-Za-z]{3},[A-Za-z]{3}$"


def _day(value: str | None, param: str) -> date | None:
    if value is None:
        return None
    try:
        if not _DAY.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise F.BadParameter(param, f"{value!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class MeetingQuery:
    filter: F.MeetingFilter
    person: str | None
    q: str | None
    cursor: F.Cursor | None
    limit: int


def meeting_query(
    state: Annotated[
        str | None,
        Query(
            description="ISO 3166-1 alpha-3 code of a state taking part",
            examples=["KAZ"],
            json_schema_extra={"pattern": ISO3_PATTERN},
        ),
    ] = None,
    pair: Annotated[
        str | None,
        Query(
            description="two states that both take part, comma-separated",
            examples=["KAZ,CHN"],
            json_schema_extra={"pattern": PAIR_PATTERN},
        ),
    ] = None,
    org: Annotated[str | None, Query(description="an organisation taking part (SCO, UN, EU, ...)")] = None,
    person: Annotated[
        str | None, Query(description="a participant: registry id, or a name in any script")
    ] = None,
    level: Annotated[
        Level | None,
        Query(description="at least this tier (the schema's level; alert-rule names are accepted too)"),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            description="meetings on or after this day (YYYY-MM-DD)",
            examples=["2025-03-01"],
            json_schema_extra={"format": "date"},
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            description="meetings on or before this day (YYYY-MM-DD)",
            examples=["2025-03-31"],
            json_schema_extra={"format": "date"},
        ),
    ] = None,
    mode: Annotated[Literal["in_person", "phone", "video"] | None, Query()] = None,
    status: Annotated[Literal["held", "planned"] | None, Query()] = None,
    q: Annotated[
        str | None, Query(description="text in an evidence sentence, a source title or a participant")
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MeetingQuery:
    """The shared filters of the meeting list and the Atom feed (``BadParameter`` -> 422)."""
    states: list[str] = []
    if state is not None:
        states.append(F.parse_iso3(state, "state"))
    if pair is not None:
        states.extend(s for s in F.parse_pair(pair) if s not in states)
    start, end = _day(since, "since"), _day(until, "until")
    if start and end and start > end:
        raise F.BadParameter("until", f"{until} is before since={since}")
    return MeetingQuery(
        filter=F.MeetingFilter(
            states=tuple(states),
            org=F.parse_org(org) if org is not None else None,
            levels=F.levels_at_least(level) if level is not None else None,
            since=start,
            until=end,
            mode=mode,
            status=status,
        ),
        person=F.check_text(person, "person") if person is not None else None,
        q=F.check_text(q, "q") if q is not None else None,
        cursor=F.decode_cursor(cursor) if cursor is not None else None,
        limit=limit,
    )


Query_ = Annotated[MeetingQuery, Depends(meeting_query)]
AppSettings = Annotated[Settings, Depends(get_settings_of_app)]


@router.get(
    "/api/meetings",
    response_model=MeetingPage,
    response_model_exclude_unset=True,
    tags=["meetings"],
    summary="Meetings, newest first, filtered and paged by cursor",
)
def list_meetings(query: Query_, repo: Repo, settings: AppSettings) -> dict[str, object]:
    page = page_meetings(
        repo,
        query.filter,
        after=query.cursor,
        limit=query.limit,
        person=query.person,
        q=query.q,
        scan_limit=max(settings.api_scan_limit, query.limit),
    )
    return {
        "items": [v.record for v in page.items],
        "next_cursor": F.encode_cursor(page.next_cursor) if page.next_cursor else None,
    }


@router.get(
    "/api/meetings/{meeting_id}",
    response_model=MeetingDetail,
    response_model_exclude_unset=True,
    tags=["meetings"],
    summary="One meeting with its sources, their evidence and how each report was merged",
    responses={404: {"description": "no such meeting"}},
)
def get_meeting(meeting_id: str, repo: Repo) -> dict[str, object]:
    view = repo.meeting(meeting_id) if len(meeting_id) <= 40 and "\x00" not in meeting_id else None
    if view is None:
        raise HTTPException(404, f"no meeting {meeting_id[:40]!r}")
    links = repo.merge_links(meeting_id)
    rules = [str(link["merge_rule"]) for link in links]
    merged = sum(1 for r in rules if r not in ("new", "unmatched", "pinned"))
    summary = (
        f"{len(links)} report(s); "
        + (f"{merged} merged into the first one" if merged else "not merged with any other report")
        + f" (rules: {', '.join(dict.fromkeys(rules)) or 'none'})"
    )
    return {
        **view.record,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "merge": {
            "summary": summary,
            "links": [
                {
                    "document_id": link["document_id"],
                    "source_id": link["source_id"],
                    "url": link["url"],
                    "merge_rule": link["merge_rule"],
                    "rule_explained": MERGE_RULES.get(str(link["merge_rule"]), "merge rule of the store"),
                    "linked_at": link["linked_at"],
                }
                for link in links
            ],
        },
    }


def _feed_title(query: MeetingQuery) -> str:
    f = query.filter
    parts = ["–".join(f.states)] if f.states else []
    if f.org:
        parts.append(f.org)
    if f.levels:
        parts.append(f"{f.levels[-1]} level or above")
    if f.mode:
        parts.append(f.mode)
    if f.status:
        parts.append(f.status)
    if query.person:
        parts.append(query.person)
    if query.q:
        parts.append(f"“{query.q}”")
    return "Communiqué meetings" + (": " + ", ".join(parts) if parts else "")


@router.get(
    "/feeds/meetings.atom",
    tags=["feeds"],
    summary="Atom feed of meetings, with the same filters as /api/meetings",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}, "description": "an Atom 1.0 feed"}},
)
def meetings_feed(request: Request, query: Query_, repo: Repo, settings: AppSettings) -> Response:
    page = page_meetings(
        repo,
        query.filter,
        after=query.cursor,
        limit=query.limit,
        person=query.person,
        q=query.q,
        scan_limit=max(settings.api_scan_limit, query.limit),
    )
    self_url = str(request.url)
    next_url = (
        str(request.url.include_query_params(cursor=F.encode_cursor(page.next_cursor)))
        if page.next_cursor
        else None
    )
    api_url = str(request.url_for("list_meetings").include_query_params(**request.query_params))
    meeting_url = str(request.url_for("get_meeting", meeting_id="MEETINGID")).replace("MEETINGID", "{id}")
    body = render_atom(
        page.items,
        self_url=self_url,
        html_url=api_url,
        meeting_url=meeting_url,
        next_url=next_url,
        title=_feed_title(query),
        now=datetime.now(UTC),
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")
