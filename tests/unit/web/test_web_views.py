"""The dashboard's view models (services.web.views): pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.api.filters import Cursor, encode_cursor
from services.api.repository import DeliveryView, SourceActivity
from services.web import views as V

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def test_flag_and_country_name() -> None:
    assert V.flag("KAZ") == "\U0001f1f0\U0001f1ff"
    assert V.flag("kaz") == V.flag("KAZ")
    assert V.flag("XKX") == "\U0001f1fd\U0001f1f0"
    assert V.flag("ZZZ") == ""
    assert V.flag(None) == ""
    assert V.country_name("KAZ") == "Kazakhstan"
    assert V.country_name("ZZZ") == "ZZZ"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://mfa.kz.example/news/1", True),
        ("http://mfa.kz.example/news/1", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("/relative/path", False),
        ("//evil.example/x", False),
        ("https://", False),
        (None, False),
        (42, False),
    ],
)
def test_safe_href_links_only_absolute_http(url: Any, ok: bool) -> None:
    assert (V.safe_href(url) is not None) is ok


def test_relative_times() -> None:
    assert V.relative(None, NOW) == "never"
    assert V.relative(NOW - timedelta(seconds=20), NOW) == "now"
    assert V.relative(NOW - timedelta(minutes=12), NOW) == "12 min ago"
    assert V.relative(NOW + timedelta(hours=5), NOW) == "in 5 h"
    assert V.relative(NOW - timedelta(days=9), NOW) == "9 d ago"


RECORD: dict[str, Any] = {
    "id": "m1",
    "status": "held",
    "date": "2025-03-04",
    "mode": "in_person",
    "level": "minister",
    "location": {"city": "Astana", "country": "KAZ"},
    "participants": [
        {"name": "Murat Nurtleu", "country": "KAZ", "role": "foreign_minister"},
        {
            "name": None,
            "name_as_printed": "王毅",
            "country": "CHN",
            "role": "foreign_minister",
            "person_id": "Q1",
            "title": "Minister of Foreign Affairs",
        },
        {"name": None, "org": "SCO", "role": "org_head"},
    ],
    "topics": ["trade"],
    "sources": [
        {
            "url": "https://mfa.kz.example/1",
            "publisher": "MFA of Kazakhstan",
            "evidence": "They met.",
            "title": "Talks",
            "language": "ru",
            "published_at": "2025-03-04T10:00:00+00:00",
        },
        {"url": "javascript:alert(1)", "publisher": None, "evidence": "Ev <b>2</b>", "title": "Ev <b>2</b>"},
    ],
}


def test_meeting_card() -> None:
    card = V.meeting_card(RECORD, "stamp-1")
    assert card.headline == "KAZ – CHN – SCO"
    assert card.place == "Astana, Kazakhstan"
    assert (card.mode_label, card.level_label) == ("In person", "Minister")
    first, second, org = card.participants
    assert (first.name, first.office, first.flag) == ("Murat Nurtleu", "Foreign minister", V.flag("KAZ"))
    assert first.person_href == "/person?name=Murat+Nurtleu"
    # The printed title wins over the role; the registry id is what the person page is looked up by.
    assert (second.name, second.office, second.person) == ("王毅", "Minister of Foreign Affairs", "Q1")
    # Nobody named: the office is the name.
    assert (org.name, org.office, org.org) == ("Head of organisation", "", "SCO")
    kz, bad = card.sources
    assert (kz.label, kz.href, kz.published_at) == (
        "MFA of Kazakhstan",
        "https://mfa.kz.example/1",
        "2025-03-04",
    )
    assert bad.href is None
    assert bad.title is None  # only repeats the evidence
    assert card.stamp == "stamp-1"


def test_timeline_points_skip_undated_meetings() -> None:
    undated = {**RECORD, "id": "m2", "date": None}
    points = V.timeline_points([RECORD, undated])
    assert [p["id"] for p in points] == ["m1"]
    assert points[0]["level"] == "minister"
    assert "KAZ – CHN – SCO" in points[0]["label"]


def test_parse_meeting_params_reads_the_form() -> None:
    cursor = Cursor(None, "m9")
    p = V.parse_meeting_params(
        {
            "state": "kaz uzb",
            "pair": "",
            "org": " SCO ",
            "level": "minister",
            "mode": "phone",
            "since": "2025-01-01",
            "until": "2025-03-31",
            "q": "talks",
            "cursor": encode_cursor(cursor),
        }
    )
    assert p.errors == {}
    assert p.filter.states == ("KAZ", "UZB")
    assert p.filter.org == "SCO"
    assert p.filter.levels == ("head_of_state", "head_of_government", "minister")
    assert p.filter.mode == "phone"
    assert (p.filter.since, p.filter.until) == (datetime(2025, 1, 1).date(), datetime(2025, 3, 31).date())
    assert p.q == "talks"
    assert p.cursor == cursor
    # Empty fields are not repeated in links; the cursor is not part of the form.
    assert p.query_string() == (
        "state=kaz+uzb&org=SCO&level=minister&mode=phone&since=2025-01-01&until=2025-03-31&q=talks"
    )
    assert "cursor=abc" in p.query_string(cursor="abc")


def test_parse_meeting_params_pair_spellings() -> None:
    for spelling in ("KAZ,CHN", "kaz-chn", "KAZ CHN", "KAZ–CHN"):
        assert V.parse_meeting_params({"pair": spelling}).filter.states == ("KAZ", "CHN")


def test_bad_fields_are_named_and_left_out() -> None:
    p = V.parse_meeting_params(
        {
            "state": "KAZZ",
            "pair": "KAZ",
            "level": "emperor",
            "mode": "fax",
            "since": "yesterday",
            "q": "a\x00b",
            "cursor": "!!",
            "status": "held",
        }
    )
    assert set(p.errors) == {"state", "pair", "level", "mode", "since", "q", "cursor"}
    assert "ISO 3166-1" in p.errors["state"]
    assert p.filter == V.parse_meeting_params({"status": "held"}).filter
    reversed_range = V.parse_meeting_params({"since": "2025-03-01", "until": "2025-02-01"})
    assert "until" in reversed_range.errors
    assert reversed_range.filter.until is None


def test_network_graph_counts_pairs_and_states() -> None:
    graph = V.network_graph([("CHN|KAZ", 3), ("KAZ|UZB", 1), ("CHN|ORG:SCO|RUS", 2), ("KAZ", 1)])
    nodes = {n["id"]: n["weight"] for n in graph.nodes}
    assert nodes == {"KAZ": 5, "CHN": 5, "UZB": 1, "RUS": 2}
    edges = {(e["source"], e["target"]): e["weight"] for e in graph.edges}
    assert edges == {("CHN", "KAZ"): 3, ("KAZ", "UZB"): 1, ("CHN", "RUS"): 2}
    assert graph.edges[0]["weight"] == 3  # heaviest first
    assert graph.nodes[0]["name"] in ("China", "Kazakhstan")
    summit = V.network_graph([("AZE|KAZ|RUS|TKM|UZB", 1)])
    assert len(summit.edges) == 10


def test_reported_offices_first_and_last_day() -> None:
    def meeting(day: str, title: str, role: str) -> dict[str, Any]:
        return {
            "date": day,
            "participants": [
                {"name": "Aibek Sarsenov", "country": "KAZ", "role": role, "title": title},
                {"name": "Someone Else", "country": "KGZ", "role": "foreign_minister"},
            ],
        }

    records = [
        meeting("2025-02-10", "Minister of Foreign Affairs", "foreign_minister"),
        meeting("2024-06-01", "Deputy Minister of Foreign Affairs", "deputy_foreign_minister"),
        meeting("2024-09-01", "Deputy Minister of Foreign Affairs", "deputy_foreign_minister"),
    ]
    offices = V.reported_offices(records, "sarsenov")
    assert [(o.office, o.holder_of, o.start, o.end, o.meetings) for o in offices] == [
        ("Deputy Minister of Foreign Affairs", "KAZ", "2024-06-01", "2024-09-01", 2),
        ("Minister of Foreign Affairs", "KAZ", "2025-02-10", "2025-02-10", 1),
    ]
    assert all(o.basis == "reported" for o in offices)


@dataclass
class Health:
    id: str
    state: str
    enabled: bool = True
    definition: dict[str, Any] = field(default_factory=dict)
    last_success_at: datetime | None = None
    next_check_at: datetime | None = None
    last_error: str | None = None
    consecutive_errors: int = 0
    meetings: int = 0


def test_source_rows_broken_first_then_failing_ok_disabled() -> None:
    healths = [
        Health("a-ok", "ok", definition={"name": "A", "country": "KAZ", "url": "https://a.example/rss"}),
        Health("b-off", "ok", enabled=False, definition={"name": "B"}),
        Health("c-failing", "failing", definition={"name": "C"}, next_check_at=NOW - timedelta(minutes=1)),
        Health("z-broken", "broken", definition={"name": "Z"}, last_error="HTTP 404"),
        Health("d-held", "disabled", definition={"name": "D"}, next_check_at=NOW + timedelta(hours=1)),
    ]
    activity = {
        "a-ok": SourceActivity(NOW - timedelta(hours=3), 8, None),
        "z-broken": SourceActivity(None, 0, 0.25),
    }
    rows = V.source_rows(healths, activity, NOW, window_days=28)
    assert [(r.id, r.state) for r in rows] == [
        ("z-broken", "broken"),
        ("c-failing", "failing"),
        ("a-ok", "ok"),
        ("b-off", "disabled"),
        ("d-held", "disabled"),
    ]
    by_id = {r.id: r for r in rows}
    assert by_id["a-ok"].items_per_week == "2.0"  # 8 documents in 4 weeks
    assert by_id["z-broken"].items_per_week == "0.2"  # the scheduler's own rate
    assert by_id["a-ok"].last_item == "3 h ago"
    assert by_id["z-broken"].last_item == "never"
    assert by_id["c-failing"].next_check == "due"
    assert by_id["d-held"].next_check == "not scheduled"
    assert by_id["a-ok"].href == "https://a.example/rss"


def test_redact_channel_key() -> None:
    assert V.redact_channel_key("apprise:tgram://123456:SECRETTOKEN/42") == "apprise:tgram://…N/42"
    assert "SECRET" not in V.redact_channel_key("apprise:tgram://123456:SECRETTOKEN/42")
    assert V.redact_channel_key("webhook:https://hooks.example/x") == "webhook:https://hooks.example/x"
    assert V.redact_channel_key("email:desk@example.org") == "email:desk@example.org"


def test_delivery_rows() -> None:
    def delivery(i: int, status: str, type_: str = "meeting.created", aggregate: str = "m1") -> DeliveryView:
        return DeliveryView(
            id=i,
            outbox_id=f"o{i}",
            aggregate_id=aggregate,
            type=type_,
            channel_key="apprise:json://host/abcdefgh",
            kind="new",
            rules=["r"],
            status=status,
            attempts=1,
            last_status=None,
            last_error=None,
            next_attempt_at=NOW + timedelta(minutes=10),
            sent_at=NOW - timedelta(minutes=2),
            created_at=NOW - timedelta(minutes=3),
        )

    sent, pending, dead, operator = V.delivery_rows(
        [
            delivery(1, "sent"),
            delivery(2, "pending"),
            delivery(3, "dead"),
            delivery(4, "sent", "source.broken", "source:zz"),
        ],
        NOW,
    )
    assert sent.when == "sent 2 min ago"
    assert pending.when == "next attempt in 10 min"
    assert dead.when == "no more attempts"
    assert sent.meeting_id == "m1"
    assert operator.meeting_id is None
    assert "abcdefgh" not in sent.channel


def test_feed_link_spells_the_api_filters() -> None:
    from services.web.routes import _api_query

    def feed(**params: str) -> str:
        return _api_query(V.parse_meeting_params(params))

    assert feed(state="kaz", mode="phone") == "state=KAZ&mode=phone"
    assert feed(state="KAZ CHN") == "pair=KAZ%2CCHN"
    assert feed(state="KAZ CHN UZB") == "state=KAZ&pair=CHN%2CUZB"
    assert feed(state="KAZZ", level="minister") == "level=minister"  # a bad field stays out
