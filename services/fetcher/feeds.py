"""RSS and Atom feeds → ``FeedItem``s, with hostile XML refused before any XML parser sees it.

Safety: a feed whose prologue holds a document type declaration (``<!DOCTYPE``) or whose first bytes hold an
entity declaration (``<!ENTITY``), in any letter case and on one line or several, is rejected with
``FeedError``. Feeds have no legitimate use for either, and both are the vehicle of billion-laughs, quadratic
blowup and XXE attacks. (feedparser strips a DOCTYPE only when it starts a line, so a one-line bomb would
reach expat.)

A feed nested deeper than ``markup.XML_DEPTH_LIMIT`` or holding more than ``markup.XML_MAX_ELEMENTS``
elements is refused too (``services.core.markup``: a cheap scan of the text feedparser would parse, so the
cost stays linear and small whatever the body). Titles with markup are cut to ``TITLE_MAX`` characters before
their markup is stripped.

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from services.core.markup import xml_refusal
from services.fetcher.canonical import canonical_url

__all__ = ["Feed", "FeedError", "FeedItem", "check_xml_prologue", "parse_feed", "read_feed"]

_HEAD_BYTES = 4096
_DANGEROUS = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)
TITLE_MAX = 2000
TTL_MAX_MINUTES = 366 * 24 * 60  # a longer <ttl> is a year (the schedule caps hints far lower anyway)


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
    # (escaped markup in a title is invisible to the feed's scan: the cut bounds what the HTML parser gets)
    text = str(title)[:TITLE_MAX]
    if "<" in text and ">" in text:
        body = LexborHTMLParser(f"<body>{text}</body>").body
        text = body.text(separator=" ") if body is not None else text
    return " ".join(text.split()) or None


def _http_link(base_url: str, link: str | None) -> str | None:
    if not link:
        return None
    try:
        absolute = urljoin(base_url, link.strip())
        parts = urlsplit(absolute)
    except ValueError:  # "Invalid IPv6 URL": a bracket in the host part ("http://[::1"): not a link
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None  # not web, or no host ("http:foo" against an https feed stays host-less)
    return canonical_url(absolute)


def _links(obj: Any) -> list[Mapping[str, Any]]:
    """feedparser's ``links`` of a feed or an entry: a list of dicts, except when the document has an element
    named ``<links>`` of its own (then it is that element's text or attributes)."""
    value = obj.get("links")
    return [link for link in value if isinstance(link, Mapping)] if isinstance(value, list) else []


def _entry_link(entry: Any) -> str | None:
    link = entry.get("link")
    if link and isinstance(link, str):  # (a <links> element can leave a dict here: not a link)
        return link
    for candidate in _links(entry):
        if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
            return str(candidate["href"])
    return None


def _xml_text(body: bytes, headers: dict[str, str]) -> str:
    """The text feedparser will parse: its own encoding detection (BOM, "<?xm" in UTF-16/32 or EBCDIC, the
    declaration, then fallbacks), so that a feed in UTF-16 cannot hide its tags from the scan."""
    try:
        from feedparser.encodings import convert_to_utf8

        data = convert_to_utf8(headers, body, {})
    except Exception:  # noqa: BLE001 - an internal API: fall back to the byte view
        return body.decode("latin-1")
    # feedparser reads its result as UTF-8 (with replacement characters when it found no encoding)
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)


def read_feed(body: bytes, base_url: str) -> Feed:
    """Parse an RSS or Atom document (see the module docstring). Raises ``FeedError`` only."""
    if not body.strip():
        raise FeedError("empty feed body")
    check_xml_prologue(body)
    headers = {"content-location": base_url}
    refused = xml_refusal(_xml_text(body, headers))
    if refused:
        raise FeedError(refused)
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser's loose parser can raise anything on garbage
        raise FeedError(f"unparseable feed: {exc}") from exc
    if not parsed.get("version") and not parsed.get("entries"):
        problem = parsed.get("bozo_exception")
        raise FeedError(f"not an RSS or Atom feed{f': {problem}' if problem else ''}")
    try:
        return _feed_of(parsed, base_url)
    except Exception as exc:  # noqa: BLE001 - the contract: only FeedError leaves the reader
        raise FeedError(f"unusable feed structure: {exc!r}") from exc


def _feed_of(parsed: Any, base_url: str) -> Feed:
    """The ``Feed`` of feedparser's result (whose shape follows the document: any element may be missing or
    be something else than expected)."""
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
    if ttl.isascii() and ttl.isdigit():  # ("²".isdigit() is true, and int() refuses it)
        ttl_s = min(int(ttl), TTL_MAX_MINUTES) * 60
    hub = self_url = None
    for ref in _links(feed_meta):
        rel, href = ref.get("rel"), ref.get("href")
        if rel == "hub" and href and hub is None:
            hub = _http_link(base_url, href)
        elif rel == "self" and href and self_url is None:
            self_url = _http_link(base_url, href)
    title = feed_meta.get("title")
    return Feed(items=items, title=str(title) if title else None, ttl_s=ttl_s, hub=hub, self_url=self_url)


def parse_feed(body: bytes, base_url: str) -> list[FeedItem]:
    """The items of an RSS or Atom feed (see ``read_feed``)."""
    return read_feed(body, base_url).items
