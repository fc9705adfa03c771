"""The nesting pre-scan (``services.core.markup``) against the parser it protects.

``html_depth`` must never under-estimate what lexbor builds by more than a small factor — else a page could
pass the scan and still cost the parser O(depth²) — on tag soup made of the elements with special parsing
rules (implied end tags, formatting elements the parser reopens, tables, SVG/MathML and their integration
points, raw text, framesets, bogus comments), repeated so that a pattern's growth shows. And it must not
refuse real pages: the project's own fixtures and, when present, the shared corpus's saved pages (read at
run time) stay far below the limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from services.core.markup import HTML_DEPTH_LIMIT, XML_DEPTH_LIMIT, html_depth, html_refusal, xml_depth
from services.fetcher.http import decode_text
from tests.unit.properties.strategies import PROFILE

ROOT = Path(__file__).resolve().parents[3]
SHARED_RAW = ROOT / ".." / "shared" / "corpus" / "raw"

_SOUP_TAGS = (
    "div span b i a p li ul ol dl dd dt table tr td th tbody caption colgroup col font nobr svg g math mi "
    "foreignObject desc select option optgroup h1 h2 button form template script style textarea title "
    "plaintext br img section object marquee applet em strong u s code pre xmp iframe noscript frameset head "
    "body html"
).split()
_SOUP_ATTRS = ["", " id=1", " a=x/", ' a="<div>"', ' ="', " /", "/", " a='x", ' x="y"', ' t="<script>"']
_SOUP_OTHER = ["<!--", "-->", "<!-->", "--!>", "<![CDATA[", "]]>", "<!x>", "<?p>", "</3>", "x"]


def lexbor_depth(html: str) -> int:
    """The deepest element of the tree lexbor builds (the document node is depth 0)."""
    tree = LexborHTMLParser(html)
    best = 0
    stack = [(tree.root, 0)]
    while stack:
        node, depth = stack.pop()
        best = max(best, depth)
        child = node.child if node is not None else None
        while child is not None:
            stack.append((child, depth + 1))
            child = child.next
    return best


@st.composite
def soup_patterns(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.integers(0, 9))
        tag = draw(st.sampled_from(_SOUP_TAGS))
        if kind < 5:
            parts.append(f"<{tag}{draw(st.sampled_from(_SOUP_ATTRS))}>")
        elif kind < 8:
            parts.append(f"</{tag}>")
        else:
            parts.append(draw(st.sampled_from(_SOUP_OTHER)))
    return "".join(parts)


@PROFILE
@given(pattern=soup_patterns(), times=st.integers(20, 120))
def test_depth_estimate_is_an_upper_bound_within_a_factor_of_two(pattern: str, times: int) -> None:
    html = pattern * times
    real = lexbor_depth(html)
    estimate = html_depth(html, limit=10**9)
    # lexbor's tree has the document, <html> and <body> around the content the scan counts
    assert real <= 2 * estimate + 8, f"lexbor depth {real}, estimate {estimate}"


@pytest.mark.parametrize(
    ("pattern", "deep"),
    [
        ("<div>", True),
        ("<span><b></span>", True),  # the b is reopened inside every span
        ("<table><tr><td>", True),
        ("<svg><g a=x/>", True),  # "x/" is the value: the g stays open
        ("<p><div>", True),
        ("<li><section>", True),
        ("<p>x", False),
        ("<li>x", False),
        ("<br>", False),
        ("<svg><g/></svg>", False),
        ('<div title="<div><div>">x</div>', False),
        ("<script><div><div></script>", False),
        ("<!-- <div><div> -->", False),
    ],
)
def test_patterns_that_nest_and_patterns_that_do_not(pattern: str, deep: bool) -> None:
    html = pattern * 5_000
    assert (html_depth(html) > HTML_DEPTH_LIMIT) is deep
    assert (html_refusal(html) is not None) is deep


def test_xml_depth_counts_open_elements_and_skips_cdata_and_comments() -> None:
    assert xml_depth("<rss><channel><item/><item><title>t</title></item></channel></rss>") == (4, 5)
    assert xml_depth("<a>" + "<![CDATA[" + "<b>" * 1000 + "]]><!--" + "<c>" * 1000 + "--></a>") == (1, 1)
    assert xml_depth("<a></x>" * 600)[0] > XML_DEPTH_LIMIT  # stray end tags close nothing
    assert xml_depth("<a></a>" * 600)[0] == 1


def _pages() -> list[Path]:
    own = sorted((ROOT / "tests").rglob("*.html"))
    shared = sorted(SHARED_RAW.glob("*.html")) if SHARED_RAW.is_dir() else []
    return own + shared


def test_real_pages_are_far_below_the_limit() -> None:
    pages = _pages()
    assert len(pages) > 50
    for page in pages:
        text = decode_text(page.read_bytes())
        assert html_refusal(text) is None, page
        estimate = html_depth(text)
        assert estimate <= 100, (page, estimate)
        assert lexbor_depth(text) <= 2 * estimate + 8, page
