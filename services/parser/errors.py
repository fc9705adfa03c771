"""Errors of the parser stage: ``ParseError`` is the only exception the parser's public functions raise."""

from __future__ import annotations

__all__ = ["ParseError"]


class ParseError(Exception):
    """A document or article could not be parsed (bad HTML, unknown input shape, ...)."""
