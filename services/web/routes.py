"""The dashboard's pages and the one JSON endpoint behind its live updates.

Pages read through the API's own repository and paging (``services.api.repository``, ``services.api.query``)
and render server-side; JavaScript only draws the charts and polls for changes. Every HTML response carries
a strict Content-Security-Policy: scripts and styles from this server only, no inline script or handler.

Live updates: a meetings page remembers the newest ``change_log`` id when it was rendered and polls
``/web/meetings/changes?after=ID`` with its filters. Heuristic: the entries after ``ID - LOOKBACK`` are read
on every poll, because a Postgres sequence hands out ids at insert time and a transaction that took an id
earlier may commit later; cards carry a stamp (the meeting's ``updated_at``), so a change seen twice is
applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from services.api import filters as F
from services.api.deps import Repo, get_settings_of_app
from services.api.query import page_meetings, registry_person_ids
from services.api.repository import MeetingView
from services.web import views as V
from services.web.templates import STATIC_DIR, render

__all__ = ["CSP", "LOOKBACK", "POLL_MS", "install", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
TIMELINE_LIMIT = 200
POLL_MS = 3000
LOOKBACK = 50
SOURCE_WINDOW_DAYS = 28
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def install(app: FastAPI) -> None:
    """Mount the dashboard on ``app``: the pages, and the assets under ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _now() -> datetime:
    return datetime.now(UTC)


def _page(name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(render(name, context), status_code=status_code, headers=HEADERS)


def _scan_limit(request: Request, limit: int) -> int:
    return max(get_settings_of_app(request).api_scan_limit, limit)


def _keep(person: str | None, q: str | None) -> Callable[[Mapping[str, Any]], bool]:
    ids = registry_person_ids(person) if person is not None else ()

    def keep(record: Mapping[str, Any]) -> bool:
        if person is not None and not F.person_matches(record, person, ids):
            return False
        return q is None or F.text_matches(record, q)

    return keep


def _card(view: MeetingView) -> V.MeetingCard:
    return V.meeting_card(view.record, view.updated_at.isoformat())


# --- meetings ---------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def meetings_page(request: Request, repo: Repo) -> HTMLResponse:
    params = V.parse_meeting_params(request.query_params)
    # Read the change cursor before the meetings: a meeting stored in between shows up by the first poll.
    cursor = repo.change_cursor()
    page = page_meetings(
        repo,
        params.filter,
        after=params.cursor,
        limit=PAGE_SIZE,
        person=params.person,
        q=params.q,
        scan_limit=_scan_limit(request, PAGE_SIZE),
    )
    next_href = (
        "/?" + params.query_string(cursor=F.encode_cursor(page.next_cursor)) if page.next_cursor else None
    )
    query = params.query_string()
    api_query = _api_query(params)
    return _page(
        "meetings.html",
        {
            "page": "meetings",
            "title": "Meetings",
            "params": params,
            "cards": [_card(v) for v in page.items],
            "next_href": next_href,
            "first_page": params.cursor is None,
            "changes_href": "/web/meetings/changes" + (f"?{query}" if query else ""),
            "feed_href": "/feeds/meetings.atom" + (f"?{api_query}" if api_query else ""),
            "cursor": cursor,
            "poll_ms": POLL_MS,
        },
    )


def _api_query(params: V.MeetingParams) -> str:
    """The page's filters as the API spells them: ``state`` there is one code and ``pair`` two, so a feed
    names at most three of the page's states."""
    f = params.filter
    out: dict[str, str] = {}
    if len(f.states) % 2 == 1:
        out["state"] = f.states[0]
    if len(f.states) >= 2:
        out["pair"] = ",".join(f.states[len(f.states) % 2 :][:2])
    for key in ("org", "level", "mode", "status", "since", "until", "q", "person"):
        if params.form.get(key) and key not in params.errors:
            out[key] = params.form[key]
    return urlencode(out)


@router.get("/web/meetings/changes")
def meeting_changes(
    request: Request, repo: Repo, after: Annotated[int, Query(ge=0, le=2**62)] = 0
) -> JSONResponse:
    """Meetings changed since change ``after`` that match the page's filters, as rendered cards; ``gone``:
    changed meetings that no longer match (retracted, or changed out of the filter)."""
    params = V.parse_meeting_params(request.query_params)
    ids, cursor = repo.changed_meetings(max(after - LOOKBACK, 0))
    keep = _keep(params.person, params.q)
    items = []
    for view in repo.meetings_by_ids(ids, params.filter):
        if not keep(view.record):
            continue
        card = _card(view)
        items.append(
            {
                "id": card.id,
                "date": card.date,
                "stamp": card.stamp,
                "html": render("_meeting_item.html", {"m": card}),
            }
        )
    shown = {item["id"] for item in items}
    return JSONResponse(
        {"cursor": max(cursor, after), "items": items, "gone": [i for i in ids if i not in shown]},
        headers={"Cache-Control": "no-store"},
    )


# --- network ----------------------------------------------------------------------------------------------


@router.get("/network", response_class=HTMLResponse)
def network_page(request: Request, repo: Repo) -> HTMLResponse:
    params = V.parse_meeting_params(request.query_params)
    f = params.filter
    graph_filter = F.MeetingFilter(
        levels=f.levels, since=f.since, until=f.until, mode=f.mode, status=f.status
    )
    graph = V.network_graph(repo.party_counts(graph_filter))
    pair = f.states if len(f.states) == 2 and params.form["pair"] else None
    cards: list[V.MeetingCard] = []
    points: list[dict[str, Any]] = []
    more = False
    if pair is not None:
        page = page_meetings(
            repo,
            F.MeetingFilter(
                states=pair, levels=f.levels, since=f.since, until=f.until, mode=f.mode, status=f.status
            ),
            after=None,
            limit=TIMELINE_LIMIT,
            scan_limit=_scan_limit(request, TIMELINE_LIMIT),
        )
        cards = [_card(v) for v in page.items]
        points = V.timeline_points(v.record for v in page.items)
        more = page.next_cursor is not None
    base = params.query_string(pair=None, state=None)
    return _page(
        "network.html",
        {
            "page": "network",
            "title": f"Network: {' – '.join(pair)}" if pair else "Network",
            "params": params,
            "graph": graph,
            "graph_data": {
                **graph.as_json(),
                "edge_href": "/network?" + (base + "&" if base else "") + "pair=",
                "node_href": "/?" + (base + "&" if base else "") + "state=",
            },
            "pair": pair,
            "pair_base": "/network?" + (base + "&" if base else ""),
            "cards": cards,
            "timeline": {
                "points": points,
                "levels": V.level_options(),
                "modes": list(V.MODE_LABELS.items()),
            },
            "more": more,
        },
    )


# --- people -----------------------------------------------------------------------------------------------


@router.get("/person", response_class=HTMLResponse)
def person_page(request: Request, repo: Repo, name: str | None = None) -> HTMLResponse:
    from services.parser.registry import Registry

    error = None
    query = None
    if name is not None and name.strip():
        try:
            query = F.check_text(name, "name")
        except F.BadParameter as exc:
            error = exc.message
    context: dict[str, Any] = {
        "page": "person",
        "title": "People",
        "name": name or "",
        "error": error,
        "person": None,
    }
    if query is None:
        return _page("person.html", context)
    registry = Registry.default()
    ids = list(registry_person_ids(query))
    terms = [t for t in registry if t.person_id == query or t.person_id in ids]
    for t in terms:
        if t.person_id not in ids:
            ids.append(t.person_id)
    page = page_meetings(
        repo,
        F.MeetingFilter(),
        after=None,
        limit=TIMELINE_LIMIT,
        person=query,
        scan_limit=_scan_limit(request, TIMELINE_LIMIT),
    )
    records = [v.record for v in page.items]
    display = terms[0].name if terms else query
    offices = V.registry_offices(terms) + V.reported_offices(records, query, ids)
    context.update(
        title=display,
        person={
            "name": display,
            "query": query,
            "registry_ids": ids,
            "offices": offices,
            "cards": [_card(v) for v in page.items],
            "more": page.next_cursor is not None,
            "meetings_href": "/?" + V.parse_meeting_params({"person": query}).query_string(),
        },
        timeline={
            "points": V.timeline_points(records),
            "levels": V.level_options(),
            "modes": list(V.MODE_LABELS.items()),
        },
    )
    return _page("person.html", context)


# --- sources ----------------------------------------------------------------------------------------------


@router.get("/sources", response_class=HTMLResponse)
def sources_page(repo: Repo) -> HTMLResponse:
    now = _now()
    rows = V.source_rows(
        repo.sources(),
        repo.source_activity(V.source_window(now, SOURCE_WINDOW_DAYS)),
        now,
        SOURCE_WINDOW_DAYS,
    )
    counts = {state: sum(1 for r in rows if r.state == state) for state in V.SOURCE_STATE_ORDER}
    return _page(
        "sources.html",
        {"page": "sources", "title": "Sources", "rows": rows, "counts": counts, "now": now},
    )


# --- alerts -----------------------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, repo: Repo) -> HTMLResponse:
    from services.alerts.rules import RulesError
    from services.api.routes_rules import redact_rule
    from services.store.ingest import active_rules

    path = get_settings_of_app(request).rules
    rules: list[dict[str, Any]] = []
    rules_errors: list[str] = []
    if path is not None and path.exists():
        try:
            rules = [redact_rule(r) for r in active_rules(path)]
        except RulesError as exc:
            rules_errors = list(exc.errors)
    now = _now()
    return _page(
        "alerts.html",
        {
            "page": "alerts",
            "title": "Alerts",
            "rules_file": str(path) if path is not None else None,
            "rules": rules,
            "rules_errors": rules_errors,
            "deliveries": V.delivery_rows(repo.recent_deliveries(50), now),
            "counts": repo.delivery_counts(),
        },
    )
