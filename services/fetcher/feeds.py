"""RSS and Atom feeds → ``FeedItem``s, with hostile XML refused before any XML parser sees it.

Safety: a feed whose prologue holds a document type declaration (``<!DOCTYPE``) or whose first bytes hold an
entity declaration (``<!ENTITY``), in any letter case and on one line or several, is rejected with
``FeedError``. Feeds have no legitimate use for either, and both are the vehicle of billion-laughs, quadratic
blowup and XXE attacks. (feedparser strips a DOCTYPE only when it starts a line, so a one-line bomb would
reach expat.)

Items: the link is resolved against the feed URL and canonicalised; only http(s) links are kept. The GUID is
the entry's id when present and unique within the feed, else the canonical link (some ministries repeat one
GUID on every item or leave it out). ``published`` is the entry's published date, else its updated date, else
None — never the fetch time.
"""

from __future__ import annotations

import calendar
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from services.fetcher.canonical import canonical_url

__all__ = ["Feed", "FeedError", "FeedItem", "check_xml_prologue", "parse_feed", "read_feed"]

_HEAD_BYTES = 4096
_DANGEROUS = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


class FeedError(Exception):
    """The body is not a usable feed (hostile DTD, not XML, not a feed)."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of a feed or listing: the canonical article URL and what the index page says about it."""

    url: str
    guid: str
    title: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed feed: its items and the polling hints it carries (RSS ``<ttl>`` in seconds, WebSub hub)."""

    items: list[FeedItem]
    title: str | None = None
    ttl_s: int | None = None
    hub: str | None = None
    self_url: str | None = None


def _head_text(body: bytes) -> str:
    head = body[:_HEAD_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and (head[0] == 0 or head[1] == 0)):
        for codec in ("utf-16", "utf-16-le", "utf-16-be"):
            try:
                return head.decode(codec, errors="ignore")
            except UnicodeDecodeError:
                continue
    return head.decode("latin-1")


def check_xml_prologue(body: bytes) -> None:
    """Raise ``FeedError`` if the document declares a DTD or entities.

    Heuristic: look for ``<!DOCTYPE`` / ``<!ENTITY`` (any case, whitespace allowed after ``<!``) in the first
    4 KiB, and walk the prologue (XML declaration, processing instructions, comments) up to the root element —
    any ``<!`` markup there other than a comment is refused. UTF-16 documents are decoded first.
    """
    head = _head_text(body)
    raw = head.encode("utf-8", errors="ignore")
    if _DANGEROUS.search(raw):
        raise FeedError("document type or entity declaration in the feed (refused)")
    i = 0
    text = head.lstrip("\ufeff")
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<?", i):
            end = text.find("?>", i)
            if end < 0:
                return
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i)
            if end < 0:
                return
            i = end + 3
        elif text.startswith("<!", i):
            raise FeedError("markup declaration before the root element (refused)")
        else:
            return


def _dt(value: Any) -> datetime | None:
    if isinstance(value, time.struct_time):
        try:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return None


def _plain(title: Any) -> str | None:
    """Feed titles may carry markup (Atom ``type="html"``, sloppy RSS): keep the text only."""
    if not title:
        return None
    text = str(title)
    if "<" in text and ">" in text:
        body = LexborHTMLParser(f"<body>{text}</body>").body
        text = body.text(separator=" ") if body is not None else text
    return " ".join(text.split()) or None


def _http_link(base_url: str, link: str | None) -> str | None:
    if not link:
        return None
    absolute = urljoin(base_url, link.strip())
    if urlsplit(absolute).scheme not in ("http", "https"):
        return None
    return canonical_url(absolute)


def _entry_link(entry: Any) -> str | None:
    link = entry.get("link")
    if link:
        return str(link)
    for candidate in entry.get("links") or ():
        if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
            return str(candidate["href"])
    return None


def read_feed(body: bytes, base_url: str) -> Feed:
    """Parse an RSS or Atom document (see the module docstring). Raises ``FeedError`` only."""
    if not body.strip():
        raise FeedError("empty feed body")
    check_xml_prologue(body)
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={"content-location": base_url},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser's loose parser can raise anything on garbage
        raise FeedError(f"unparseable feed: {exc}") from exc
    if not parsed.get("version") and not parsed.get("entries"):
        problem = parsed.get("bozo_exception")
        raise FeedError(f"not an RSS or Atom feed{f': {problem}' if problem else ''}")
    feed_meta = parsed.get("feed", {})
    raw: list[tuple[str, str | None, str | None, datetime | None]] = []
    for entry in parsed.get("entries", []):
        link = _http_link(base_url, _entry_link(entry))
        if link is None:
            continue
        guid = entry.get("id") or None
        title = _plain(entry.get("title"))
        # dict.get bypasses FeedParserDict's deprecated updated/published aliasing (and its warning)
        published = _dt(dict.get(entry, "published_parsed")) or _dt(dict.get(entry, "updated_parsed"))
        raw.append((link, str(guid).strip() if guid else None, title, published))
    counts: dict[str, int] = {}
    for _, guid, _, _ in raw:
        if guid:
            counts[guid] = counts.get(guid, 0) + 1
    items: list[FeedItem] = []
    seen: set[str] = set()
    for link, guid, title, published in raw:
        key = guid if guid and counts[guid] == 1 else link
        if key in seen or link in seen:
            continue
        seen.update((key, link))
        items.append(FeedItem(url=link, guid=key, title=title or None, published=published))
    ttl_s: int | None = None
    ttl = str(feed_meta.get("ttl", "")).strip()
    if ttl.isdigit():
        ttl_s = int(ttl) * 60
    hub = self_url = None
    for link in feed_meta.get("links") or ():
        rel, href = link.get("rel"), link.get("href")
        if rel == "hub" and href and hub is None:
            hub = _http_link(base_url, href)
        elif rel == "self" and href and self_url is None:
            self_url = _http_link(base_url, href)
    title = feed_meta.get("title")
    return Feed(items=items, title=str(title) if title else None, ttl_s=ttl_s, hub=hub, self_url=self_url)


def parse_feed(body: bytes, base_url: str) -> list[FeedItem]:
    """The items of an RSS or Atom feed (see ``read_feed``)."""
    return read_feed(body, base_url).items
