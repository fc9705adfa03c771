"""One poll of one source: a conditional GET of its feed or listing page, turned into items and hints.

``poll_source`` does the I/O through any ``Client`` (``GuardedClient`` in production, a fake in tests) and
returns a ``PollResult``; deciding what is new (URL/GUID dedup), when to poll next and how healthy the source
is belongs to the caller (``schedule.py`` and the store). Errors propagate: ``FetchError`` (and its
``HTTPStatusError``/``ListingEmpty`` subclasses) and ``FeedError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from services.core.domain import FetchedDoc
from services.fetcher.feeds import FeedItem, read_feed
from services.fetcher.http import decode_text
from services.fetcher.listing import next_page_url, parse_listing
from services.fetcher.schedule import ServerHints, hints_from_headers
from services.fetcher.sources import SourceDef

__all__ = ["Client", "PollResult", "poll_source"]


class Client(Protocol):
    """What ``poll_source`` needs of an HTTP client (``GuardedClient`` satisfies it)."""

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc: ...


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of one poll. ``not_modified``: the server answered 304 (``items`` is empty).
    ``etag``/``last_modified`` are the validators to send next time (the old ones are kept on a 304 that
    carries none)."""

    not_modified: bool
    items: list[FeedItem]
    etag: str | None
    last_modified: str | None
    status: int
    hints: ServerHints = field(default_factory=ServerHints)
    final_url: str | None = None
    next_page: str | None = None
    hub: str | None = None


def poll_source(
    source: SourceDef,
    client: Client,
    etag: str | None = None,
    last_modified: str | None = None,
    *,
    now: datetime | None = None,
) -> PollResult:
    """Fetch ``source.url`` conditionally and read its items (feed or listing, by ``source.kind``)."""
    doc = client.get(source.url, etag=etag, last_modified=last_modified)
    now = now or datetime.now(UTC)
    new_etag = doc.headers.get("etag") or etag
    new_lm = doc.headers.get("last-modified") or last_modified
    if doc.status == 304:
        return PollResult(
            not_modified=True,
            items=[],
            etag=new_etag,
            last_modified=new_lm,
            status=304,
            hints=hints_from_headers(doc.headers, now),
            final_url=doc.final_url,
        )
    base = doc.final_url or source.url
    if source.kind == "html_list":
        assert source.list is not None  # guaranteed by SourceDef validation
        html = decode_text(doc.body, doc.headers.get("content-type"))
        items = parse_listing(html, base, source.list)
        return PollResult(
            not_modified=False,
            items=items,
            etag=new_etag,
            last_modified=new_lm,
            status=doc.status,
            hints=hints_from_headers(doc.headers, now),
            final_url=doc.final_url,
            next_page=next_page_url(html, base, source.list),
        )
    feed = read_feed(doc.body, base)
    return PollResult(
        not_modified=False,
        items=feed.items,
        etag=new_etag,
        last_modified=new_lm,
        status=doc.status,
        hints=hints_from_headers(doc.headers, now, ttl_s=feed.ttl_s),
        final_url=doc.final_url,
        hub=feed.hub,
    )
