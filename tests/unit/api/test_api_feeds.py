"""Atom rendering (services.api.feeds) without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import feedparser

from services.api.auth import token_ok
from services.api.feeds import ATOM_NS, entry_id, entry_title, render_atom
from services.api.repository import MeetingView

T0 = datetime(2025, 3, 5, 8, 30, tzinfo=UTC)


def view(meeting_id: str, **extra: object) -> MeetingView:
    rec = {
        "id": meeting_id,
        "status": "held",
        "date": "2025-03-04",
        "mode": "phone",
        "level": "minister",
        "participants": [
            {"name": "Wang Yi", "country": "CHN", "role": "foreign_minister"},
            {"name": None, "title": "Foreign Minister", "country": "KAZ", "role": "foreign_minister"},
        ],
        "sources": [{"url": "https://a.example/1", "publisher": "MFA", "evidence": "They spoke by phone."}],
        **extra,
    }
    return MeetingView(rec, T0, T0)


def render(*views: MeetingView) -> bytes:
    return render_atom(
        list(views),
        self_url="http://api.test/feeds/meetings.atom?pair=KAZ,CHN",
        html_url="http://api.test/api/meetings?pair=KAZ,CHN",
        meeting_url="http://api.test/api/meetings/{id}",
        next_url=None,
        title="Communiqué meetings: KAZ–CHN",
        now=T0,
    )


def test_feed_parses_and_links() -> None:
    feed = feedparser.parse(render(view("m1"), view("m2")))
    assert not feed.bozo
    assert feed.feed.title == "Communiqué meetings: KAZ–CHN"
    assert [e.id for e in feed.entries] == [entry_id("m1"), entry_id("m2")]
    assert feed.entries[0].link == "http://api.test/api/meetings/m1"
    assert feed.entries[0].title == "CHN–KAZ: Wang Yi, Foreign Minister (phone call, 2025-03-04)"
    assert feed.entries[0].updated == "2025-03-05T08:30:00Z"


def test_characters_xml_forbids_are_dropped_and_markup_escaped() -> None:
    body = render(
        view("m1", sources=[{"url": "https://a.example/1", "evidence": "a\x00b\x0bc <b onclick=x>&"}])
    )
    root = ET.fromstring(body)
    summary = root.find(f"{{{ATOM_NS}}}entry/{{{ATOM_NS}}}summary")
    assert summary is not None
    assert summary.text is not None
    assert summary.text.endswith("abc <b onclick=x>&")
    assert b"<b onclick" not in body


def test_empty_feed_has_updated() -> None:
    root = ET.fromstring(render())
    assert root.findtext(f"{{{ATOM_NS}}}updated") == "2025-03-05T08:30:00Z"


def test_planned_title() -> None:
    assert "planned phone call" in entry_title({"status": "planned", "mode": "phone", "participants": []})


def test_token_comparison() -> None:
    assert token_ok("s3cret", "s3cret")
    assert not token_ok("s3cret", "s3cre")
    assert not token_ok(None, "anything")
    assert not token_ok("", "")
    assert not token_ok("s3cret", None)
