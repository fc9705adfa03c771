"""Inputs the fuzzer and the property tests found (bench/fuzz.py, tests/unit/properties), kept as plain
regression tests. Each crashed, or broke an invariant, before its fix.
"""

from __future__ import annotations

import pytest

from services.fetcher.canonical import canonical_url
from services.fetcher.feeds import read_feed
from services.fetcher.listing import next_page_url, parse_listing
from services.fetcher.sources import ListSelectors

BASE = "https://mfa.example/news/"
SEL = ListSelectors(item="li a[href]", next_page="a.next")


@pytest.mark.parametrize("href", ["//[x/", "http://[::1", "https://a]b/", "http:foo", "http:///x", "HTTP:x"])
def test_a_link_with_a_bracketed_or_missing_host_is_skipped_not_a_crash(href: str) -> None:
    # bench/fuzz.py --target listing: urljoin raised ValueError("Invalid IPv6 URL") out of parse_listing; and
    # "http:junk" on an https page stayed "http:junk", an item without a host
    page = (
        f'<ul><li><a href="{href}">bad</a></li><li><a href="/ok">ok</a></li></ul>'
        f'<a class="next" href="{href}">'
    )
    assert [i.url for i in parse_listing(page, BASE, SEL)] == ["https://mfa.example/ok"]
    assert next_page_url(page, BASE, SEL) is None


def test_an_unusable_base_href_falls_back_to_the_page_url() -> None:
    page = '<head><base href="http://[::1"></head><ul><li><a href="a/1">one</a></li></ul>'
    assert [i.url for i in parse_listing(page, BASE, SEL)] == ["https://mfa.example/news/a/1"]


@pytest.mark.parametrize("link", ["http://[::1", "//[x/", "http:foo"])
def test_a_feed_link_with_a_bracketed_or_missing_host_is_skipped(link: str) -> None:
    body = (
        "<rss version='2.0'><channel><title>t</title>"
        f"<item><title>bad</title><link>{link}</link></item>"
        "<item><title>ok</title><link>https://mfa.example/ok</link></item></channel></rss>"
    ).encode()
    assert [i.url for i in read_feed(body, BASE + "rss.xml").items] == ["https://mfa.example/ok"]
    atom = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
        f"<link rel='hub' href='{link}'/><entry><id>1</id><title>x</title><link href='/a'/></entry></feed>"
    ).encode()
    feed = read_feed(atom, BASE + "atom.xml")
    assert feed.hub is None
    assert [i.url for i in feed.items] == ["https://mfa.example/a"]


def test_a_host_that_is_not_a_valid_idn_canonicalises_once() -> None:
    # tests/unit/properties (feed reader): the percent-encoded host came back upper-case, then lower-case
    once = canonical_url("https://\u00e2\x80/")
    assert once == "https://%c3%a2%c2%80/"
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    "links",
    ['<links hs="x"/>', "<links>t</links>"],
)
def test_an_element_named_links_does_not_break_the_feed(links: str) -> None:
    # bench/fuzz.py --target feed: feedparser makes the feed's (or an entry's) "links" the element's
    # attributes or text, and read_feed iterated it as a list of dicts (AttributeError)
    body = (
        f"<rss version='2.0'><channel><title>t</title>{links}"
        "<item><title>a</title><link>https://mfa.example/a</link></item>"
        f"<item><title>b</title>{links}<link>https://mfa.example/b</link></item>"
        f"<item><title>c</title><link>https://mfa.example/c</link>{links}</item></channel></rss>"
    ).encode()
    feed = read_feed(body, BASE + "rss.xml")
    urls = [i.url for i in feed.items]
    # feedparser loses the link of an item whose <links> comes first; what is read is a real link, never the
    # text of a dict (it was "https://mfa.example/news/%7B'rel':...")
    assert "https://mfa.example/a" in urls
    assert set(urls) <= {"https://mfa.example/a", "https://mfa.example/b", "https://mfa.example/c"}
    assert feed.hub is None


@pytest.mark.parametrize(("ttl", "expected"), [("²", None), ("10", 600), ("9" * 40, 366 * 24 * 3600)])
def test_a_ttl_is_ascii_digits_and_capped(ttl: str, expected: int | None) -> None:
    # "²".isdigit() is true and int() refuses it; a 40-digit ttl would not fit the row's float
    body = f"<rss version='2.0'><channel><title>t</title><ttl>{ttl}</ttl></channel></rss>".encode()
    assert read_feed(body, BASE + "rss.xml").ttl_s == expected
