"""Shared Hypothesis strategies and settings of the property tests: hostile pages, feeds and listings.

Settings: the profile comes from ``HYPOTHESIS_PROFILE`` — ``ci`` (the default under ``CI=true``: 100
examples, derandomized so that a build never fails on a new random draw), ``dev`` (the default elsewhere:
100 random examples) or ``long`` (2 000 random examples, for a run by hand; see docs/fuzzing.md). The
slowest properties run ``HALF`` as many. Hypothesis's own deadline is off: every call is timed instead
(``timed``), against ``BUDGET_S`` of CPU time and ``HANG_S`` of wall time (``time.monotonic``), so that a slow
call fails with its input whatever the load of the shared machine does to one example.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "BUDGET_S",
    "HALF",
    "HANG_S",
    "PROFILE",
    "article_selectors",
    "feed_bodies",
    "hostile_html",
    "listing_selectors",
    "listing_pages",
    "page_bytes",
    "timed",
]

T = TypeVar("T")

BUDGET_S = 2.0
"""CPU time (``time.process_time``) one parser call may take on any generated input (at most a few hundred
KiB); the real figure is a few milliseconds to a few hundred."""

HANG_S = 5.0
"""Wall time (``time.monotonic``) one call may take: the hang detector, generous because the test machine is
shared (a busy machine stretches wall time, not CPU time)."""

_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}
# Our own names ("ci" is Hypothesis's built-in profile, loaded under CI: re-registering it would change the
# settings of every other test in the session).
_PROFILES = {
    "ci": settings(max_examples=100, derandomize=True, **_COMMON),  # type: ignore[arg-type]
    "dev": settings(max_examples=100, **_COMMON),  # type: ignore[arg-type]
    "long": settings(max_examples=2000, **_COMMON),  # type: ignore[arg-type]
}
_DEFAULT = "ci" if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"} else "dev"
PROFILE = _PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", _DEFAULT), _PROFILES[_DEFAULT])
HALF = settings(PROFILE, max_examples=max(PROFILE.max_examples // 2, 25))
"""For the slowest properties (whole documents through the extractor): half the profile's examples."""


def timed(fn: Callable[[], T], budget_s: float = BUDGET_S) -> tuple[T | BaseException, float]:
    """Run ``fn``; return its result (or the exception it raised) and the CPU time it took. Fails the example
    when the call takes more than ``budget_s`` of CPU or ``HANG_S`` of wall time."""
    started, cpu = time.monotonic(), time.process_time()
    try:
        out: T | BaseException = fn()
    except Exception as exc:  # noqa: BLE001 - the caller checks the type
        out = exc
    took, wall = time.process_time() - cpu, time.monotonic() - started
    assert took < budget_s, f"call took {took:.2f} s of CPU (budget {budget_s} s)"
    assert wall < HANG_S, f"call took {wall:.2f} s (hang bound {HANG_S} s)"
    return out, took


# --- text -------------------------------------------------------------------------------------------------

# Phrases that reach the extractor's meeting rules (the project's own wording, not copied from anywhere).
_PHRASES = [
    "Minister of Foreign Affairs",
    "held talks with",
    "met with",
    "had a telephone conversation with",
    "President",
    "Prime Minister",
    "Ambassador",
    "on 28 October 2025",
    "yesterday",
    "провел переговоры с",
    "Министр иностранных дел",
    "28 октября",
    "会见",
    "外交部长",
    "10月28日",
    "Kazakhstan",
    "China",
    "Uzbekistan",
    "Astana",
    "Beijing",
]
_URL_SCHEMES = [
    "https://",
    "http://",
    "javascript:",
    "data:text/html,",
    "vbscript:",
    "file:///",
    "//",
    "",
    "http:",
]

words = st.one_of(
    st.sampled_from(_PHRASES),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
)
sentences = st.lists(words, max_size=12).map(" ".join)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(_URL_SCHEMES)) if draw(st.booleans()) else "https://"
    host = draw(
        st.sampled_from(
            [
                "mfa.example",
                "MFA.Example.",
                "127.0.0.1",
                "[::1]",
                "xn--80ak6aa92e.com",
                "",
                "[::1",
                "a]b",
                "â\x80",
            ]
        )
    )
    path = draw(st.text(max_size=20))
    query = draw(st.sampled_from(["", "?utm_source=x&id=1", "?a=1&b=2", "?%zz", "#frag"]))
    return f"{scheme}{host}/{path}{query}"


def _attr_value(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return "x" * draw(st.integers(10_000, 200_000))  # a huge attribute
    if kind <= 3:
        return draw(urls())
    return draw(st.text(max_size=20))


_TAGS = (
    "div span p a b i em strong font li ul ol table tr td th tbody caption h1 h2 h3 article main section "
    "header footer nav time script style svg g path math mi title textarea iframe object embed form input "
    "select option template noscript img br meta base link frameset xmp plaintext pre code"
).split()
_ATTRS = [
    "href",
    "src",
    "onload",
    "onerror",
    "style",
    "class",
    "id",
    "datetime",
    "content",
    "xlink:href",
    "lang",
]


@st.composite
def _element(draw: st.DrawFn, depth: int) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(_ATTRS))
        quote = draw(st.sampled_from(['"', "'", ""]))
        attrs.append(f" {name}={quote}{_attr_value(draw)}{quote}")
    inner = ""
    if depth > 0:
        parts = draw(st.lists(st.one_of(sentences, _element(depth - 1)), max_size=4))
        inner = "".join(parts)
    close = draw(st.sampled_from([f"</{tag}>", f"</{tag}>", "", "</div>", f"</{tag.upper()}>"]))
    return f"<{tag}{''.join(attrs)}>{inner}{close}"


@st.composite
def hostile_html(draw: st.DrawFn) -> str:
    """An HTML page as an attacker or a broken CMS might serve it: scripts, event handlers, javascript: and
    data: URLs, SVG with xlink:href, unclosed and misnested tags, huge attributes, deep nesting (sometimes
    past the parser's limit), comments and CDATA in the wrong places, truncation."""
    head = draw(
        st.sampled_from(
            [
                "",
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8"><title>t</title></head><body>',
                '<html lang="ru"><head><meta property="og:title" content="Talks">'
                '<meta property="article:published_time" content="2025-10-28T10:00:00+05:00"></head><body>',
                '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
                '<base href="javascript:alert(1)//">',
            ]
        )
    )
    body = "".join(draw(st.lists(st.one_of(sentences, _element(3)), max_size=6)))
    deep = draw(st.sampled_from([0, 0, 0, 50, 1_500, 3_000]))
    if deep:
        tag = draw(st.sampled_from(["div", "span", "b", "li", "table", "font"]))
        body = f"<{tag}>" * deep + body + f"</{tag}>" * draw(st.integers(0, deep))
    extra = draw(
        st.sampled_from(
            [
                "",
                "<script>document.write('<div>')</script>",
                "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
                "<!-- <div> -->",
                "<![CDATA[<div>]]>",
                "<img src=x onerror=alert(1)>",
                "<a href=' javascript:alert(1)'>",
                "<iframe srcdoc='<p>x</p>'></iframe>",
            ]
        )
    )
    html = head + extra + body
    cut = draw(st.sampled_from([None, None, None, 0.5, 0.9]))
    if cut is not None:
        html = html[: int(len(html) * cut)]
    return html


_CODECS = ["utf-8", "utf-8", "utf-16", "utf-16-le", "gb18030", "cp1251", "shift_jis", "latin-1", "koi8-r"]
_DECLARED = ["", "utf-8", "utf-16", "gb2312", "windows-1251", "shift_jis", "iso-8859-1", "x-unknown", "utf-7"]


@st.composite
def page_bytes(draw: st.DrawFn) -> bytes:
    """The bytes of a hostile page: encoded in one charset, often declared as another, sometimes with
    invalid byte sequences spliced in, or arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2000))
    html = draw(hostile_html())
    declared = draw(st.sampled_from(_DECLARED))
    if declared:
        html = f'<meta charset="{declared}">' + html
    data = html.encode(draw(st.sampled_from(_CODECS)), errors="replace")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        junk = draw(
            st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf", b"\x80"])
        )
        data = data[:at] + junk + data[at:]
    return data


# --- feeds ------------------------------------------------------------------------------------------------


@st.composite
def _feed_text(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["rss", "atom", "rdf"]))
    items = []
    for i in range(draw(st.integers(0, 6))):
        title = draw(
            st.one_of(
                sentences,
                st.just("Talks &lt;b&gt;held&lt;/b&gt; &amp; more"),
                st.just("<![CDATA[<script>alert(1)</script> title]]>"),
                st.just("&lt;div&gt;" * 300),
            )
        )
        link = draw(urls()).replace("&", "&amp;").replace("<", "&lt;")
        guid = draw(st.sampled_from([f"id-{i}", "same", "", link]))
        date = draw(
            st.sampled_from(["Tue, 28 Oct 2025 10:00:00 +0500", "2025-10-28T10:00:00Z", "yesterday", ""])
        )
        odd = draw(st.sampled_from(["", "", "<links hs='x'/>", "<links>t</links>", "<category/>"]))
        if kind == "atom":
            items.append(
                f"<entry><id>{guid}</id><title type='html'>{title}</title>{odd}<link href='{link}'/>"
                f"<updated>{date}</updated></entry>"
            )
        else:
            items.append(
                f"<item><title>{title}</title>{odd}<link>{link}</link><guid>{guid}</guid>"
                f"<pubDate>{date}</pubDate><description><![CDATA[{draw(sentences)}<br><p>x]]></description>"
                "</item>"
            )
    deep = draw(st.sampled_from([0, 0, 0, 100, 600, 20_000]))
    nest = "<x>" * deep + "</x>" * deep
    body = "".join(items) + nest
    if kind == "atom":
        doc = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>{body}</feed>"
    elif kind == "rdf":
        doc = (
            "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' xmlns='http://purl.org/rss/1.0/'>"
            f"<channel><title>t</title></channel>{body}</rdf:RDF>"
        )
    else:
        ttl = draw(st.sampled_from(["60", "²", "9" * 30, "", "-1"]))
        doc = f"<rss version='2.0'><channel><title>t</title><ttl>{ttl}</ttl>{body}</channel></rss>"
    prolog = draw(
        st.sampled_from(
            [
                "",
                '<?xml version="1.0" encoding="utf-8"?>',
                '<?xml version="1.0" encoding="utf-16"?>',
                '<?xml version="1.0" encoding="windows-1251"?>',
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>',
                '<?xml version="1.0"?><!-- c --><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/x.dtd">',
                "\n\n <!doctype rss>",
            ]
        )
    )
    text = prolog + doc
    cut = draw(st.sampled_from([None, None, 0.3, 0.8]))
    return text[: int(len(text) * cut)] if cut is not None else text


@st.composite
def feed_bodies(draw: st.DrawFn) -> bytes:
    """RSS, Atom and RDF documents with hostile content (markup and entities in titles, javascript: links,
    repeated GUIDs, DTDs, deep nesting), in several encodings, truncated; or arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2000))
    text = draw(_feed_text())
    codec = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-16-be", "cp1251", "latin-1"]))
    return text.encode(codec, errors="replace")


# --- listings ---------------------------------------------------------------------------------------------


@cache
def _registry() -> list[Any]:
    from services.fetcher.sources import load_sources

    return load_sources(None)


def listing_selectors() -> st.SearchStrategy[Any]:
    """The listing selectors of the bundled source registry."""
    return st.sampled_from([s.list for s in _registry() if s.list is not None])


def article_selectors() -> st.SearchStrategy[Any]:
    """None, or the article selectors of a bundled source."""
    return st.one_of(st.none(), st.sampled_from([s.article for s in _registry() if s.article is not None]))


@st.composite
def listing_pages(draw: st.DrawFn, sel: Any) -> str:
    """A listing page shaped after ``sel`` (its item selector's ancestors around the rows, so that items
    often match) with hostile links and dates; or any hostile page."""
    if draw(st.integers(0, 3)) == 0:
        return draw(hostile_html())
    compounds = [c for c in sel.item.split(",")[0].split() if c not in (">", "+", "~")]
    outer = [_tag_for(c) for c in compounds[:-1]]
    last_open, last_close = _tag_for(compounds[-1]) if compounds else ("<a>", "</a>")
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        href = draw(urls()).replace('"', "%22")
        date = draw(
            st.sampled_from(["28.10.2025", "2025-10-28", "31.02.2025", "October 28, 2025", "99/99/99", ""])
        )
        title = draw(sentences).replace("<", "&lt;")
        link = f'<a href="{href}" title="{title}">{title}</a>'
        inner = link if last_open.startswith("<a") else f"{last_open}{link}{last_close}"
        rows.append(f'<li><span class="date">{date}</span>{inner}</li>')
    base = draw(
        st.sampled_from(["", '<base href="https://other.example/sub/">', '<base href="javascript:x">'])
    )
    start = "".join(o for o, _ in outer)
    end = "".join(c for _, c in reversed(outer))
    return f"<html><head>{base}</head><body>{start}<ul>{''.join(rows)}</ul>{end}</body></html>"


def _tag_for(compound: str) -> tuple[str, str]:
    """Open and close tags of an element matching a simple compound selector (``tag.class#id``, best
    effort: attribute and pseudo-class parts are dropped)."""
    import re

    m = re.match(r"^([a-zA-Z0-9]*)", compound)
    tag = (m.group(1) if m else "") or "div"
    classes = re.findall(r"\.([\w-]+)", compound)
    ids = re.findall(r"#([\w-]+)", compound)
    attrs = (f' class="{" ".join(classes)}"' if classes else "") + (f' id="{ids[0]}"' if ids else "")
    if tag == "a":
        attrs += ' href="/x"'
    return f"<{tag}{attrs}>", f"</{tag}>"
