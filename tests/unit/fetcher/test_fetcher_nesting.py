"""Reliability case 9, deep nesting: a feed (or a page) of 100 000 nested elements, and wide/deep mixtures, is
refused — or read — within a small CPU and memory budget, as the reader's own error (which the poller and the
parse stage record). Measured per call with ``time.process_time`` and ``tracemalloc``.

Before the guard (``services.core.markup``): 100 000 nested ``<div>`` cost lexbor ~40 s (O(depth²)), and
feedparser ~5 s on the same depth in a feed.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from services.core.markup import XML_MAX_ELEMENTS
from services.fetcher.feeds import TITLE_MAX, FeedError, read_feed
from services.fetcher.listing import ListingUnreadable, parse_listing
from services.fetcher.sources import ListSelectors
from services.parser.article import extract_article
from services.parser.errors import ParseError

BASE = "https://mfa.example/rss.xml"
CPU_S = 0.5
PEAK_BYTES = 32 * 1024 * 1024  # the input itself is a few MiB, and is decoded once or twice


def budget(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """``fn()`` (or the exception it raised), its CPU time, and the peak of its traced allocations (from a
    second call: tracing slows allocation-heavy code several times, so it is not on during the timed one)."""

    def call() -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the caller checks the type
            return exc

    started = time.process_time()
    out = call()
    cpu = time.process_time() - started
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, cpu, peak


def rss(inner: bytes, prolog: bytes = b'<?xml version="1.0"?>') -> bytes:
    return (
        prolog + b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>ok</title><link>https://mfa.example/a</link></item>" + inner + b"</channel></rss>"
    )


DEPTH = 100_000
BOMBS = {
    "100k-nested": rss(b"<x>" * DEPTH + b"</x>" * DEPTH),
    "100k-nested-unclosed": rss(b"<x>" * DEPTH),
    "100k-nested-self-closing-leaf": rss(b"<x a='1'>" * DEPTH + b"<y/>" + b"</x>" * DEPTH),
    "100k-nested-utf16": rss(
        b"<x>" * DEPTH + b"</x>" * DEPTH, prolog=b'<?xml version="1.0" encoding="utf-16"?>'
    )
    .decode()
    .encode("utf-16"),
    # wide and deep: 1 000 branches of 300 levels (300 000 elements)
    "wide-and-deep": rss((b"<b>" * 300 + b"</b>" * 300) * 1_000),
    # wide: half a million empty elements
    "wide": rss(b"<e/>" * 500_000),
    # stray end tags close nothing: still 100 000 deep
    "stray-ends": rss(b"<x></y>" * DEPTH),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_nesting_bomb_is_a_feed_error_within_budget(name: str) -> None:
    out, cpu, peak = budget(lambda: read_feed(BOMBS[name], BASE))
    assert isinstance(out, FeedError), out
    assert "refused" in str(out)
    assert cpu < CPU_S, f"{cpu:.2f} s CPU"
    assert peak < PEAK_BYTES, f"{peak / 2**20:.1f} MiB"


def test_a_deep_but_legal_mixture_is_read_within_budget() -> None:
    # 20 branches 300 deep: under both limits, so feedparser reads it (and the item beside it)
    body = rss((b"<b>" * 300 + b"</b>" * 300) * 20)
    out, cpu, peak = budget(lambda: read_feed(body, BASE))
    assert not isinstance(out, BaseException), out
    assert [i.url for i in out.items] == ["https://mfa.example/a"]
    assert cpu < 2.0, f"{cpu:.2f} s CPU"
    assert peak < PEAK_BYTES


def test_the_element_limit_leaves_room_for_large_real_feeds() -> None:
    items = b"".join(
        b"<item><title>t</title><link>https://mfa.example/%d</link><guid>%d</guid>"
        b"<pubDate>Mon, 03 Mar 2025 10:00:00 +0000</pubDate><description>d</description></item>" % (i, i)
        for i in range(2_000)
    )
    assert 2_000 * 6 < XML_MAX_ELEMENTS
    assert len(read_feed(rss(items), BASE).items) == 2_001


def test_nesting_inside_cdata_and_comments_is_text() -> None:
    inner = b"<![CDATA[" + b"<x>" * 5_000 + b"]]>"
    body = rss(
        b"<item><title>c</title><link>https://mfa.example/c</link><description>" + inner + b"</description>"
        b"<!--" + b"<y>" * 5_000 + b"--></item>"
    )
    assert len(read_feed(body, BASE).items) == 2


def test_escaped_markup_in_a_title_is_cut_before_it_is_parsed() -> None:
    title = b"&lt;div&gt;" * 30_000
    body = rss(b"<item><title>" + title + b"</title><link>https://mfa.example/t</link></item>")
    out, cpu, _ = budget(lambda: read_feed(body, BASE))
    assert not isinstance(out, BaseException), out
    assert cpu < 2.0, f"{cpu:.2f} s CPU"
    assert len(out.items) == 2
    assert all(len(i.title or "") <= TITLE_MAX for i in out.items)


HTML_BOMBS = {
    "100k-div": b"<html><body>" + b"<div>" * DEPTH + b"text" + b"</div>" * DEPTH,
    "reopened-formatting": b"<span><b></span>" * 30_000,
    "tables": b"<table><tr><td>" * 30_000,
    "svg-values": b"<svg>" + b"<g a=x/>" * 30_000,
    "many-tags": b"<p>x" * 200_000,
}


@pytest.mark.parametrize("name", sorted(HTML_BOMBS))
def test_an_html_bomb_is_refused_by_the_article_and_listing_readers_within_budget(name: str) -> None:
    body = HTML_BOMBS[name]
    out, cpu, peak = budget(lambda: extract_article(body, url="https://mfa.example/a"))
    assert isinstance(out, ParseError), out
    assert "refused" in str(out)
    assert cpu < CPU_S, f"article: {cpu:.2f} s CPU"
    assert peak < PEAK_BYTES
    sel = ListSelectors(item="li a[href]")
    out, cpu, _ = budget(lambda: parse_listing(body, "https://mfa.example/news", sel))
    assert isinstance(out, ListingUnreadable), out
    assert cpu < CPU_S, f"listing: {cpu:.2f} s CPU"
