"""Listing pages (HTML index of a ministry's news) → ``FeedItem``s, driven by the source's CSS selectors.

Heuristics of ``parse_listing``:

* every element matching ``sel.item`` is one item; its link is the element's own ``href`` if it is an ``<a>``,
  else the first ``a[href]`` inside it. Links are resolved against ``<base href>`` (if any) and the page URL,
  canonicalised; ``javascript:``/``mailto:``/fragment-only links are skipped; repeats keep the first
  occurrence;
* the item's *row* is its highest ancestor that contains no other item (the ``<li>``/``<tr>`` around it):
  ``sel.title`` and ``sel.date`` are looked up in the item first, then in the row, so a date printed next to
  the link (a sibling cell, "(2020-12-11)" after ``</a>``) is found too;
* the title is the title element's text, else the link text, else its ``title`` attribute;
* the date comes from the date element (its ``datetime`` attribute first); a source without a date selector
  gets the first date-shaped text of the row outside the link (a date inside a headline is the event's, not
  the publication's). Dates are read by ``parse_listing_date``; an unreadable date is None, never the fetch
  time.

A page where ``sel.item`` matches nothing raises ``ListingEmpty``, so the caller can count misses and mark the
source broken after several in a row (a redesign of the site, a block page). A page the HTML parser should
not see (nested deeper, or holding more tags, than ``services.core.markup`` allows) raises
``ListingUnreadable``, counted as an error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.core.markup import html_refusal
from services.fetcher.canonical import canonical_url
from services.fetcher.feeds import FeedItem
from services.fetcher.http import FetchError, decode_text
from services.fetcher.sources import ListSelectors

__all__ = ["ListingEmpty", "ListingUnreadable", "next_page_url", "parse_listing", "parse_listing_date"]

DateOrder = Literal["dmy", "mdy"]  # also ListSelectors.date_order


class ListingEmpty(FetchError):
    """The item selector matched nothing on the page."""


class ListingUnreadable(FetchError):
    """The page is refused before parsing (hostile markup: see ``services.core.markup``)."""


_MONTHS: dict[str, int] = {}
for _names in (
    # en, fr, es, pt, de, it, ru (nominative and genitive stems are matched by prefix below)
    "january february march april may june july august september october november december",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "januar februar märz april mai juni juli august september oktober november dezember",
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "январ феврал март апрел ма июн июл август сентябр октябр ноябр декабр",
):
    for _i, _n in enumerate(_names.split(), start=1):
        _MONTHS.setdefault(_n, _i)

_WORD = r"([^\W\d_]{3,})\.?"
_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?!\d)")
_D_MONTH_Y = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?" + _WORD + r",?\s+(?:of\s+|de\s+)?(\d{4})"
)
_MONTH_D_Y = re.compile(_WORD + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_SPACE = re.compile(r"\s+")


def _month(word: str) -> int | None:
    w = word.lower()
    if w in _MONTHS:
        return _MONTHS[w]
    for name, num in _MONTHS.items():
        # "Sept", "Feb", "октября" (genitive): a prefix of at least three letters on either side
        if len(w) >= 3 and (name.startswith(w) or w.startswith(name)):
            return num
    return None


def _mk(y: int, m: int, d: int) -> date | None:
    if y < 100:
        y += 2000
    try:
        return date(y, m, d)
    except ValueError:
        return None


def parse_listing_date(text: str, order: DateOrder = "dmy") -> date | None:
    """The first date in ``text``: ``2020-12-11``/``2020年12月11日`` (year first), ``11.12.2020`` (day first
    unless ``order`` is ``mdy``, or unless the first number cannot be a month/day), ``11 December 2020`` /
    ``28 of February of 2022`` / ``December 11, 2020``, month names in en/fr/es/pt/de/it/ru. None if
    unsure."""
    text = _SPACE.sub(" ", text)
    if m := _YMD.search(text):
        return _mk(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC.search(text):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        if order == "mdy" and a <= 12 or b > 12:
            a, b = b, a
        return _mk(y, b, a)
    if m := _D_MONTH_Y.search(text):
        month = _month(m[2])
        if month:
            return _mk(int(m[3]), month, int(m[1]))
    if m := _MONTH_D_Y.search(text):
        month = _month(m[1])
        if month:
            return _mk(int(m[3]), month, int(m[2]))
    return None


def _text(node: LexborNode) -> str:
    return _SPACE.sub(" ", node.text(separator=" ", strip=True) or "").strip()


def _link(node: LexborNode) -> LexborNode | None:
    if node.tag == "a" and node.attributes.get("href"):
        return node
    return node.css_first("a[href]")


def _absolute(base: str, href: str) -> str | None:
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": a bracket in the host part ("//[x/"): not a link
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None  # not web, or no host ("http:foo" against an https page stays host-less)
    return canonical_url(url)


_ROW_LEVELS = 4


def _ancestors(node: LexborNode) -> list[LexborNode]:
    out: list[LexborNode] = []
    parent = node.parent
    while parent is not None and len(out) < _ROW_LEVELS and parent.tag not in ("body", "html"):
        out.append(parent)
        parent = parent.parent
    return out


def _row(node: LexborNode, counts: dict[int, int]) -> LexborNode:
    """The highest ancestor of ``node`` (at most four levels up) that holds no other item."""
    row = node
    for parent in _ancestors(node):
        if counts.get(parent.mem_id, 0) > 1:
            break
        row = parent
    return row


def _first(scopes: list[LexborNode], selector: str | None) -> LexborNode | None:
    if not selector:
        return None
    for scope in scopes:
        found = scope.css_first(selector)
        if found is not None:
            return found
    return None


def _doc(html: bytes | str) -> LexborHTMLParser:
    text = decode_text(html) if isinstance(html, bytes) else html
    refused = html_refusal(text)
    if refused:
        raise ListingUnreadable(refused)
    return LexborHTMLParser(text)


def _base(tree: LexborHTMLParser, base_url: str) -> str:
    base = tree.css_first("base[href]")
    href = base.attributes.get("href") if base is not None else None
    if not href:
        return base_url
    try:
        return urljoin(base_url, href.strip())
    except ValueError:  # an unusable <base href> ("http://[::1"): the page's own URL
        return base_url


def parse_listing(html: bytes | str, base_url: str, sel: ListSelectors) -> list[FeedItem]:
    """The items of a listing page (see the module docstring). Raises ``ListingEmpty`` if none match,
    ``ListingUnreadable`` for a page refused before parsing."""
    tree = _doc(html)
    base = _base(tree, base_url)
    nodes = tree.css(sel.item)
    if not nodes:
        raise ListingEmpty(f"selector {sel.item!r} matched nothing on {base_url}")
    counts: dict[int, int] = {}
    for n in nodes:
        for a in _ancestors(n):
            counts[a.mem_id] = counts.get(a.mem_id, 0) + 1
    items: list[FeedItem] = []
    seen: set[str] = set()
    for node in nodes:
        link = _link(node)
        href = link.attributes.get("href") if link is not None else None
        url = _absolute(base, href) if href else None
        if url is None or url in seen:
            continue
        seen.add(url)
        row = _row(node, counts)
        scopes = [node, row] if row is not node else [node]
        title_node = _first(scopes, sel.title)
        title = (_text(title_node) if title_node is not None else "") or _text(node)
        if not title and link is not None:
            title = (link.attributes.get("title") or "").strip()
        day: date | None = None
        date_node = _first(scopes, sel.date)
        if date_node is not None:
            stamp = date_node.attributes.get("datetime") or ""
            day = parse_listing_date(stamp, sel.date_order) or parse_listing_date(
                _text(date_node), sel.date_order
            )
        if day is None and sel.date is None and row is not node:
            # Only the row's own text: a date inside the headline is the event's, not the publication's.
            day = parse_listing_date(_text(row).replace(_text(node), " ", 1), sel.date_order)
        published = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
        items.append(FeedItem(url=url, guid=url, title=title or None, published=published))
    if not items:
        raise ListingEmpty(f"selector {sel.item!r} matched only elements without usable links on {base_url}")
    return items


def next_page_url(html: bytes | str, base_url: str, sel: ListSelectors) -> str | None:
    """The canonical URL of the next listing page, if the source has a ``next_page`` selector and it
    matches."""
    if not sel.next_page:
        return None
    tree = _doc(html)
    node = tree.css_first(sel.next_page)
    if node is None:
        return None
    link = _link(node)
    href = link.attributes.get("href") if link is not None else None
    return _absolute(_base(tree, base_url), href) if href else None
