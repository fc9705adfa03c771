"""The dictionary name matcher that replaced the registry-wide regex: leftmost-longest, word-bounded."""

from __future__ import annotations

from services.parser.extract import _NameMatcher


def test_spaced_longest_and_bounded() -> None:
    m = _NameMatcher({"Aldo Verano", "Verano", "Kenji Orimura"}, han=False)
    hits = m.finditer("Aldo  Verano met Kenji Orimura; Veranos is not a name.")
    assert hits == [(0, "Aldo  Verano"), (17, "Kenji Orimura")]


def test_cyrillic_stem() -> None:
    m = _NameMatcher({"Лавров*"}, han=False)
    assert m.finditer("встреча Лаврова и Помпео") == [(8, "Лаврова")]


def test_han_longest() -> None:
    m = _NameMatcher({"王毅", "王毅明"}, han=True)
    assert m.finditer("外长王毅明日会见") == [(2, "王毅明")]
