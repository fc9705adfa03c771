"""Name normalisation and comparison keys (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from services.parser.registry import name_keys, normalize_name, parse_date


def test_normalize_name_folds_case_diacritics_and_punctuation() -> None:
    assert normalize_name("Recep Tayyip ERDOĞAN") == "recep tayyip erdogan"
    assert normalize_name("Kassym-Jomart  Tokayev") == "kassym jomart tokayev"
    assert normalize_name("谢尔盖·拉夫罗夫") == "谢尔盖 拉夫罗夫"
    assert normalize_name("Мирзиёев") == "мирзиеев"


@pytest.mark.parametrize("form", ["Лавров", "Лаврова", "Лаврову", "Лавровым", "Лаврове"])
def test_russian_case_forms_share_a_key(form: str) -> None:
    assert name_keys(form) == name_keys("Лавров")


@pytest.mark.parametrize(
    ("a", "b"), [("Зеленский", "Зеленского"), ("Сергей", "Сергеем"), ("Захарова", "Захаровой")]
)
def test_adjective_and_soft_stems(a: str, b: str) -> None:
    assert name_keys(a) == name_keys(b)


def test_latin_words_are_not_stemmed_and_initials_dropped() -> None:
    assert name_keys("Antony J. Blinken") == ("antony", "blinken")
    assert name_keys("Moda") != name_keys("Mod")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-02-14", (date(2025, 2, 14), "day")),
        ("2025-02", (date(2025, 2, 1), "month")),
        ("2025", (date(2025, 1, 1), "year")),
        ("", (None, "day")),
        ("+2031-07-00T00:00:00Z", (date(2031, 7, 1), "month")),
    ],
)
def test_parse_date_keeps_precision(text: str, expected: tuple[date | None, str]) -> None:
    assert parse_date(text) == expected
