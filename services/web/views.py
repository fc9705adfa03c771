"""View models of the dashboard: pure functions from meeting records and repository rows to what a template
shows. No I/O (the country names come from ``pycountry``'s bundled data).

Heuristics, each stated where it is decided:

* a participant's *office* is the title the report printed, else the label of its role;
* a link to a source is only made for ``http``/``https`` addresses (records come from third parties: a
  ``javascript:`` URL must never become a link);
* sources are listed broken first, then failing, ok, and disabled last (``SOURCE_STATE_ORDER``), so that what
  needs an operator is at the top; a source switched off in the registry file shows as disabled;
* the network counts a meeting once for every pair of states taking part (a summit of five states adds to
  ten pairs); organisations are not nodes;
* a person's offices are the registry's dated terms plus the offices the meetings printed for them, each
  with the first and last day it was seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import combinations
from typing import Any
from urllib.parse import urlencode, urlsplit

from services.api import filters as F
from services.core.domain import LEVELS, MODES

__all__ = [
    "LEVEL_LABELS",
    "MODE_LABELS",
    "ROLE_LABELS",
    "SOURCE_STATE_ORDER",
    "DeliveryRowView",
    "Graph",
    "MeetingCard",
    "MeetingParams",
    "OfficeView",
    "ParticipantView",
    "SourceRowView",
    "country_name",
    "delivery_rows",
    "flag",
    "level_options",
    "meeting_card",
    "network_graph",
    "parse_meeting_params",
    "redact_channel_key",
    "registry_offices",
    "relative",
    "reported_offices",
    "safe_href",
    "source_rows",
    "source_window",
    "timeline_points",
]

ROLE_LABELS: dict[str, str] = {
    "head_of_state": "Head of state",
    "deputy_head_of_state": "Deputy head of state",
    "head_of_government": "Head of government",
    "deputy_head_of_government": "Deputy head of government",
    "foreign_minister": "Foreign minister",
    "deputy_foreign_minister": "Deputy foreign minister",
    "minister": "Minister",
    "ambassador": "Ambassador",
    "envoy": "Envoy",
    "legislator": "Legislator",
    "org_head": "Head of organisation",
    "official": "Official",
}
LEVEL_LABELS: dict[str, str] = {
    "head_of_state": "Head of state",
    "head_of_government": "Head of government",
    "minister": "Minister",
    "deputy_minister": "Deputy minister",
    "ambassador": "Ambassador",
    "other": "Other",
}
MODE_LABELS: dict[str, str] = {"in_person": "In person", "phone": "Phone call", "video": "Video call"}
SOURCE_STATE_ORDER: tuple[str, ...] = ("broken", "failing", "ok", "disabled")
# Fields of the meeting filter form, in the order of the form.
MEETING_FIELDS: tuple[str, ...] = (
    "state",
    "pair",
    "org",
    "level",
    "mode",
    "status",
    "since",
    "until",
    "q",
    "person",
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODES = re.compile(r"[\s,;/–—-]+")


# --- small formatting helpers ---------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _country(code: str) -> tuple[str, str] | None:
    """(alpha-2, short name) of an alpha-3 code, or None for a code ISO does not assign."""
    import pycountry

    if code == "XKX":
        return ("XK", "Kosovo")
    found = pycountry.countries.get(alpha_3=code)
    if found is None:
        return None
    name = getattr(found, "common_name", None) or found.name
    return str(found.alpha_2), str(name)


def flag(code: str | None) -> str:
    """The flag emoji of an alpha-3 code (two regional indicator letters), "" when unknown."""
    if not code or len(code) != 3:
        return ""
    found = _country(code.upper())
    if found is None:
        return ""
    return "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in found[0])


def country_name(code: str | None) -> str | None:
    if not code:
        return None
    found = _country(code.upper()) if len(code) == 3 else None
    return found[1] if found else code


def safe_href(url: Any) -> str | None:
    """``url`` when it is an absolute http(s) address, else None (never a ``javascript:`` link)."""
    if not isinstance(url, str) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def relative(moment: datetime | None, now: datetime) -> str:
    """``5 min ago`` / ``in 2 h`` / ``3 d ago``; ``never`` for None."""
    if moment is None:
        return "never"
    delta = (moment - now).total_seconds()
    secs = abs(delta)
    if secs < 60:
        return "now"
    if secs < 3600:
        amount = f"{int(secs // 60)} min"
    elif secs < 86400 * 2:
        amount = f"{int(secs // 3600)} h"
    else:
        amount = f"{int(secs // 86400)} d"
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def _label(mapping: Mapping[str, str], key: Any) -> str:
    if not isinstance(key, str) or not key:
        return ""
    return mapping.get(key, key.replace("_", " ").capitalize())


# --- meetings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantView:
    name: str
    office: str
    country: str | None
    country_name: str | None
    flag: str
    org: str | None
    person: str | None  # what the person page is looked up by: the registry id, else the name

    @property
    def person_href(self) -> str | None:
        return "/person?" + urlencode({"name": self.person}) if self.person else None


@dataclass(frozen=True, slots=True)
class SourceView:
    label: str
    href: str | None
    title: str | None
    evidence: str | None
    language: str | None
    published_at: str | None
    merge_rule: str | None


@dataclass(frozen=True, slots=True)
class MeetingCard:
    id: str
    date: str | None
    status: str
    mode: str
    mode_label: str
    level: str
    level_label: str
    parties: list[str]
    place: str | None
    sidelines_of: str | None
    participants: list[ParticipantView]
    topics: list[str]
    sources: list[SourceView]
    stamp: str  # changes whenever the meeting changes: the live view replaces a card whose stamp differs

    @property
    def headline(self) -> str:
        return " – ".join(self.parties) or "Meeting"


def _participant(p: Mapping[str, Any]) -> ParticipantView:
    country = p.get("country") if isinstance(p.get("country"), str) else None
    org = p.get("org") if isinstance(p.get("org"), str) else None
    name = next(
        (str(v) for v in (p.get("name"), p.get("name_as_printed")) if isinstance(v, str) and v.strip()), ""
    )
    title = p.get("title") if isinstance(p.get("title"), str) and p.get("title") else None
    office = title or _label(ROLE_LABELS, p.get("role"))
    person_id = p.get("person_id") if isinstance(p.get("person_id"), str) else None
    return ParticipantView(
        name=name or office or "Unnamed participant",
        office=office if name else "",
        country=country,
        country_name=country_name(country),
        flag=flag(country),
        org=org,
        person=person_id or (name or None),
    )


def _source(s: Mapping[str, Any]) -> SourceView:
    href = safe_href(s.get("url"))
    host = urlsplit(href).netloc if href else None
    publisher = s.get("publisher") if isinstance(s.get("publisher"), str) and s.get("publisher") else None
    title = s.get("title") if isinstance(s.get("title"), str) and s.get("title") else None
    evidence = s.get("evidence") if isinstance(s.get("evidence"), str) and s.get("evidence") else None
    if title and evidence and evidence.startswith(title):
        title = None  # a title that only repeats the evidence (a page without its own title)
    return SourceView(
        label=publisher or host or str(s.get("url") or "source"),
        href=href,
        title=title,
        evidence=evidence,
        language=s.get("language") if isinstance(s.get("language"), str) else None,
        published_at=str(s["published_at"])[:10] if s.get("published_at") else None,
        merge_rule=s.get("merge_rule") if isinstance(s.get("merge_rule"), str) else None,
    )


def _place(record: Mapping[str, Any]) -> str | None:
    loc = record.get("location")
    if not isinstance(loc, Mapping):
        return None
    city = loc.get("city") if isinstance(loc.get("city"), str) else None
    where = country_name(loc.get("country")) if isinstance(loc.get("country"), str) else None
    return ", ".join(x for x in (city, where) if x) or None


def _parties(record: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for p in record.get("participants") or ():
        if not isinstance(p, Mapping):
            continue
        side = p.get("country") or p.get("org")
        if isinstance(side, str) and side and side not in out:
            out.append(side)
    return out


def meeting_card(record: Mapping[str, Any], stamp: str) -> MeetingCard:
    """What one meeting shows: headline parties, participants with their office and flag, place, date,
    mode, topics, and every source with its evidence sentence."""
    level = str(record.get("level") or "other")
    mode = str(record.get("mode") or "")
    return MeetingCard(
        id=str(record["id"]),
        date=record.get("date") if isinstance(record.get("date"), str) else None,
        status=str(record.get("status") or "held"),
        mode=mode,
        mode_label=_label(MODE_LABELS, mode),
        level=level,
        level_label=_label(LEVEL_LABELS, level),
        parties=_parties(record),
        place=_place(record),
        sidelines_of=record.get("sidelines_of") if isinstance(record.get("sidelines_of"), str) else None,
        participants=[_participant(p) for p in record.get("participants") or () if isinstance(p, Mapping)],
        topics=[str(t) for t in record.get("topics") or () if isinstance(t, str)],
        sources=[_source(s) for s in record.get("sources") or () if isinstance(s, Mapping)],
        stamp=stamp,
    )


def timeline_points(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The dated meetings as chart points (``id``, ``date``, ``level``, ``mode``, ``status``, ``label``)."""
    out: list[dict[str, Any]] = []
    for rec in records:
        day = rec.get("date")
        if not isinstance(day, str):
            continue
        card = meeting_card(rec, "")
        names = ", ".join(p.name for p in card.participants[:4])
        out.append(
            {
                "id": card.id,
                "date": day,
                "level": card.level,
                "mode": card.mode,
                "status": card.status,
                "label": f"{day} · {card.headline} · {card.mode_label}: {names}",
            }
        )
    return out


# --- the filter form --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeetingParams:
    """The meeting filters of a dashboard URL, checked like the API checks them, but never an error page:
    a bad field is named in ``errors`` and left out of the filter."""

    filter: F.MeetingFilter
    person: str | None
    q: str | None
    cursor: F.Cursor | None
    form: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def query_string(self, **override: str | None) -> str:
        """The form's non-empty fields (and ``override``) as a URL query string."""
        values: dict[str, str | None] = {**self.form, **override}
        return urlencode({k: v for k, v in values.items() if v})


def _day(value: str) -> date:
    if not _DAY.match(value):
        raise ValueError(value)
    return date.fromisoformat(value)


def parse_meeting_params(params: Mapping[str, str]) -> MeetingParams:
    """Read the filter fields of ``params`` (empty ones are ignored, as an HTML form sends them)."""
    form = {k: str(params.get(k) or "").strip() for k in MEETING_FIELDS}
    errors: dict[str, str] = {}
    states: list[str] = []
    org = person = q = None
    levels: tuple[str, ...] | None = None
    since = until = None
    mode = status = None
    cursor = None

    def attempt(name: str, fn: Callable[[], None]) -> None:
        if not form[name]:
            return
        try:
            fn()
        except F.BadParameter as exc:
            errors[name] = exc.message

    def read_states() -> None:
        for code in (c for c in _CODES.split(form["state"]) if c):
            parsed = F.parse_iso3(code, "state")
            if parsed not in states:
                states.append(parsed)

    def read_pair() -> None:
        codes = [c for c in _CODES.split(form["pair"]) if c]
        for code in F.parse_pair(",".join(codes)):
            if code not in states:
                states.append(code)

    def read_org() -> None:
        nonlocal org
        org = F.parse_org(form["org"])

    def read_level() -> None:
        nonlocal levels
        levels = F.levels_at_least(form["level"])

    def read_mode() -> None:
        nonlocal mode
        if form["mode"] not in MODES:
            raise F.BadParameter("mode", f"one of: {', '.join(MODES)}")
        mode = form["mode"]

    def read_status() -> None:
        nonlocal status
        if form["status"] not in ("held", "planned"):
            raise F.BadParameter("status", "one of: held, planned")
        status = form["status"]

    def read_day(name: str) -> Callable[[], None]:
        def read() -> None:
            nonlocal since, until
            try:
                day = _day(form[name])
            except ValueError:
                raise F.BadParameter(name, "not a date (YYYY-MM-DD)") from None
            if name == "since":
                since = day
            else:
                until = day

        return read

    def read_q() -> None:
        nonlocal q
        q = F.check_text(form["q"], "q")

    def read_person() -> None:
        nonlocal person
        person = F.check_text(form["person"], "person")

    attempt("state", read_states)
    attempt("pair", read_pair)
    attempt("org", read_org)
    attempt("level", read_level)
    attempt("mode", read_mode)
    attempt("status", read_status)
    attempt("since", read_day("since"))
    attempt("until", read_day("until"))
    attempt("q", read_q)
    attempt("person", read_person)
    if since and until and since > until:
        errors["until"] = "before the start of the date range"
        until = None
    raw_cursor = str(params.get("cursor") or "").strip()
    if raw_cursor:
        try:
            cursor = F.decode_cursor(raw_cursor)
        except F.BadParameter as exc:
            errors["cursor"] = exc.message
    return MeetingParams(
        filter=F.MeetingFilter(
            states=tuple(states), org=org, levels=levels, since=since, until=until, mode=mode, status=status
        ),
        person=person,
        q=q,
        cursor=cursor,
        form=form,
        errors=errors,
    )


# --- network ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: list[dict[str, Any]]  # {"id", "name", "flag", "weight"}
    edges: list[dict[str, Any]]  # {"source", "target", "weight"} with source < target

    def as_json(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": self.edges}


def network_graph(party_counts: Iterable[tuple[str, int]]) -> Graph:
    """States as nodes weighted by their meetings, pairs of states meeting as edges weighted by their
    meetings together, from ``(parties, meetings)`` rows (``ApiRepository.party_counts``)."""
    nodes: dict[str, int] = {}
    edges: dict[tuple[str, str], int] = {}
    for parties, n in party_counts:
        states = sorted({p for p in parties.split("|") if p and not p.startswith("ORG:")})
        for s in states:
            nodes[s] = nodes.get(s, 0) + n
        for a, b in combinations(states, 2):
            edges[(a, b)] = edges.get((a, b), 0) + n
    return Graph(
        nodes=[
            {"id": s, "name": country_name(s) or s, "flag": flag(s), "weight": w}
            for s, w in sorted(nodes.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        edges=[
            {"source": a, "target": b, "weight": w}
            for (a, b), w in sorted(edges.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    )


# --- people -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfficeView:
    office: str
    holder_of: str | None  # ISO3 or organisation
    flag: str
    start: str | None
    end: str | None
    basis: str  # "registry" (a dated term) or "reported" (printed in meetings)
    meetings: int = 0


def registry_offices(terms: Iterable[Any]) -> list[OfficeView]:
    """The registry's terms (``services.parser.registry.Term``) of one person, earliest first."""
    out = [
        OfficeView(
            office=t.office or _label(ROLE_LABELS, t.role),
            holder_of=t.country or t.org,
            flag=flag(t.country),
            start=t.start.isoformat() if t.start else None,
            end=t.end.isoformat() if t.end else None,
            basis="registry",
        )
        for t in terms
    ]
    return sorted(out, key=lambda o: (o.start or "", o.office))


def reported_offices(
    records: Iterable[Mapping[str, Any]], query: str, person_ids: Sequence[str] = ()
) -> list[OfficeView]:
    """The offices the meetings printed for the participant matching ``query`` (``filters.person_matches``),
    each with the first and last meeting day and the number of meetings, earliest first."""
    seen: dict[tuple[str, str | None], list[Any]] = {}
    for rec in records:
        day = rec.get("date") if isinstance(rec.get("date"), str) else None
        for p in rec.get("participants") or ():
            if not isinstance(p, Mapping) or not F.person_matches({"participants": [p]}, query, person_ids):
                continue
            view = _participant(p)
            key = (view.office or _label(ROLE_LABELS, p.get("role")), view.country or view.org)
            entry = seen.setdefault(key, [None, None, 0, view.flag])
            if day is not None:
                entry[0] = min(entry[0] or day, day)
                entry[1] = max(entry[1] or day, day)
            entry[2] += 1
    out = [
        OfficeView(office, holder, fl, first, last, "reported", n)
        for (office, holder), (first, last, n, fl) in seen.items()
    ]
    return sorted(out, key=lambda o: (o.start or "9999", o.office))


# --- sources ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRowView:
    id: str
    name: str
    country: str | None
    flag: str
    kind: str | None
    href: str | None
    state: str
    last_success_at: datetime | None
    last_success: str
    last_item_at: datetime | None
    last_item: str
    items_per_week: str
    last_error: str | None
    next_check_at: datetime | None
    next_check: str
    consecutive_errors: int
    meetings: int


def _per_week(rate: float | None, items_since: int, window_days: int) -> str:
    value = rate if rate is not None else items_since * 7 / max(window_days, 1)
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def source_rows(
    healths: Iterable[Any], activity: Mapping[str, Any], now: datetime, window_days: int = 28
) -> list[SourceRowView]:
    """Every source (``ApiRepository.sources``) with its activity (``ApiRepository.source_activity`` over the
    last ``window_days``), broken first (``SOURCE_STATE_ORDER``), then by name. Items per week: the
    scheduler's measured rate when it has one, else the documents first seen in the window."""
    rows: list[SourceRowView] = []
    for h in healths:
        d = h.definition
        state = "disabled" if not h.enabled else h.state
        act = activity.get(h.id)
        last_item = act.last_item_at if act is not None else None
        disabled = state == "disabled"
        rows.append(
            SourceRowView(
                id=h.id,
                name=str(d.get("name") or h.id),
                country=d.get("country") if isinstance(d.get("country"), str) else None,
                flag=flag(d.get("country") if isinstance(d.get("country"), str) else None),
                kind=d.get("kind") if isinstance(d.get("kind"), str) else None,
                href=safe_href(d.get("url")),
                state=state,
                last_success_at=h.last_success_at,
                last_success=relative(h.last_success_at, now),
                last_item_at=last_item,
                last_item=relative(last_item, now),
                items_per_week=_per_week(
                    act.rate_per_week if act is not None else None,
                    act.items_since if act is not None else 0,
                    window_days,
                ),
                last_error=h.last_error,
                next_check_at=None if disabled else h.next_check_at,
                next_check="not scheduled"
                if disabled or h.next_check_at is None
                else ("due" if h.next_check_at <= now else relative(h.next_check_at, now)),
                consecutive_errors=h.consecutive_errors,
                meetings=h.meetings,
            )
        )
    order = {s: i for i, s in enumerate(SOURCE_STATE_ORDER)}
    return sorted(rows, key=lambda r: (order.get(r.state, len(order)), r.name.casefold(), r.id))


def source_window(now: datetime, window_days: int = 28) -> datetime:
    return now - timedelta(days=window_days)


# --- alerts -----------------------------------------------------------------------------------------------


def redact_channel_key(key: str) -> str:
    """A delivery's destination as the rules API shows it: an Apprise URL embeds the service's token, so only
    its scheme and last four characters remain; webhook URLs and e-mail addresses are shown."""
    kind, _, rest = key.partition(":")
    if kind == "apprise":
        scheme = rest.split("://", 1)[0]
        return f"apprise:{scheme}://…{rest[-4:] if len(rest) > 12 else ''}"
    return key


@dataclass(frozen=True, slots=True)
class DeliveryRowView:
    id: int
    created_at: datetime
    created: str
    meeting_id: str | None
    event: str
    rules: list[str]
    channel: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    when: str  # sent, or next attempt


def delivery_rows(deliveries: Iterable[Any], now: datetime) -> list[DeliveryRowView]:
    """Deliveries (``ApiRepository.recent_deliveries``) as table rows; only ``meeting.*`` events link to a
    meeting (operator events such as ``source.broken`` carry a source)."""
    out: list[DeliveryRowView] = []
    for d in deliveries:
        if d.status == "sent":
            when = f"sent {relative(d.sent_at, now)}"
        elif d.status == "pending":
            when = "next attempt " + ("due" if d.next_attempt_at <= now else relative(d.next_attempt_at, now))
        else:
            when = "no more attempts"
        out.append(
            DeliveryRowView(
                id=d.id,
                created_at=d.created_at,
                created=relative(d.created_at, now),
                meeting_id=d.aggregate_id if str(d.type).startswith("meeting.") else None,
                event=d.type,
                rules=list(d.rules),
                channel=redact_channel_key(d.channel_key),
                status=d.status,
                attempts=d.attempts,
                last_status=d.last_status,
                last_error=d.last_error,
                when=when,
            )
        )
    return out


def level_options() -> list[tuple[str, str]]:
    return [(lv, LEVEL_LABELS[lv]) for lv in LEVELS]
