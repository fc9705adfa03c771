"""The dashboard in a real browser (headless Chromium via Playwright) against ``communique serve`` on a
seeded Postgres database.

The HTTP API of the same server is the oracle: a filtered Meetings page must list exactly the meetings
``/api/meetings`` returns for the same filters, the network's weights must equal the API's counts. Every test
saves a full-page screenshot under ``build/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from services.core.db import session_factory
from services.store.uow import UnitOfWork
from services.web.routes import CSP
from tests.e2e.dashboard.seed import BROKEN, NEW_MEETING, PERSON_TWO_OFFICES, SECRET, Seeded, add_report

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

Shoot = Callable[[Any, str], Path]
STATE_ORDER = ["broken", "failing", "ok", "disabled"]


def api_meetings(base: str, **params: str) -> list[dict[str, Any]]:
    """Every meeting ``/api/meetings`` returns for ``params``, following the cursors."""
    out: list[dict[str, Any]] = []
    query: dict[str, str] = {**params, "limit": "200"}
    while True:
        body = httpx.get(f"{base}/api/meetings", params=query, timeout=10).json()
        out.extend(body["items"])
        if not body["next_cursor"]:
            return out
        query["cursor"] = body["next_cursor"]


def card_ids(page: Any, within: str = "#meetings") -> list[str]:
    ids: list[str] = page.locator(f"{within} article.meeting").evaluate_all(
        "els => els.map(e => e.dataset.id)"
    )
    return ids


def card_dates(page: Any) -> list[str]:
    dates: list[str] = page.locator("#meetings article.meeting").evaluate_all(
        "els => els.map(e => e.dataset.date)"
    )
    return dates


def overflow(page: Any) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no horizontal scrolling)."""
    width: int = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )
    return width


LOW_CONTRAST_JS = """
(selector) => {
  function rgb(s) { const m = s.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; }
  function lum(c) {
    const v = c.slice(0, 3).map(x => {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function background(el) {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  }
  const bad = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.textContent.trim()) continue;
    const fg = rgb(getComputedStyle(el).color), bg = background(el);
    const a = lum(fg), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < 4.5) bad.push(el.className + ' "' + text + '" ' + ratio.toFixed(2));
  }
  return bad;
}
"""


def low_contrast(page: Any, selector: str) -> list[str]:
    """Elements matching ``selector`` whose text contrast is below WCAG AA (4.5:1)."""
    bad: list[str] = page.evaluate(LOW_CONTRAST_JS, selector)
    return bad


# --- Meetings ---------------------------------------------------------------------------------------------


def test_meetings_page_lists_every_meeting_newest_first_with_sources(
    page: Any, server: str, shoot: Shoot
) -> None:
    response = page.goto(server + "/")
    assert response.status == 200
    assert response.headers["content-security-policy"] == CSP
    expected = api_meetings(server)
    assert card_ids(page) == [m["id"] for m in expected]
    dates = [d for d in card_dates(page) if d]
    assert dates == sorted(dates, reverse=True)

    # The KAZ-CHN talks reported by both ministries: one card, two sources with links and evidence.
    merged = next(m for m in expected if len(m["sources"]) == 2)
    card = page.locator(f"#m-{merged['id']}")
    links = card.locator(".source a")
    assert links.count() == 2
    assert sorted(links.evaluate_all("els => els.map(e => e.href)")) == sorted(
        s["url"] for s in merged["sources"]
    )
    for src in merged["sources"]:
        expect(card.locator(".evidence", has_text=src["evidence"])).to_have_count(1)
    expect(card.locator(".participants li")).to_have_count(len(merged["participants"]))
    expect(card.locator(".meeting-meta")).to_contain_text("Astana")
    expect(card.locator(".topics")).to_contain_text("trade")
    expect(card.locator(".party abbr[title='Kazakhstan']").first).to_have_text("KAZ")

    # Third-party text is text: the markup in an evidence sentence is shown, not run, and a javascript:
    # source address never becomes a link.
    planned = next(m for m in expected if m["status"] == "planned")
    planned_card = page.locator(f"#m-{planned['id']}")
    expect(planned_card.locator(".evidence")).to_contain_text("<script>alert(1)</script> & talk.")
    assert planned_card.locator("script").count() == 0
    assert planned_card.locator(".source a").count() == 0
    expect(planned_card.locator(".badge.planned")).to_have_text("Planned")
    assert low_contrast(page, ".badge, .nav a, .meeting-title, .office, .muted, .evidence, label") == []
    shoot(page, "meetings")


@pytest.mark.parametrize(
    ("params", "shot"),
    [
        ({"mode": "phone"}, "meetings-filter-mode"),
        ({"state": "KAZ", "level": "head_of_state"}, None),
        ({"pair": "KAZ,CHN"}, None),
        ({"org": "SCO"}, None),
        ({"since": "2025-01-01", "until": "2025-03-05"}, None),
        ({"q": "Astana"}, None),
        ({"state": "KAZ", "mode": "in_person", "level": "minister"}, None),
    ],
)
def test_filters_give_the_api_s_meetings(
    page: Any, server: str, shoot: Shoot, params: dict[str, str], shot: str | None
) -> None:
    total = len(api_meetings(server))
    expected = [m["id"] for m in api_meetings(server, **params)]
    assert 0 < len(expected) < total, "the seed must make this filter select some meetings, not all"
    page.goto(server + "/?" + str(httpx.QueryParams(params)))
    assert card_ids(page) == expected
    expect(page.locator("#result-count")).to_contain_text(f"{len(expected)} meeting")
    if shot:
        shoot(page, shot)


def test_filter_form_submits_and_keeps_its_values(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/")
    page.get_by_label("States").fill("KAZ")
    page.get_by_label("Mode").select_option("phone")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"state=KAZ.*mode=phone|mode=phone.*state=KAZ"))
    assert card_ids(page) == [m["id"] for m in api_meetings(server, state="KAZ", mode="phone")]
    expect(page.get_by_label("States")).to_have_value("KAZ")
    expect(page.get_by_label("Mode")).to_have_value("phone")
    for mode in page.locator("#meetings article.meeting").evaluate_all("els => els.map(e => e.dataset.mode)"):
        assert mode == "phone"
    shoot(page, "meetings-filtered")


def test_a_bad_filter_is_named_and_left_out(page: Any, server: str) -> None:
    page.goto(server + "/?state=KAZZ&mode=phone")
    expect(page.locator("#err-state")).to_contain_text("ISO 3166-1")
    expect(page.get_by_label("States")).to_have_attribute("aria-invalid", "true")
    assert card_ids(page) == [m["id"] for m in api_meetings(server, mode="phone")]


def test_a_new_meeting_appears_without_reload(
    browser: Any, page: Any, server: str, seeded: Seeded, shoot: Shoot
) -> None:
    from tests.e2e.dashboard.conftest import DESKTOP, open_page

    page.goto(server + "/")
    before = card_ids(page)
    page.evaluate("() => { window.__notReloaded = true; }")
    # A second window filtered to phone calls must not get the new (in-person) meeting.
    context, phone_calls, errors = open_page(browser, DESKTOP)
    try:
        phone_calls.goto(server + "/?mode=phone")
        phone_before = card_ids(phone_calls)

        add_report(seeded.url, NEW_MEETING, datetime.now(UTC), seeded.rules_path)
        new = api_meetings(server, state="TKM")
        assert len(new) == 1
        card = page.locator(f"#m-{new[0]['id']}")
        expect(card).to_be_visible(timeout=15_000)
        assert page.evaluate("() => window.__notReloaded") is True
        # Its date is the newest: it goes first, and nothing else moved.
        assert card_ids(page) == [new[0]["id"], *before]
        expect(card.locator(".evidence")).to_contain_text("Ashgabat")
        expect(page.locator("#live-status")).to_contain_text("1 new meeting")

        phone_calls.wait_for_timeout(4000)  # more than one poll interval of the second window
        assert card_ids(phone_calls) == phone_before
        assert not errors.messages, errors.messages
    finally:
        context.close()
    shoot(page, "meetings-live")


# --- Network ----------------------------------------------------------------------------------------------


def _states(meetings: list[dict[str, Any]]) -> set[str]:
    return {p["country"] for m in meetings for p in m["participants"] if p.get("country")}


def test_network_graph_renders_states_weighted_by_meetings(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/network")
    expect(page.locator("#network[data-rendered='true'] svg")).to_be_visible()
    everything = api_meetings(server)
    nodes = page.locator("#network g.node").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.state, Number(e.dataset.weight)]))"
    )
    assert set(nodes) == _states(everything)
    for state in ("KAZ", "CHN", "UZB"):
        assert nodes[state] == len(api_meetings(server, state=state))

    edges = page.locator("#network line.edge").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.pair,"
        " [Number(e.dataset.weight), Number(e.getAttribute('stroke-width'))]]))"
    )
    kaz_chn = len(api_meetings(server, pair="KAZ,CHN"))
    assert kaz_chn >= 3
    assert edges["CHN-KAZ"][0] == kaz_chn
    assert edges["KAZ-UZB"][0] == len(api_meetings(server, pair="KAZ,UZB")) == 1
    # The weight shows: the busiest pair is drawn thickest.
    assert edges["CHN-KAZ"][1] == max(width for _, width in edges.values())
    assert edges["CHN-KAZ"][1] > edges["KAZ-UZB"][1]
    # Each circle's area grows with its meetings.
    radii = page.locator("#network g.node circle").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.parentNode.dataset.state, Number(e.getAttribute('r'))]))"
    )
    assert radii["KAZ"] > radii["UZB"]
    shoot(page, "network")


def test_network_level_filter(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/network")
    page.get_by_label("Level").select_option("head_of_state")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"level=head_of_state"))
    expect(page.locator("#network[data-rendered='true'] svg")).to_be_visible()
    states = page.locator("#network g.node").evaluate_all("els => els.map(e => e.dataset.state)")
    expected = _states(api_meetings(server, level="head_of_state"))
    assert set(states) == expected
    assert expected < _states(api_meetings(server))
    shoot(page, "network-level")


def test_pair_timeline_kaz_chn(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/network")
    expect(page.locator("#network[data-rendered='true'] svg")).to_be_visible()
    # The graph's KAZ-CHN line is a link to the pair's timeline.
    page.locator("#network a:has(line[data-pair='CHN-KAZ'])").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/network\?pair=CHN%2CKAZ"))
    expected = api_meetings(server, pair="KAZ,CHN")
    expect(page.locator("h1")).to_contain_text("CHN")
    expect(page.locator("#timeline[data-rendered='true'] svg")).to_be_visible()
    points = page.locator("#timeline circle.point").evaluate_all(
        "els => els.map(e => [e.dataset.id, e.dataset.date])"
    )
    assert sorted(tuple(p) for p in points) == sorted((m["id"], m["date"]) for m in expected)
    assert card_ids(page, "#pair-meetings") == [m["id"] for m in expected]
    # A dot leads to its meeting's card.
    page.locator(f"#timeline a[href='#m-{expected[-1]['id']}']").click()
    assert page.evaluate("() => location.hash") == f"#m-{expected[-1]['id']}"
    shoot(page, "network-pair-kaz-chn")


# --- Person -----------------------------------------------------------------------------------------------


def test_person_page_shows_offices_and_meetings_over_time(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/")
    page.locator("#meetings .participants a", has_text=PERSON_TWO_OFFICES).first.click()
    page.wait_for_url(re.compile(r"/person\?name="))
    expect(page.locator("h1")).to_have_text(PERSON_TWO_OFFICES)
    expected = api_meetings(server, person=PERSON_TWO_OFFICES)
    assert len(expected) == 2
    offices = page.locator("#offices tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    printed = {
        (p["title"], m["date"])
        for m in expected
        for p in m["participants"]
        if p.get("name") == PERSON_TWO_OFFICES
    }
    assert len(printed) == 2
    assert {(row[0], row[2]) for row in offices} == printed
    expect(page.locator("#timeline[data-rendered='true'] svg")).to_be_visible()
    assert page.locator("#timeline circle.point").count() == 2
    assert card_ids(page, "#person-meetings") == [m["id"] for m in expected]
    shoot(page, "person")


def test_person_page_of_a_registry_person(page: Any, server: str) -> None:
    page.goto(server + "/person")
    page.get_by_label("Name or registry id").fill("Wang Yi")
    page.get_by_label("Name or registry id").press("Enter")
    page.wait_for_url(re.compile(r"name=Wang"))
    expected = api_meetings(server, person="Wang Yi")
    assert card_ids(page, "#person-meetings") == [m["id"] for m in expected]
    expect(page.locator("#offices")).to_contain_text("office-holder registry")


# --- Sources ----------------------------------------------------------------------------------------------


def test_sources_broken_first(page: Any, server: str, shoot: Shoot) -> None:
    page.goto(server + "/sources")
    rows = page.locator("#sources tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.source, r.dataset.state])"
    )
    api = {s["id"]: s for s in httpx.get(f"{server}/api/sources", timeout=10).json()["items"]}
    assert {sid for sid, _ in rows} == set(api)
    assert rows[0] == [BROKEN, "broken"]
    ranks = [STATE_ORDER.index(state) for _, state in rows]
    assert ranks == sorted(ranks)
    assert {state for _, state in rows} == set(STATE_ORDER)
    broken = page.locator(f"#s-{BROKEN}")
    expect(broken.locator("td[data-label='Last error']")).to_have_text(api[BROKEN]["last_error"])
    failing = page.locator("tr[data-state='failing']")
    expect(failing.locator("td[data-label='Last error']")).to_contain_text("503")
    expect(failing).to_contain_text("3 errors in a row")
    for label in ("Last success", "Last new item", "Items / week", "Next check"):
        expect(broken.locator(f"td[data-label='{label}']")).not_to_be_empty()
    expect(page.locator("#s-kz-mfa td[data-label='Items / week']")).to_have_text("6.5")
    expect(page.locator("#s-kz-mfa td[data-label='Last new item'] time")).to_have_count(1)
    expect(page.locator("#s-kg-mfa td[data-label='Next check']")).to_have_text("not scheduled")
    assert low_contrast(page, ".badge, td, th, caption") == []
    shoot(page, "sources")


# --- Alerts -----------------------------------------------------------------------------------------------


def test_alerts_page_shows_rules_and_deliveries(page: Any, server: str, seeded: Seeded, shoot: Shoot) -> None:
    page.goto(server + "/alerts")
    rules = page.locator("#rules li.rule").evaluate_all("els => els.map(e => e.dataset.rule)")
    assert rules == [r["name"] for r in httpx.get(f"{server}/api/rules", timeout=10).json()]
    html = page.content()
    assert SECRET not in html
    assert "whsec_…" + SECRET[-4:] in html
    with UnitOfWork(session_factory(seeded.url)) as uow:
        counts = uow.deliveries.counts()
    assert {"sent", "dead", "pending"} <= set(counts)
    shown = page.locator("#deliveries tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert {s: shown.count(s) for s in set(shown)} == counts
    dead = page.locator("#deliveries tr[data-status='dead']").first
    expect(dead).to_contain_text("HTTP 500")
    expect(page.locator("#deliveries tr[data-status='sent']").first).to_contain_text("sent")
    shoot(page, "alerts")


# --- Accessibility and phone width --------------------------------------------------------------------


def test_keyboard_reaches_the_filters(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "f-state":
            break
    else:
        pytest.fail("the States filter is not reachable with Tab")
    # Visible focus: the focused field is outlined.
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.type("UZB")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"state=UZB"))
    assert card_ids(page) == [m["id"] for m in api_meetings(server, state="UZB")]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "meetings"),
        ("/network?pair=KAZ,CHN", "network"),
        ("/person?name=Aibek+Sarsenov", "person"),
        ("/sources", "sources"),
        ("/alerts", "alerts"),
    ],
)
def test_phone_width_has_no_horizontal_overflow(
    phone_page: Any, server: str, shoot: Shoot, path: str, name: str
) -> None:
    phone_page.goto(server + path)
    if "network" in path or "person" in path:
        expect(phone_page.locator("#timeline[data-rendered='true'] svg")).to_be_visible()
    assert overflow(phone_page) <= 0
    assert phone_page.locator("nav a").first.is_visible()
    shoot(phone_page, f"{name}-phone")
