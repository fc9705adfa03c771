"""Syndicated copies: the same article under another URL (an agency reprint, a mirror, a print version).

Pure functions, no I/O. Two fingerprints of an article's text:

* ``text_sha256``: SHA-256 of the normalised text (Unicode NFKC, case-folded, punctuation dropped, whitespace
  collapsed): identical wording with different markup, spacing or quotes.
* ``simhash``: a 64-bit SimHash over word 3-shingles (character 4-shingles for scripts written without spaces,
  e.g. Chinese), for near-identical wording: an agency that adds a dateline or a "Source:" line.

Heuristic (``is_near_copy``): two texts are copies when their SimHashes differ in at most ``MAX_BITS`` (3 of
64) bits and both are long enough (``MIN_TOKENS``) for SimHash to be meaningful; short texts are compared
with ``difflib`` instead (ratio at least ``SHORT_RATIO``). Candidates are found by four 16-bit bands
(pigeonhole: texts within 3 bits agree on at least one band), so the lookup is four indexed equality tests.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_BITS",
    "Fingerprint",
    "bands",
    "fingerprint",
    "hamming",
    "is_near_copy",
    "normalise",
    "shingles",
    "simhash",
]

MAX_BITS = 3
MIN_TOKENS = 24
SHORT_RATIO = 0.9
_MASK64 = (1 << 64) - 1
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_NO_SPACE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def shingles(norm: str) -> list[str]:
    """Word 3-shingles; character 4-shingles when the text is mostly in a script without spaces."""
    cjk = len(_NO_SPACE_SCRIPT.findall(norm))
    if cjk * 2 > len(norm.replace(" ", "")):
        chars = norm.replace(" ", "")
        return [chars[i : i + 4] for i in range(max(1, len(chars) - 3))]
    words = norm.split()
    if len(words) < 3:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash (unsigned) of the tokens, each weighted once per occurrence."""
    acc = [0] * 64
    for tok in tokens:
        h = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(64):
            acc[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if acc[bit] > 0)


def to_signed(value: int) -> int:
    """An unsigned 64-bit value as the signed BIGINT a database column holds."""
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & _MASK64).bit_count()


def bands(value: int) -> tuple[int, int, int, int]:
    """The four 16-bit bands of a 64-bit SimHash (signed or unsigned)."""
    v = value & _MASK64
    return (v & 0xFFFF, v >> 16 & 0xFFFF, v >> 32 & 0xFFFF, v >> 48 & 0xFFFF)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    text_sha256: str
    simhash: int  # signed 64-bit, as stored
    tokens: int
    norm: str

    @property
    def bands(self) -> tuple[int, int, int, int]:
        return bands(self.simhash)


def fingerprint(text: str) -> Fingerprint:
    """Both fingerprints of an article text."""
    norm = normalise(text)
    toks = shingles(norm)
    return Fingerprint(
        text_sha256=hashlib.sha256(norm.encode("utf-8")).hexdigest(),
        simhash=to_signed(simhash(toks)),
        tokens=len(toks),
        norm=norm,
    )


def is_near_copy(a: Fingerprint, b_simhash: int, b_norm: str | None = None) -> bool:
    """Is a text with SimHash ``b_simhash`` (normalised text ``b_norm``, if known) a copy of ``a``?"""
    if a.tokens < MIN_TOKENS:
        if b_norm is None:
            return False
        return difflib.SequenceMatcher(None, a.norm, b_norm, autojunk=False).ratio() >= SHORT_RATIO
    return hamming(a.simhash, b_simhash) <= MAX_BITS
