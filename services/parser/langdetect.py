"""Short-text language detection for mixed-script texts.

Heuristic: count letters by script. Kana -> ja; mostly Han -> zh; mostly Cyrillic -> ru; mostly Arabic -> ar;
Latin -> the pack whose stop words occur most often (en when nothing scores). A Latin-script headline inside a
Chinese page does not flip the result because the ratio is over all letters, not the first ones.
"""

from __future__ import annotations

import functools
import re

from services.parser.packs import available_languages, load_pack

__all__ = ["detect_language"]

_WORD = re.compile(r"[^\W\d_]+")
_KAZAKH = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


@functools.cache
def _latin_stopwords() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for lang in available_languages():
        p = load_pack(lang)
        if p is not None and p.script == "latin":
            out[lang] = p.stopwords
    return out


def detect_language(text: str, default: str | None = None) -> str | None:
    """ISO 639-1 code of the dominant language of ``text`` (``default`` when there are no letters)."""
    sample = text[:4000]
    han = kana = cyr = latin = arab = kazakh = 0
    for ch in sample:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            han += 1
        elif 0x3040 <= o <= 0x30FF:
            kana += 1
        elif 0x0400 <= o <= 0x04FF:
            cyr += 1
            if ch in _KAZAKH:
                kazakh += 1
        elif 0x0620 <= o <= 0x064A or 0x066E <= o <= 0x06D3:
            arab += 1
        elif ch.isalpha() and o < 0x250:
            latin += 1
    total = han + kana + cyr + latin + arab
    if total == 0:
        return default
    if kana >= 5 and kana >= 0.05 * (han + kana):
        return "ja"
    # a Han character carries about as much as a Latin word; weigh it accordingly
    scores = {"zh": han * 3.0, "ru": float(cyr), "ar": float(arab), "latin": float(latin)}
    best = max(scores, key=lambda k: scores[k])
    if best == "ru" and kazakh >= 3 and kazakh >= 0.02 * cyr:
        return "kk"  # letters Russian does not have: ә ғ қ ң ө ұ ү һ і
    if best != "latin":
        return best
    words = [w.lower() for w in _WORD.findall(sample)]
    counts = {lang: sum(1 for w in words if w in sw) for lang, sw in _latin_stopwords().items()}
    if not counts or max(counts.values()) == 0:
        return default or "en"
    return max(sorted(counts), key=lambda k: counts[k])
