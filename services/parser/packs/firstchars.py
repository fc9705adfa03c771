"""The short prefixes a compiled pattern can start a match with, read off Python's own regex parse tree.

The packs' title and event patterns are long alternations tried at every word start of an article; most words
cannot begin any of them. A set look-up of the word's first two or three characters rules those words out
before the regex engine is entered. The prefixes form a superset (never a miss): whatever the analysis does
not understand makes it give up (``None``), and the caller then tries every word start as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any

__all__ = ["Prefixes", "prefixes"]

_K = 3  # prefix length looked at
_MAX_SET = 20000  # more alternatives than this: not worth a set
_MAX_RANGE = 256

# A partial prefix: its text, and whether it is closed (nothing after it can extend it: it reached the length
# looked at, or a character class too wide to enumerate came next).
_Part = tuple[str, bool]


class _GiveUp(Exception):
    pass


@dataclass(frozen=True)
class Prefixes:
    """Folded prefixes by length (1 to 3): a match starts with one of them."""

    by_len: tuple[frozenset[str], frozenset[str], frozenset[str]]

    def may_start(self, text: str, pos: int) -> bool:
        head = text[pos : pos + _K].lower()
        for n, allowed in enumerate(self.by_len, start=1):
            if allowed and head[:n] in allowed:
                return True
        return False


def prefixes(rx: re.Pattern[str]) -> Prefixes | None:
    """The prefixes every non-empty match of ``rx`` starts with (case-folded), or ``None``."""
    try:
        parts = _seq(_p.parse(rx.pattern, rx.flags), {("", False)})
    except (_GiveUp, RecursionError, re.error):
        return None
    folded: list[set[str]] = [set() for _ in range(_K)]
    for text, _closed in parts:
        if not text:
            return None  # a match may start anywhere
        for variant in (text, text.lower(), text.upper()):
            key = variant.lower()[:_K]
            if key:
                folded[len(key) - 1].add(key)
    return Prefixes((frozenset(folded[0]), frozenset(folded[1]), frozenset(folded[2])))


def _concat(parts: set[_Part], tails: set[_Part]) -> set[_Part]:
    out: set[_Part] = set()
    for text, closed in parts:
        if closed:
            out.add((text, True))
            continue
        for tail, tail_closed in tails:
            joined = text + tail
            out.add((joined[:_K], tail_closed or len(joined) >= _K))
    if len(out) > _MAX_SET:
        raise _GiveUp("too many prefixes")
    return out


def _seq(items: Iterable[tuple[Any, Any]], parts: set[_Part]) -> set[_Part]:
    for op, av in items:
        if all(closed for _t, closed in parts):
            return parts
        parts = _item(op, av, parts)
    return parts


def _item(op: Any, av: Any, parts: set[_Part]) -> set[_Part]:
    if op is _c.LITERAL:
        return _concat(parts, {(chr(av), False)})
    if op is _c.IN:
        chars = _charset(av)
        if chars is None:
            return _concat(parts, {("", True)})
        return _concat(parts, {(ch, False) for ch in chars})
    if op is _c.NOT_LITERAL or op is _c.ANY:
        return _concat(parts, {("", True)})
    if op is _c.BRANCH:
        out: set[_Part] = set()
        for alt in av[1]:
            out |= _seq(alt, parts)
        if len(out) > _MAX_SET:
            raise _GiveUp("too many prefixes")
        return out
    if op is _c.SUBPATTERN:
        return _seq(av[3], parts)
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _seq(av, parts)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        return _repeat(av, parts)
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return parts  # consumes nothing
    raise _GiveUp(op)


def _repeat(av: Sequence[Any], parts: set[_Part]) -> set[_Part]:
    lo, hi, body = av
    out: set[_Part] = set(parts) if lo == 0 else set()
    cur = parts
    for count in range(1, lo + _K + 2):
        if count > hi:
            return out
        cur = _seq(body, cur)
        if count >= lo:
            out |= cur
        if all(closed for _t, closed in cur):
            return out
    # still open after as many rounds as can matter: more rounds could extend these prefixes; close them
    return {(t, True) for t, _c2 in out}


def _charset(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    out: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            out.add(chr(av))
        elif op is _c.RANGE:
            lo, hi = av
            if hi - lo > _MAX_RANGE:
                return None
            out.update(chr(c) for c in range(lo, hi + 1))
        else:  # NEGATE, CATEGORY (\w, \d): too wide to enumerate
            return None
    return out
