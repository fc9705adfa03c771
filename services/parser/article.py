"""HTML -> Article: the source's CSS selectors first (fast), trafilatura as the general fallback.

Title and publication date come from the selectors, else from meta tags (Open Graph, article:published_time,
DC.date, pubdate), else from the first ISO/Chinese date in the page. Nothing here touches the network:
trafilatura receives the page as a string. Every failure surfaces as ``ParseError``, including a page refused
before any parser sees it (nested deeper, or holding more tags, than ``services.core.markup`` allows: the
HTML parser's cost grows with the square of the depth).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from services.core.domain import Article, ArticleSelectors
from services.core.markup import html_refusal
from services.parser.errors import ParseError
from services.parser.langdetect import detect_language

__all__ = ["extract_article", "decode_html"]

_META_DATE = (
    "article:published_time",
    "og:published_time",
    "datePublished",
    "pubdate",
    "publishdate",
    "PubDate",
    "date",
    "DC.date",
    "DC.date.issued",
    "dcterms.created",
    "publish-date",
)
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([\w\-]+)""", re.IGNORECASE)
_ISO = re.compile(r"(20\d\d|19\d\d)[-/.年](\d{1,2})[-/.月](\d{1,2})")
# day first with dots (30.10.2025), the form of most non-US sites; slashes stay ambiguous (US month first)
_DMY = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)\b")
_BLOCKS = "p, h1, h2, h3, h4, li, td, div, br"
_MIN_BODY = 40


def decode_html(html: bytes | str) -> str:
    """Text of a page: declared charset, else UTF-8, else charset-normalizer's best guess."""
    if isinstance(html, str):
        return html
    m = _CHARSET.search(html[:4096])
    enc = m.group(1).decode("ascii", "ignore").lower() if m else None
    if enc in ("gb2312", "gbk"):
        enc = "gb18030"
    for e in (enc, "utf-8"):
        if not e:
            continue
        try:
            return html.decode(e)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(html).best()
        if best is not None:
            return str(best)
    except Exception:  # noqa: BLE001 - fall through to a lossy decode
        pass
    return html.decode("utf-8", "replace")


_WRAP = re.compile(r"[ \t]*[\r\n]+[ \t]*")


def _node_text(node: Any) -> str:
    """Text of a node with block elements on their own lines."""
    parts: list[str] = []
    for child in node.traverse(include_text=True):
        if child.tag == "-text":
            t = child.text_content
            if t and t.strip():
                # a line break in the HTML source is only a space; blocks below make the real breaks
                parts.append(_WRAP.sub(" ", t))
        elif child.tag in ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr"):
            parts.append("\n")
    text = "".join(parts)
    text = re.sub(r"[ \t\u00a0\u3000]*\n[\s]*", "\n", text)
    return re.sub(r"[ \t\u00a0]{2,}", " ", text).strip()


def _parse_date(s: str | None) -> date | None:
    if not s:
        return None
    m = _ISO.search(s)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        d = _DMY.search(s)
        if d:
            return date(int(d.group(3)), int(d.group(2)), int(d.group(1)))
    except ValueError:
        return None
    return None


def _node_date(node: Any) -> date | None:
    """The date of a selector hit: a ``<time datetime>`` attribute (its own or a descendant's), else its text.

    The attribute's calendar date is kept as written (local to the publisher), not shifted to UTC.
    """
    for cand in (node, node.css_first("time[datetime]")):
        if cand is not None:
            got = _parse_date(cand.attributes.get("datetime") or cand.attributes.get("content"))
            if got is not None:
                return got
    return _parse_date(node.text(strip=True))


def _meta(tree: HTMLParser, names: tuple[str, ...]) -> str | None:
    for n in names:
        for attr in ("property", "name", "itemprop"):
            node = tree.css_first(f'meta[{attr}="{n}"]')
            if node is not None:
                v = node.attributes.get("content")
                if v:
                    return v
    return None


def _trafilatura(html: str) -> str:
    try:
        import trafilatura
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ParseError("trafilatura is not installed") from e
    try:
        text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    except Exception as e:  # noqa: BLE001 - the extractor must only raise ParseError
        raise ParseError(f"trafilatura failed: {e!r}") from e
    return text or ""


def extract_article(
    html: bytes | str,
    *,
    url: str | None = None,
    selectors: ArticleSelectors | None = None,
    title: str | None = None,
    published: date | None = None,
    language: str | None = None,
    publisher: str | None = None,
    source_country: str | None = None,
) -> Article:
    """The article of a page. Selectors (when given and matching) win; else trafilatura extracts the body."""
    try:
        src = decode_html(html)
        if not src.strip():
            raise ParseError("empty document")
        refused = html_refusal(src)
        if refused:
            raise ParseError(refused)
        tree = HTMLParser(src)
        text = ""
        # title and date first: the drop list may remove their nodes from the body
        if title is None and selectors is not None and selectors.title:
            node = tree.css_first(selectors.title)
            title = node.text(strip=True) if node is not None else None
        if published is None and selectors is not None and selectors.date:
            node = tree.css_first(selectors.date)
            published = _node_date(node) if node is not None else None
        # read before the drop list runs: a dropped header may hold the page's only <time datetime>
        first_time = tree.css_first("time[datetime]") if published is None else None
        time_date = _node_date(first_time) if first_time is not None else None
        if selectors is not None and selectors.body:
            for sel in selectors.drop:
                for node in tree.css(sel):
                    node.decompose()
            nodes = tree.css(selectors.body)
            text = "\n".join(t for t in (_node_text(n) for n in nodes) if t)
        if len(text) < _MIN_BODY:
            text = _trafilatura(src)
        if not text.strip():
            body = tree.body
            text = _node_text(body) if body is not None else ""
        if not text.strip():
            raise ParseError("no text found")
        if title is None:
            title = _meta(tree, ("og:title", "twitter:title", "title", "ArticleTitle"))
        if title is None:
            node = tree.css_first("title")
            title = node.text(strip=True) if node is not None else None
        if published is None:
            published = _parse_date(_meta(tree, _META_DATE))
        if published is None:
            published = time_date
        if published is None:
            published = _parse_date(text[:300])
        if language is None:
            html_node = tree.css_first("html")
            lang_attr = html_node.attributes.get("lang") if html_node is not None else None
            language = (lang_attr or "").split("-")[0].lower() or detect_language(text)
        return Article(
            text=text,
            title=title or None,
            url=url,
            language=language,
            published=published,
            publisher=publisher,
            source_country=source_country,
        )
    except ParseError:
        raise
    except Exception as e:  # noqa: BLE001 - the contract: only ParseError leaves the parser
        raise ParseError(f"article extraction failed: {e!r}") from e
