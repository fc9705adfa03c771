"""``services.store.dedup.simhash`` against its definition. The parse stage fingerprints every article
(``fingerprint_document``), and the bit-by-bit loop took seconds on a long page (found by
``test_prop_parser.py``'s CPU budget); the faster form must give exactly the same 64 bits, since stored
fingerprints are compared with new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from services.store.dedup import fingerprint, simhash
from tests.unit.properties.strategies import PROFILE


def reference(tokens: Sequence[str]) -> int:
    """SimHash as defined: per bit, +1 for each token whose BLAKE2b-64 (big-endian) has it set, -1 if not."""
    acc = [0] * 64
    for tok in tokens:
        h = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(64):
            acc[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if acc[bit] > 0)


@PROFILE
@given(
    tokens=st.lists(
        st.one_of(st.text(max_size=6), st.sampled_from(["a b c", "b c d", "会见王毅"])), max_size=300
    )
)
def test_simhash_is_the_reference_simhash(tokens: list[str]) -> None:
    assert simhash(tokens) == reference(tokens)


@PROFILE
@given(text=st.text(max_size=2000))
def test_fingerprint_is_deterministic(text: str) -> None:
    assert fingerprint(text) == fingerprint(text)
