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
from collections import Counter
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


# SimHash adds, for each of the 64 bits, +1 per token whose hash has the bit set and -1 otherwise. Bit by bit
# that is 64 Python steps per token (seconds for a long page); instead each digest byte is looked up as its
# eight bits spread into 40-bit counters of one big integer, and the integers are summed: the same counts.
_FIELD = 40
_BYTE_SPREAD = [sum((b >> i & 1) << (i * _FIELD) for i in range(8)) for b in range(256)]
_BYTE_TABLES = [[s << ((7 - j) * 8 * _FIELD) for s in _BYTE_SPREAD] for j in range(8)]  # byte j, big-endian
_FIELD_MASK = (1 << _FIELD) - 1


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash (unsigned) of the tokens, each weighted once per occurrence: bit i is set when more
    tokens' BLAKE2b-64 hashes (big-endian) have bit i set than not."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _BYTE_TABLES
    counts = 0
    total = 0
    for tok, weight in Counter(tokens).items():
        d = hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest()
        spread = t0[d[0]] + t1[d[1]] + t2[d[2]] + t3[d[3]] + t4[d[4]] + t5[d[5]] + t6[d[6]] + t7[d[7]]
        counts += weight * spread
        total += weight
    return sum(1 << bit for bit in range(64) if 2 * (counts >> (bit * _FIELD) & _FIELD_MASK) > total)


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
