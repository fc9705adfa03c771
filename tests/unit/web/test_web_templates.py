"""The dashboard's templates rendered from view models (services.web.templates.render): no server, no DB."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jinja2 import UndefinedError

from services.api.repository import SourceActivity
from services.web import views as V
from services.web.templates import STATIC_DIR, environment, render, static_url

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
HOSTILE: dict[str, Any] = {
    "id": "m1",
    "status": "planned",
    "date": "2025-04-01",
    "mode": "video",
    "level": "ambassador",
    "participants": [
        {"name": "<img src=x onerror=alert(1)>", "country": "USA", "role": "ambassador"},
        {"name": "John Roe", "country": "GBR", "role": "ambassador", "title": '"><script>x()</script>'},
    ],
    "topics": ["<b>trade</b>"],
    "sources": [
        {
            "url": "javascript:alert(1)",
            "publisher": "MFA",
            "evidence": "will talk <script>alert(1)</script> & more",
        },
        {"url": "https://ok.example/a?b=1&c=<2>", "publisher": "OK", "evidence": "fine"},
    ],
}


def _item(record: dict[str, Any]) -> str:
    return render("_meeting_item.html", {"m": V.meeting_card(record, "s")})


def test_meeting_card_escapes_third_party_text() -> None:
    html = _item(HOSTILE)
    assert "<script>" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html
    assert 'href="https://ok.example/a?b=1&amp;c=&lt;2&gt;"' in html
    assert 'class="badge planned"' in html
    assert 'data-stamp="s"' in html


def test_meeting_card_shows_participants_place_and_sources() -> None:
    record = {
        "id": "m2",
        "status": "held",
        "date": "2025-03-04",
        "mode": "in_person",
        "level": "minister",
        "location": {"city": "Astana", "country": "KAZ"},
        "participants": [{"name": "Murat Nurtleu", "country": "KAZ", "role": "foreign_minister"}],
        "topics": ["trade"],
        "sources": [
            {"url": "https://mfa.kz.example/1", "publisher": "MFA of Kazakhstan", "evidence": "They met."}
        ],
    }
    html = _item(record)
    assert 'id="m-m2"' in html
    assert "Astana, Kazakhstan" in html
    assert '<abbr title="Kazakhstan">KAZ</abbr>' in html
    assert (
        '<a href="/person?name=Murat+Nurtleu">Murat Nurtleu</a>, <span class="office">Foreign minister</span>'
        in html
    )
    assert 'rel="noopener noreferrer nofollow">MFA of Kazakhstan</a>' in html
    assert "They met." in html
    assert '<li class="tag">trade</li>' in html


def _meetings_page(**overrides: Any) -> str:
    params = V.parse_meeting_params(overrides.pop("query", {}))
    context: dict[str, Any] = {
        "page": "meetings",
        "title": "Meetings",
        "params": params,
        "cards": [V.meeting_card(HOSTILE, "s")],
        "next_href": None,
        "first_page": True,
        "changes_href": "/web/meetings/changes",
        "feed_href": "/feeds/meetings.atom",
        "cursor": 7,
        "poll_ms": 3000,
    }
    context.update(overrides)
    return render("meetings.html", context)


def test_meetings_page_has_labelled_filters_and_live_list() -> None:
    html = _meetings_page()
    for name in V.MEETING_FIELDS:
        assert f'<label for="f-{name}">' in html
        assert f'id="f-{name}" name="{name}"' in html
    assert 'data-changes="/web/meetings/changes"' in html
    assert 'data-cursor="7"' in html
    assert 'aria-current="page"' in html
    assert 'class="skip-link" href="#main"' in html
    # No inline script or handler anywhere (the Content-Security-Policy forbids them).
    assert "onclick" not in html
    assert "<script>" not in html
    assert '<script src="/static/dashboard.js?v=' in html


def test_meetings_page_names_a_bad_filter() -> None:
    html = _meetings_page(query={"state": "KAZZ"})
    assert 'aria-invalid="true" aria-describedby="err-state"' in html
    assert 'id="err-state"' in html
    assert 'value="KAZZ"' in html


def test_a_later_page_does_not_poll() -> None:
    html = _meetings_page(first_page=False, next_href="/?cursor=x")
    assert "data-changes" not in html
    assert 'rel="next" href="/?cursor=x"' in html


def test_network_data_block_cannot_close_its_script() -> None:
    graph = V.network_graph([("CHN|KAZ", 2)])
    html = render(
        "network.html",
        {
            "page": "network",
            "title": "Network",
            "params": V.parse_meeting_params({}),
            "graph": graph,
            "graph_data": {
                **graph.as_json(),
                "edge_href": "/network?q=</script><script>x()",
                "node_href": "/?",
            },
            "pair": None,
            "pair_base": "/network?",
            "cards": [],
            "timeline": {"points": [], "levels": [], "modes": []},
            "more": False,
        },
    )
    assert "</script><script>x()" not in html
    assert 'data-pair="CHN-KAZ"' in html
    assert '<td data-label="Meetings" class="num">2</td>' in html


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


def test_sources_page_orders_and_marks_states() -> None:
    rows = V.source_rows(
        [Health("ok", "ok"), Health("broken", "broken", last_error="<b>404</b>")],
        {"ok": SourceActivity(NOW - timedelta(days=1), 3, None)},
        NOW,
    )
    html = render(
        "sources.html", {"page": "sources", "title": "Sources", "rows": rows, "counts": {}, "now": NOW}
    )
    assert html.index('data-source="broken"') < html.index('data-source="ok"')
    assert "&lt;b&gt;404&lt;/b&gt;" in html
    assert '<time datetime="2025-03-19T12:00:00+00:00" title="2025-03-19 12:00 UTC">24 h ago</time>' in html


def test_strict_undefined() -> None:
    with pytest.raises(UndefinedError):
        render("sources.html", {"page": "sources", "title": "Sources"})
    assert environment().autoescape is True


def test_static_urls_carry_a_content_hash() -> None:
    url = static_url("vendor/d3.min.js")
    assert url.startswith("/static/vendor/d3.min.js?v=")
    assert (STATIC_DIR / "vendor" / "d3.LICENSE.txt").is_file()
    with pytest.raises(ValueError, match="no static file"):
        static_url("../templates.py")
