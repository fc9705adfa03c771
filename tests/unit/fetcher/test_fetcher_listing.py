from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.fetcher.listing import ListingEmpty, next_page_url, parse_listing, parse_listing_date
from services.fetcher.sources import ListSelectors, SourceDef, load_sources, validate_sources_file

PAGES = Path(__file__).resolve().parent / "pages"
CANDIDATES = Path(__file__).resolve().parents[3] / "services" / "fetcher" / "data" / "candidates.yaml"
CORPUS_RAW = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "raw"


@functools.cache
def _sources() -> dict[str, SourceDef]:
    return {s.id: s for s in load_sources()}


def _selectors(source: SourceDef) -> ListSelectors:
    assert source.list is not None
    return source.list


# ----------------------------------------------------------------------------- corpus pages (real sites)

CORPUS = {
    # source id: (saved page, URL it was saved from, min items, a URL that must be among them, its date)
    "cn-mfa-zh-fyrbt-2020": (
        "fmprc.gov.cn_web_wjdt_fyrbt_LISTING_default.html",
        "https://www.fmprc.gov.cn/web/wjdt_674879/fyrbt_674889/default.shtml",
        15,
        "https://www.fmprc.gov.cn/web/wjdt_674879/fyrbt_674889/t1839549.shtml",
        date(2020, 12, 11),
    ),
    "by-mfa-statements": (
        "mfa.gov.by_en_press_statements_LISTING.html",
        "https://mfa.gov.by/en/press/statements/",
        5,
        "http://localhost/bf7e69d3fec2c5f0.html",  # rewritten by the fixture's authors
        None,
    ),
    "my-kln-press": (
        "kln.gov.my_press-releases_LISTING.html",
        "https://www.kln.gov.my/web/guest/press-releases",
        200,
        "https://www.kln.gov.my/web/guest/-/proses-evakuasi-warganegara-malaysia-dari-ukraine"
        "?inheritRedirect=true&redirect=%2Fweb%2Fguest%2Fpress-releases",
        date(2022, 2, 27),
    ),
    "cm-spm-speeches": (
        "spm.gov.cm_speeches_LISTING.html",
        "https://www.spm.gov.cm/site/?q=en/documentation/speeches",
        1,
        "http://localhost/2021.html",
        date(2020, 11, 25),
    ),
    "tl-gov-releases": (
        "timor-leste.gov.tl_speeches_LISTING.html",
        "http://timor-leste.gov.tl/?cat=27&lang=en",
        3,
        "http://timor-leste.gov.tl/?lang=en&p=30194",
        date(2022, 2, 28),
    ),
}


@pytest.mark.corpus
@pytest.mark.parametrize("source_id", sorted(CORPUS))
def test_registry_selectors_on_saved_pages(source_id: str) -> None:
    page, url, minimum, expected_url, expected_date = CORPUS[source_id]
    path = CORPUS_RAW / page
    if not path.exists():
        pytest.skip(f"corpus page {page} not available")
    items = parse_listing(path.read_bytes(), url, _selectors(_sources()[source_id]))
    assert len(items) >= minimum
    assert len({i.url for i in items}) == len(items)
    by_url = {i.url: i for i in items}
    assert expected_url in by_url
    found = by_url[expected_url]
    assert found.title
    assert found.guid == found.url
    if expected_date is not None:
        assert found.published == datetime(
            expected_date.year, expected_date.month, expected_date.day, tzinfo=UTC
        )


@pytest.mark.corpus
def test_fmprc_second_page_and_dates() -> None:
    path = CORPUS_RAW / "fmprc.gov.cn_web_wjdt_fyrbt_LISTING_default_1.html"
    if not path.exists():
        pytest.skip("corpus page not available")
    url = "https://www.fmprc.gov.cn/web/wjdt_674879/fyrbt_674889/default_1.shtml"
    items = parse_listing(path.read_bytes(), url, _selectors(_sources()["cn-mfa-zh-fyrbt-2020"]))
    assert len(items) >= 15
    assert all(i.published is not None for i in items)
    assert all(i.title and "记者会" in i.title for i in items[:5])


@pytest.mark.corpus
def test_belarus_windows_1251_titles_decode() -> None:
    path = CORPUS_RAW / "mfa.gov.by_en_press_statements_LISTING.html"
    if not path.exists():
        pytest.skip("corpus page not available")
    items = parse_listing(
        path.read_bytes(),
        "https://mfa.gov.by/en/press/statements/",
        _selectors(_sources()["by-mfa-statements"]),
    )
    assert any("Belarus" in (i.title or "") for i in items)
    assert not any("\ufffd" in (i.title or "") for i in items)
    # the real-form links of this fixture sit inside an HTML comment: they must not be picked up
    assert all(i.url.startswith("http://localhost/") for i in items)


# ----------------------------------------------------------------------------- our own pages (site shapes)

OWN = {
    "ru-mfa-ru": (
        3,
        "https://mid.ru/ru/foreign_policy/news/2055987/",
        None,
        "https://mid.ru/ru/foreign_policy/news/?PAGEN_1=2",
    ),
    "ru-kremlin-news": (2, "http://kremlin.ru/events/president/news/78301", date(2025, 11, 12), None),
    "us-state-press": (
        2,
        "https://www.state.gov/secretary-rubios-meeting-with-kazakhstan-foreign-minister/",
        date(2025, 10, 28),
        None,
    ),
    "kg-mfa-news": (
        3,
        "https://mfa.gov.kg/en/Main-menu/Press-service/novosti/12345",
        date(2025, 10, 29),
        None,
    ),
    "az-mfa-news": (
        2,
        "https://www.mfa.gov.az/en/news/minister-jeyhun-bayramov-met-with-2025",
        date(2025, 10, 30),
        None,
    ),
    "jp-mofa-press": (3, "https://www.mofa.go.jp/press/release/pressite_000001_01777.html", None, None),
    "cn-mfa-zh-wjbxw": (
        3,
        "https://www.mfa.gov.cn/web/wjdt_674879/wjbxw_674885/202510/t20251030_11745678.shtml",
        date(2025, 10, 30),
        None,
    ),
    "tr-mfa-en": (2, "https://www.mfa.gov.tr/no_-244_-telephone-call.en.mfa", None, None),
}


@pytest.mark.parametrize("source_id", sorted(OWN))
def test_registry_selectors_on_site_shaped_pages(source_id: str) -> None:
    count, expected_url, expected_date, expected_next = OWN[source_id]
    source = _sources()[source_id]
    html = (PAGES / f"{source_id}.html").read_bytes()
    items = parse_listing(html, source.url, _selectors(source))
    assert len(items) == count, [i.url for i in items]
    host = urlsplit(source.url).hostname
    assert all(urlsplit(i.url).hostname == host for i in items)
    by_url = {i.url: i for i in items}
    assert expected_url in by_url, list(by_url)
    assert by_url[expected_url].title
    if expected_date:
        assert by_url[expected_url].published == datetime(
            expected_date.year, expected_date.month, expected_date.day, tzinfo=UTC
        )
    assert next_page_url(html, source.url, _selectors(source)) == expected_next


def _expected(source_id: str) -> dict[str, Any]:
    """The hand-written sidecar ``<id>.json`` next to a page: every item's URL and date, and the next page."""
    data: dict[str, Any] = json.loads((PAGES / f"{source_id}.json").read_text(encoding="utf-8"))
    return data


SIDECAR = sorted(p.stem for p in PAGES.glob("*.json"))


@pytest.mark.parametrize("source_id", SIDECAR)
def test_registry_selectors_on_site_shaped_pages_exact(source_id: str) -> None:
    expected = _expected(source_id)
    source = _sources()[source_id]
    html = (PAGES / f"{source_id}.html").read_bytes()
    items = parse_listing(html, source.url, _selectors(source))
    got = [(i.url, i.published.date().isoformat() if i.published else None) for i in items]
    assert got == [(u, d) for u, d in expected["items"]]
    assert all(i.title and i.title.strip() for i in items)
    assert next_page_url(html, source.url, _selectors(source)) == expected.get("next")


def test_every_html_source_with_a_page_here_is_tested() -> None:
    for page in PAGES.glob("*.html"):
        assert page.stem in OWN or (PAGES / f"{page.stem}.json").exists(), page.name
        assert page.stem not in OWN or not (PAGES / f"{page.stem}.json").exists(), page.name


def test_every_enabled_source_has_a_corpus_or_site_shaped_page() -> None:
    """Issue 4: a listing source ships only with a test on a real page or a page in its site's shape."""
    missing = [
        s.id
        for s in load_sources()
        if s.kind == "html_list" and s.id not in CORPUS and not (PAGES / f"{s.id}.html").exists()
    ]
    assert missing == []
    assert len(load_sources()) >= 40


def test_candidates_file_is_valid_and_not_loaded_by_default() -> None:
    assert validate_sources_file(CANDIDATES) == []
    assert not {c.id for c in load_sources(CANDIDATES)} & set(_sources())


# ----------------------------------------------------------------------------- behaviour


def test_listing_empty() -> None:
    with pytest.raises(ListingEmpty):
        parse_listing(
            "<html><body><p>Site under maintenance</p></body></html>",
            "https://a.example/",
            ListSelectors(item="ul.news li a"),
        )
    with pytest.raises(ListingEmpty):
        parse_listing(b"", "https://a.example/", ListSelectors(item="a"))
    with pytest.raises(ListingEmpty):
        parse_listing(
            '<a href="javascript:void(0)">x</a><a href="#top">y</a>',
            "https://a.example/",
            ListSelectors(item="a"),
        )


def test_links_resolved_against_base_tag_and_canonicalised() -> None:
    html = """<html><head><base href="https://cdn.mfa.example/en/"></head><body>
    <ul><li><a href="news/1.html?utm_source=x#frag">One</a></li>
    <li><a href="mailto:press@mfa.example">Mail</a></li>
    <li><a href="NEWS/2.html">Two</a></li><li><a href="news/1.html">One again</a></li></ul></body></html>"""
    items = parse_listing(html, "https://mfa.example/list", ListSelectors(item="li a"))
    assert [i.url for i in items] == [
        "https://cdn.mfa.example/en/news/1.html",
        "https://cdn.mfa.example/en/NEWS/2.html",
    ]
    assert items[0].title == "One"


def test_item_may_be_a_container_and_title_falls_back() -> None:
    html = """<div class="card"><h3>Talks held</h3><a href="/a">Read more</a>
    <time datetime="2025-01-02T10:00">2 Jan</time></div>
    <div class="card"><a href="/b" title="Only a title attribute"><img src="x.png"></a></div>"""
    items = parse_listing(
        html, "https://mfa.example/", ListSelectors(item="div.card", title="h3", date="time")
    )
    assert items[0].url == "https://mfa.example/a"
    assert items[0].title == "Talks held"
    assert items[0].published == datetime(2025, 1, 2, tzinfo=UTC)
    assert items[1].title == "Only a title attribute"
    assert items[1].published is None


def test_date_in_a_headline_is_not_the_publication_date() -> None:
    html = """<ul><li><a href="/x">Statement at the OSCE (Bratislava, December 5, 2019)</a></li>
    <li><a href="/y">Other</a></li></ul>"""
    items = parse_listing(html, "https://mfa.example/", ListSelectors(item="li a"))
    assert [i.published for i in items] == [None, None]


def test_date_in_the_row_outside_the_link() -> None:
    html = """<table><tr><td><a href="/x">Meeting</a></td><td>03/04/2024</td></tr>
    <tr><td><a href="/y">Call</a></td><td>13/04/2024</td></tr></table>"""
    items = parse_listing(html, "https://mfa.example/", ListSelectors(item="td a"))
    assert [i.published for i in items] == [
        datetime(2024, 4, 3, tzinfo=UTC),
        datetime(2024, 4, 13, tzinfo=UTC),
    ]
    us = parse_listing(html, "https://mfa.example/", ListSelectors(item="td a", date_order="mdy"))
    assert us[0].published == datetime(2024, 3, 4, tzinfo=UTC)
    assert us[1].published == datetime(2024, 4, 13, tzinfo=UTC)  # 13 cannot be a month


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("(2020-12-11)", "dmy", date(2020, 12, 11)),
        ("2020年12月9日外交部", "dmy", date(2020, 12, 9)),
        ("2025/1/2", "dmy", date(2025, 1, 2)),
        ("27.10.2025 18:05", "dmy", date(2025, 10, 27)),
        ("2/28/22", "mdy", date(2022, 2, 28)),
        ("2/28/22", "dmy", date(2022, 2, 28)),
        ("28 of February of 2022", "dmy", date(2022, 2, 28)),
        ("October 28, 2025", "dmy", date(2025, 10, 28)),
        ("Sept. 3rd, 2024", "dmy", date(2024, 9, 3)),
        ("3 Sep 2024", "dmy", date(2024, 9, 3)),
        ("28 октября 2025 года", "dmy", date(2025, 10, 28)),
        ("12 ноября 2025 года, 15:30", "dmy", date(2025, 11, 12)),
        ("5 décembre 2019", "dmy", date(2019, 12, 5)),
        ("Signed on : 25/11/2020", "dmy", date(2020, 11, 25)),
        ("31.02.2024", "dmy", None),
        ("no date here", "dmy", None),
        ("", "dmy", None),
        ("Page 2 of 10", "dmy", None),
    ],
)
def test_parse_listing_date(text: str, order: str, expected: date | None) -> None:
    assert parse_listing_date(text, order) == expected  # type: ignore[arg-type]


def test_next_page() -> None:
    sel = ListSelectors(item="li a", next_page="a.next")
    html = '<ul><li><a href="/1">x</a></li></ul><a class="next" href="?page=2#list">Next</a>'
    assert next_page_url(html, "https://mfa.example/news", sel) == "https://mfa.example/news?page=2"
    assert next_page_url("<p></p>", "https://mfa.example/news", sel) is None
    assert next_page_url(html, "https://mfa.example/news", ListSelectors(item="li a")) is None
