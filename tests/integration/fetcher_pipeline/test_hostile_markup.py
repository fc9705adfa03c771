"""Reliability cases 9 and 14 through the embedded pipeline (the task functions the workers run) against a
local server: a feed of 100 000 nested elements, an article page of 30 000 nested elements and a listing
page of the same are recorded as errors on their source or document, cheaply, and the same cycle goes on to
store the good source's meeting — the worker is alive and other work flows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from services.fetcher.sources import ListSelectors, SourceDef
from tests.integration.fetcher_pipeline.server import Server, page, serve
from tests.integration.fetcher_pipeline.test_fetcher_pipeline import (
    documents,
    feed_source,
    make_settings,
    rss,
    run,
    source_row,
)

pytestmark = pytest.mark.integration

DEPTH = 100_000
GOOD = (
    b"<html lang='en'><body><h1>Talks in Astana</h1><div class='text'><p>On 3 March 2025 the Minister of "
    b"Foreign Affairs of Kazakhstan held talks with the Minister of Foreign Affairs of Uzbekistan in Astana."
    b"</p></div></body></html>"
)


@pytest.fixture
def site() -> Iterator[Server]:
    with serve({}) as server:
        yield server


def test_nesting_bombs_are_recorded_errors_and_the_cycle_goes_on(site: Server, sqlite_url: str) -> None:
    nested_feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + b"<x>" * DEPTH
        + b"</x>" * DEPTH
        + b"</channel></rss>"
    )
    # 30 000 levels (60 000 tags, under the tag limit): lexbor alone would spend seconds on it
    nested_page = b"<html><body>" + b"<div>" * 30_000 + b"text" + b"</div>" * 30_000 + b"</body></html>"
    site.routes["/bomb.xml"] = page(nested_feed, "application/rss+xml")
    site.routes["/feed.xml"] = page(rss(site.base, ["/good.html", "/deep.html"]), "application/rss+xml")
    site.routes["/good.html"] = page(GOOD)
    site.routes["/deep.html"] = page(nested_page)
    site.routes["/list.html"] = page(nested_page)
    settings = make_settings(sqlite_url)
    listing = SourceDef(
        id="deep-list",
        name="deep-list",
        country="KAZ",
        language="en",
        kind="html_list",
        url=site.url("/list.html"),
        list=ListSelectors(item="li a[href]"),
    )
    sources = [feed_source("bomb", site.url("/bomb.xml")), feed_source("kz", site.url("/feed.xml")), listing]

    started = time.process_time()
    counts = run(settings, sources)
    cpu = time.process_time() - started

    bomb = source_row(sqlite_url, "bomb")
    assert bomb.consecutive_errors == 1
    assert bomb.last_error is not None
    assert "FeedError" in bomb.last_error
    assert "nested" in bomb.last_error
    deep_list = source_row(sqlite_url, "deep-list")
    assert deep_list.last_error is not None
    assert "ListingUnreadable" in deep_list.last_error
    assert deep_list.consecutive_errors == 1
    assert deep_list.consecutive_empty == 0  # a hostile page is an error, not "the selector matched nothing"

    by_url = {d.url.rsplit("/", 1)[-1]: d for d in documents(sqlite_url)}
    assert by_url["deep.html"].parse_status == "error"
    assert "nested" in (by_url["deep.html"].parse_error or "")
    assert by_url["good.html"].parse_status == "ok"
    assert by_url["good.html"].stored_at is not None
    assert counts  # the cycle returned its counts: nothing crashed it
    # Each bomb costs the pre-scan a few milliseconds; the whole cycle (HTTP, SQLite, extraction) stays small.
    assert cpu < 10, f"{cpu:.1f} s CPU for the cycle"
