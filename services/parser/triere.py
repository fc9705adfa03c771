"""Compile many literal phrases into one trie-shaped regular expression (fast alternation).

A phrase may end in ``*`` (a stem: any word characters may follow). The resulting pattern is a plain
``re`` fragment without groups, so callers can wrap it with their own boundaries.
"""

from __future__ import annotations

import re

__all__ = ["trie_pattern"]

_END = ""
_Node = dict[str, "_Node"]


def trie_pattern(phrases: list[str]) -> str:
    """One non-capturing regex fragment matching any of ``phrases``, longest alternatives first."""
    trie: _Node = {}
    for p in phrases:
        if not p:
            continue
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[_END] = {}
    return _emit(trie) or "(?!)"


def _emit(node: _Node) -> str:
    alts: list[str] = []
    optional = False
    for ch in sorted(node):
        if ch == _END:
            optional = True
            continue
        tok = r"\w*" if ch == "*" else (r"\s+" if ch == " " else re.escape(ch))
        alts.append(tok + _emit(node[ch]))
    if not alts:
        return ""
    # Longer continuations are tried before ending here, so the longest phrase wins.
    body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    if optional:
        return "(?:" + body + ")?"
    return body
