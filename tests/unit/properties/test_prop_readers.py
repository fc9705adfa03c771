"""Properties of the feed and listing readers on hostile input (reliability cases 9 and 14).

``read_feed`` raises only ``FeedError`` and ``parse_listing`` only its ``FetchError`` subclasses
(``ListingEmpty``, ``ListingUnreadable``): the poller records those on the source; anything else would crash
the poll task. Each call returns within ``BUDGET_S``, twice the same input gives the same items, and every
item is a canonical http(s) URL, once per feed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from services.fetcher.canonical import canonical_url
from services.fetcher.feeds import Feed, FeedError, FeedItem, read_feed
from services.fetcher.http import FetchError
from services.fetcher.listing import ListingEmpty, ListingUnreadable, next_page_url, parse_listing
from tests.unit.properties.strategies import (
    PROFILE,
    feed_bodies,
    listing_pages,
    listing_selectors,
    page_bytes,
    timed,
)

BASE = "https://mfa.example/news/"


def _check_items(items: list[FeedItem]) -> None:
    urls = [i.url for i in items]
    assert len(set(urls)) == len(urls), "an item URL twice"
    assert len({i.guid for i in items}) == len(items), "a GUID twice"
    for item in items:
        assert item.url.startswith(("http://", "https://")), item.url
        assert canonical_url(item.url) == item.url
        assert item.published is None or item.published.tzinfo is not None


def _feed(body: bytes) -> Feed | str:
    out, _ = timed(lambda: read_feed(body, BASE + "rss.xml"))
    if isinstance(out, FeedError):
        return f"FeedError: {out}"
    assert isinstance(out, Feed), f"read_feed raised {type(out).__name__}: {out!r}"
    return out


@PROFILE
@given(body=st.one_of(feed_bodies(), page_bytes()))
def test_feed_reader_raises_only_feed_error_in_budget_and_is_deterministic(body: bytes) -> None:
    first = _feed(body)
    assert _feed(body) == first
    if isinstance(first, Feed):
        _check_items(first.items)
        assert first.ttl_s is None or first.ttl_s >= 0
        for hint in (first.hub, first.self_url):
            assert hint is None or hint.startswith(("http://", "https://"))
    event("feed: items" if isinstance(first, Feed) and first.items else "feed: none")


def _listing(html: str | bytes, sel: Any) -> list[FeedItem] | str:
    out, _ = timed(lambda: parse_listing(html, BASE, sel))
    if isinstance(out, ListingEmpty | ListingUnreadable):
        return f"{type(out).__name__}: {out}"
    assert not isinstance(out, BaseException), f"parse_listing raised {type(out).__name__}: {out!r}"
    assert isinstance(out, list)
    return out


@PROFILE
@given(data=st.data(), sel=listing_selectors())
def test_listing_reader_raises_only_its_errors_in_budget_and_is_deterministic(
    data: st.DataObject, sel: Any
) -> None:
    page: str | bytes = data.draw(st.one_of(listing_pages(sel), page_bytes()))
    first = _listing(page, sel)
    assert _listing(page, sel) == first
    if isinstance(first, list):
        assert first, "an empty list instead of ListingEmpty"
        _check_items(first)
    event("listing: items" if isinstance(first, list) else first.split(":")[0])
    following, _ = timed(lambda: next_page_url(page, BASE, sel))
    assert following is None or isinstance(following, str | FetchError)
    if isinstance(following, str):
        assert following.startswith(("http://", "https://"))
