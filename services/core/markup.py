"""Cheap pre-scans of untrusted markup, run before parsers whose cost grows faster than the input.

Why: an HTML5 tree builder (lexbor, behind selectolax) searches the stack of open elements on most start tags
("is there a ``p`` in button scope?"), so n nested elements cost O(n²): 100 000 nested ``<div>`` (1.2 MB)
take ~40 s. feedparser spends ~35 µs on every element, so 15 MiB of tiny elements would take a minute. No
real page or feed nests more than a few hundred levels or holds that many elements, so a document whose
estimated depth, or whose tag count, passes a limit is refused before any parser sees it.

``html_depth`` estimates the depth an HTML5 parser reaches; ``xml_depth`` the depth (and the element count) of
an XML document read leniently. Both are single linear passes that stop as soon as the limit is passed. The
estimate only has to be an upper bound within a small factor (checked against lexbor by
``tests/unit/properties/test_prop_markup.py``), not exact; where unsure it counts more:

* comments (and bogus ones: ``<!x>``, ``<?x>``), and the content of raw-text elements (``script``, ``style``,
  ``textarea``, ``title``, ...) outside SVG/MathML, hold no elements; an unterminated comment ends the markup;
* attributes are read as the HTML tokenizer reads them (quoted values may hold ``<`` and ``>``);
* void elements (``br``, ``img``, ...) never nest; ``/>`` closes an element only inside SVG/MathML (HTML
  ignores it), and always in XML;
* an end tag closes the nearest open element of its name and everything above it, unless the HTML parser
  would ignore it: a special element (``div``, ``table``, ...) above the target, or for the end tags the
  parser checks "in scope", a scope boundary (``table``, ``td``, ``object``, ...); ``</form>`` only when
  the form is the current node (the parser takes the form off the stack and leaves its children open). XML
  end tags close the nearest open element of their name (a lenient reader's recovery);
* start tags that close an open element (a block closes an open ``p``, ``li`` closes ``li``, a cell closes
  a cell, ``option`` closes ``option``, a heading closes a heading) do so, with the same stop rules;
  table rows and cells add the ``tbody``/``tr`` the parser inserts; table parts outside a table are ignored;
* inside SVG/MathML every tag nests (no implied end tags, no void elements) until an HTML integration point,
  and the HTML tags that break out of foreign content close it;
* a formatting element (``b``, ``font``, ``a``, ...) closed implicitly stays counted until its own end tag:
  the parser reopens it ("reconstructs the active formatting elements"), so ``<span><b></span>`` repeated
  nests without bound;
* after a ``<frameset>`` every element left open counts.
"""

from __future__ import annotations

import re

__all__ = [
    "HTML_DEPTH_LIMIT",
    "HTML_MAX_TAGS",
    "XML_DEPTH_LIMIT",
    "XML_MAX_ELEMENTS",
    "html_depth",
    "html_refusal",
    "xml_depth",
    "xml_refusal",
]

HTML_DEPTH_LIMIT = 2000
"""Deepest estimated nesting accepted in an HTML page (real pages stay under ~100; lexbor parses 2 000
nested elements in a few milliseconds, 40 000 in seconds)."""

XML_DEPTH_LIMIT = 512
"""Deepest nesting accepted in a feed (RSS and Atom stay under ~20, XHTML content adds a few dozen)."""

HTML_MAX_TAGS = 100_000
"""Most "<" accepted in an HTML page (real pages have a few thousand). Parse time grows with the tag count
too (lexbor takes seconds over a few million ``<p>``, and the scan here costs a few µs per tag), and the
body cap alone (15 MiB) leaves room for millions."""

XML_MAX_ELEMENTS = 25_000
"""Most elements accepted in a feed (a 1 000-item feed has ~15 000; feedparser spends ~35 µs on each)."""

_XML_MAX_MARKUP = 16 * XML_MAX_ELEMENTS
"""Most "<" in a feed before it is refused unscanned (CDATA sections may hold unescaped HTML)."""

_HTML_TOKEN = re.compile(r"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]*)|(!\[CDATA\[|[!?]|/(?!>)))")
_XML_TOKEN = re.compile(r"<(?:(!--)|(!\[CDATA\[)|(\?)|(/?)([A-Za-z_:][^\t\n\f\r />]*))")
# The attributes of a tag, as the HTML tokenizer reads them: separators (whitespace and "/"), names (which may
# start with "=", and then hold no "="), and values after "=" (quoted, or unquoted up to whitespace or ">").
# The last separator is a group: a tag ending in it with "/" right before ">" is self-closing.
_ATTRS = re.compile(
    r"""(?:([\t\n\f\r /]+)|[^\t\n\f\r />][^\t\n\f\r />=]*"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"|'[^']*'|[^\t\n\f\r >]*))?)*"""
)
# HTML comments end at "-->" or "--!>"; "<!-->" and "<!--->" are empty comments.
_COMMENT_END = re.compile(r"--!?>")

_VOID = frozenset(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param source "
    "track wbr".split()
)
_RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes".split())
_IGNORED = frozenset(("html", "head", "body"))
_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
_SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption center col "
    "colgroup dd details dir div dl dt embed fieldset figcaption figure footer form frame frameset h1 h2 h3 "
    "h4 h5 h6 head header hgroup hr html iframe img input keygen li link listing main marquee menu meta nav "
    "noembed noframes noscript object ol p param plaintext pre script search section select source style "
    "summary table tbody td template textarea tfoot th thead title tr track ul wbr xmp".split()
)
# End tags that close their element when it is "in scope" (the in-body rules); every other end tag closes its
# element only when no special element is above it.
_SCOPED_END = frozenset(
    "address article aside blockquote button center details dialog dir div dl fieldset figcaption figure "
    "footer header hgroup listing main menu nav ol pre search section summary ul applet marquee object dd dt "
    "li p".split()
)
# Elements that end the search for an element "in scope" (and, for p, "in button scope").
_SCOPE = frozenset("applet caption html table td th marquee object template button select".split())
_CLOSES_P = frozenset(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol p pre listing search section summary table "
    "ul li dd dt plaintext xmp".split()
)
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
# The search for an open li/dd/dt stops at a special element other than these (or at the target itself).
_LIST_TRANSPARENT = frozenset("address div p".split())
_SECTIONS = ("tbody", "thead", "tfoot")
_FOREIGN = ("svg", "math")
# Inside SVG/MathML these (HTML) start tags leave foreign content; every other tag nests as a foreign element
# (no implied end tags, no void elements, "/>" closes) until an integration point switches back to HTML.
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing "
    "menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split()
)
_INTEGRATION = {
    "svg": frozenset(("foreignobject", "desc", "title")),
    "math": frozenset(("mi", "mo", "mn", "ms", "mtext", "annotation-xml")),
}


class _Stack:
    """The open elements as the estimate sees them, with positions per name and of the elements that stop
    searches, so that every query is O(1) and every element is pushed and popped once."""

    __slots__ = ("names", "alien", "html", "where", "special", "scope", "list_stop", "sticky", "sticky_total")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.alien: list[str] = []  # "svg" or "math" for a foreign element, "" for an HTML one
        self.html: list[int] = []  # positions of the HTML elements
        self.where: dict[str, list[int]] = {}
        self.special: list[int] = []
        self.scope: list[int] = []
        self.list_stop: list[int] = []
        self.sticky: dict[str, int] = {}
        self.sticky_total = 0

    def depth(self) -> int:
        return len(self.names) + self.sticky_total

    def last(self, name: str) -> int:
        got = self.where.get(name)
        return got[-1] if got else -1

    def push(self, name: str, alien: str = "") -> None:
        i = len(self.names)
        self.names.append(name)
        self.alien.append(alien)
        if not alien:
            self.html.append(i)
        self.where.setdefault(name, []).append(i)
        # Of the SVG/MathML elements, only the integration points are special and end scopes.
        special = name in _INTEGRATION[alien] if alien else name in _SPECIAL
        if special:
            self.special.append(i)
            if name not in _LIST_TRANSPARENT:
                self.list_stop.append(i)
        if name in _INTEGRATION[alien] if alien else name in _SCOPE:
            self.scope.append(i)

    def pop_to(self, i: int) -> None:
        """Close the element at ``i`` and every element above it; formatting elements above it stay counted
        (the parser reopens them)."""
        names = self.names
        while len(names) > i:
            j = len(names) - 1
            name = names.pop()
            self.alien.pop()
            if self.html and self.html[-1] == j:
                self.html.pop()
            self.where[name].pop()
            if self.special and self.special[-1] == j:
                self.special.pop()
            if self.list_stop and self.list_stop[-1] == j:
                self.list_stop.pop()
            if self.scope and self.scope[-1] == j:
                self.scope.pop()
            if j != i and name in _FORMATTING:
                self.sticky[name] = self.sticky.get(name, 0) + 1
                self.sticky_total += 1

    def above(self, positions: list[int], i: int) -> bool:
        return bool(positions) and positions[-1] > i

    def close_in(self, name: str, stops: list[int]) -> None:
        """A start tag that closes an open ``name`` unless an element of ``stops`` lies above it."""
        i = self.last(name)
        if i >= 0 and not self.above(stops, i):
            self.pop_to(i)

    def foreign(self) -> str:
        """The namespace ("svg", "math") when the current node is a foreign element other than an HTML
        integration point, else ""."""
        if not self.alien:
            return ""
        ns = self.alien[-1]
        return ns if ns and self.names[-1] not in _INTEGRATION[ns] else ""

    def break_out(self) -> None:
        """An HTML start tag in foreign content closes the foreign elements around it."""
        i = len(self.names)
        while i > 0 and (ns := self.alien[i - 1]) and self.names[i - 1] not in _INTEGRATION[ns]:
            i -= 1
        self.pop_to(i)

    def foreign_end_tag(self, name: str) -> bool:
        """An end tag while the current node is foreign: it closes the nearest foreign element of its name
        above the last HTML element (True); "</br>" and "</p>" leave foreign content first; anything else
        falls to the HTML rules (False)."""
        if name in ("br", "p"):
            self.break_out()
            return False
        i = self.last(name)
        if i > (self.html[-1] if self.html else -1):
            self.pop_to(i)
            return True
        return False

    def end_tag(self, name: str) -> None:
        if name in _HEADINGS:
            # any heading's end tag closes the nearest heading, whatever its level
            name = max(_HEADINGS, key=self.last)
        i = self.last(name)
        if i < 0:
            if self.sticky.get(name):
                self.sticky[name] -= 1
                self.sticky_total -= 1
            return
        if name == "form":
            # "</form>" takes the form off the stack and leaves its open children open: close it only
            # when it is the current node (else it stays counted)
            if i == len(self.names) - 1:
                self.pop_to(i)
            return
        if name == "li" and max(self.last("ul"), self.last("ol")) > i:
            return  # not in list item scope
        if name in ("table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption"):
            table = self.last("table")
            if name == "table" or i > table:
                self.pop_to(i)
            return
        if name in _SCOPED_END or name in _HEADINGS:
            if not self.above(self.scope, i):
                self.pop_to(i)
            return
        if not self.above(self.special, i):
            self.pop_to(i)

    def start_tag(self, name: str) -> None:
        if name in ("li", "dd", "dt"):
            # (the search for an open li/dd/dt runs before the open p is closed)
            i = self.last("li") if name == "li" else max(self.last("dd"), self.last("dt"))
            if i >= 0 and not self.above(self.list_stop, i):
                self.pop_to(i)
        if name in _CLOSES_P:
            self.close_in("p", self.scope)
        if name in ("li", "dd", "dt"):
            pass
        elif name in _HEADINGS:
            if self.names and self.names[-1] in _HEADINGS:
                self.pop_to(len(self.names) - 1)
        elif name in ("option", "optgroup"):
            if self.names and self.names[-1] == "option":
                self.pop_to(len(self.names) - 1)
            in_select = self.last("select") >= 0
            if name == "optgroup" and in_select and self.names and self.names[-1] == "optgroup":
                self.pop_to(len(self.names) - 1)
        elif name in ("td", "th", "tr", *_SECTIONS, "caption", "colgroup"):
            self._table_part(name)
            return
        self.push(name)

    def _table_part(self, name: str) -> None:
        table = self.last("table")
        if table < 0:
            return  # outside a table the parser ignores table parts
        if name in ("td", "th"):
            cell = max(self.last("td"), self.last("th"))
            if cell > table:
                self.pop_to(cell)
            if self.last("tr") <= table:
                self._table_part("tr")
        elif name == "tr":
            row = self.last("tr")
            if row > table:
                self.pop_to(row)
            if max(self.last(s) for s in _SECTIONS) <= table:
                self.push("tbody")
        else:
            inner = max(self.last(s) for s in ("tr", "td", "th", "caption", "colgroup", *_SECTIONS))
            if inner > table:
                self.pop_to(inner)
        self.push(name)


def _tag_end(text: str, pos: int) -> tuple[int, bool]:
    """Where the tag whose name ends at ``pos`` ends (after its ">", or the end of the text when it never
    closes), and whether it is self-closing ("/>" after a separator, not the end of an unquoted value)."""
    m = _ATTRS.match(text, pos)
    assert m is not None  # the pattern matches the empty string
    end = m.end()
    if end >= len(text) or text[end] != ">":
        return len(text), False
    sep_end = m.end(1)
    return end + 1, sep_end == end and text[end - 1] == "/"


def _comment_end(text: str, pos: int) -> int:
    """The end of an HTML comment whose "<!--" ends at ``pos`` (the end of the text if it never closes)."""
    if text.startswith(">", pos):
        return pos + 1
    if text.startswith("->", pos):
        return pos + 2
    m = _COMMENT_END.search(text, pos)
    return m.end() if m else len(text)


def html_depth(text: str, limit: int = HTML_DEPTH_LIMIT) -> int:
    """An estimate (an upper bound within a small factor) of the element depth an HTML5 parser reaches on
    ``text``; the scan stops, returning a value above ``limit``, as soon as the estimate passes ``limit``.
    See the module docstring for the rules."""
    stack = _Stack()
    deepest = 0
    frameset = False
    pos = 0
    n = len(text)
    search = _HTML_TOKEN.search
    while pos < n:
        m = search(text, pos)
        if m is None:
            break
        if m.group(1):
            pos = _comment_end(text, m.end())
            continue
        other = m.group(4)
        if other is not None:
            if other.startswith("![") and stack.foreign():
                end = text.find("]]>", m.end())
                pos = end + 3 if end >= 0 else n
            else:
                # "<!x", "<?x", "</3": a bogus comment up to the next ">"
                end = text.find(">", m.end())
                pos = end + 1 if end >= 0 else n
            continue
        name = m.group(3).lower()
        pos, self_closing = _tag_end(text, m.end())
        frameset = frameset or name == "frameset"
        if frameset:
            # A frameset document ignores all but framesets, and closes nothing implicitly: count every
            # element left open (legitimate frameset pages are tiny).
            if not m.group(2) and name not in _VOID:
                stack.push(name)
                deepest = max(deepest, stack.depth())
                if deepest > limit:
                    return deepest
            continue
        if m.group(2):
            if not (stack.alien and stack.alien[-1] and stack.foreign_end_tag(name)):
                stack.end_tag(name)
            continue
        ns = stack.foreign()
        if ns and name not in _BREAKOUT:
            if not self_closing:
                stack.push(name, alien=ns)
            deepest = max(deepest, stack.depth())
            if deepest > limit:
                return deepest
            continue
        if ns:
            stack.break_out()
        if name in _VOID or name in _IGNORED:
            continue
        if name in _FOREIGN:
            if not self_closing:
                stack.push(name, alien=name)
        else:
            stack.start_tag(name)
            if name in _RAW_TEXT:
                close = re.compile(r"</" + re.escape(name), re.IGNORECASE).search(text, pos)
                if close is None:
                    break
                pos = close.start()
        deepest = max(deepest, stack.depth())
        if deepest > limit:
            return deepest
    return deepest


def xml_depth(
    text: str, limit: int = XML_DEPTH_LIMIT, max_elements: int = XML_MAX_ELEMENTS
) -> tuple[int, int]:
    """The element depth and the element count of an XML document read leniently (an end tag closes the
    nearest open element of its name, a stray one is ignored; "/>" closes); the scan stops as soon as the
    depth passes ``limit`` or the count passes ``max_elements``."""
    names: list[str] = []
    where: dict[str, list[int]] = {}
    deepest = elements = 0
    pos = 0
    n = len(text)
    search = _XML_TOKEN.search
    while pos < n:
        m = search(text, pos)
        if m is None:
            break
        if m.group(1) or m.group(2) or m.group(3):
            closer = "-->" if m.group(1) else "]]>" if m.group(2) else "?>"
            end = text.find(closer, m.end())
            if end < 0:
                break
            pos = end + len(closer)
            continue
        name = m.group(5)
        pos, self_closing = _tag_end(text, m.end())
        if m.group(4):
            opened = where.get(name)
            if opened:
                i = opened[-1]
                while len(names) > i:
                    where[names.pop()].pop()
            continue
        elements += 1
        if elements > max_elements:
            break
        if self_closing:
            continue
        where.setdefault(name, []).append(len(names))
        names.append(name)
        if len(names) > deepest:
            deepest = len(names)
            if deepest > limit:
                break
    return deepest, elements


def html_refusal(text: str) -> str | None:
    """Why an HTML page is refused before parsing (too many tags, nested too deep), or None."""
    tags = text.count("<")
    if tags > HTML_MAX_TAGS:
        return f"markup refused: {tags} tags (more than {HTML_MAX_TAGS})"
    if tags <= HTML_DEPTH_LIMIT // 2:
        # Too few tags to nest past the limit (a reopened formatting element at most doubles the depth a
        # tag can add): most pages end here, without the scan.
        return None
    depth = html_depth(text)
    if depth > HTML_DEPTH_LIMIT:
        return f"markup refused: elements nested more than {HTML_DEPTH_LIMIT} deep"
    return None


def xml_refusal(text: str) -> str | None:
    """Why an XML document is refused before parsing (too many elements, nested too deep), or None."""
    if text.count("<") > _XML_MAX_MARKUP:
        return f"XML refused: more than {_XML_MAX_MARKUP} tags"
    depth, elements = xml_depth(text)
    if depth > XML_DEPTH_LIMIT:
        return f"XML refused: elements nested more than {XML_DEPTH_LIMIT} deep"
    if elements > XML_MAX_ELEMENTS:
        return f"XML refused: {elements} elements (more than {XML_MAX_ELEMENTS})"
    return None
