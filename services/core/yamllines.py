"""YAML configuration files with line numbers: map a pydantic error location back to the line it came from.

Used by the source registry and the alert rules, so that every validation error reads ``FILE:LINE: message``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import yaml

__all__ = ["child", "duplicate_keys", "locate"]


def child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    """The value node under ``key`` of a mapping, or at index ``key`` of a sequence."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]  # type: ignore[no-any-return]
    return None


def locate(node: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """Line of the deepest YAML node the error path reaches (a missing key reports its parent mapping)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for i, part in enumerate(loc):
        nxt = child(node, part) if node is not None else None
        # A union tag in the path (``channels.0.webhook.secret``) names a key whose value is a scalar: stay on
        # the mapping so that the next part finds its sibling.
        if nxt is None or (isinstance(nxt, yaml.ScalarNode) and i < len(loc) - 1):
            continue
        node = nxt
        line = node.start_mark.line + 1
    return line


def duplicate_keys(node: yaml.Node) -> Iterator[tuple[int, str]]:
    """(line, message) for every key that appears twice in one mapping; PyYAML keeps the last one silently."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    yield k.start_mark.line + 1, f"duplicate key {k.value!r}"
                seen.add(k.value)
            yield from duplicate_keys(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from duplicate_keys(v)
