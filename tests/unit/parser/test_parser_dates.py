from __future__ import annotations

from datetime import date

import pytest

from services.parser.dates import find_dates, parse_dateline, resolve_date
from services.parser.packs import load_pack


def _pack(lang: str):  # type: ignore[no-untyped-def]
    p = load_pack(lang)
    assert p is not None
    return p


@pytest.mark.parametrize(
    ("lang", "text", "ref", "expected"),
    [
        ("en", "They met on 28 October.", date(2025, 10, 29), date(2025, 10, 28)),
        ("en", "They met on 28 October 2025.", date(2026, 1, 2), date(2025, 10, 28)),
        ("en", "They met on October 28.", date(2025, 10, 29), date(2025, 10, 28)),
        ("en", "They met on Oct. 28, 2024.", None, date(2024, 10, 28)),
        ("en", "They met yesterday.", date(2025, 10, 29), date(2025, 10, 28)),
        ("en", "They met today.", date(2025, 10, 29), date(2025, 10, 29)),
        ("en", "They met on Tuesday.", date(2025, 10, 30), date(2025, 10, 28)),
        ("en", "They met on 30 December.", date(2026, 1, 3), date(2025, 12, 30)),
        ("ru", "Встреча состоялась 28 октября.", date(2025, 10, 29), date(2025, 10, 28)),
        ("ru", "Накануне министры провели переговоры.", date(2025, 10, 29), date(2025, 10, 28)),
        ("zh", "王毅10月28日会见外宾。", date(2025, 10, 29), date(2025, 10, 28)),
        ("zh", "2025年10月28日，双方举行会谈。", None, date(2025, 10, 28)),
        ("zh", "王毅8日在北京会见。", date(2020, 12, 9), date(2020, 12, 8)),
        ("zh", "王毅30日在北京会见。", date(2020, 12, 2), date(2020, 11, 30)),
        ("zh", "双方昨天通电话。", date(2020, 12, 2), date(2020, 12, 1)),
        # the minutes of a clock time are no day; month-first Russian dates
        ("ru", "14:24 Июль 16, 2026. Министры провели переговоры.", date(2026, 7, 16), date(2026, 7, 16)),
        ("en", "Updated 10:05. They met on 3 May.", date(2026, 5, 4), date(2026, 5, 3)),
    ],
)
def test_resolve(lang: str, text: str, ref: date | None, expected: date) -> None:
    day, found = resolve_date(text, _pack(lang), ref)
    assert found
    assert day == expected


def test_range_fixes_no_day() -> None:
    day, found = resolve_date("He visited Australia from 17 to 19 June.", _pack("en"), date(2002, 6, 19))
    assert found
    assert day is None


def test_no_date() -> None:
    assert resolve_date("They met.", _pack("en"), date(2020, 1, 1)) == (None, False)
    assert find_dates("no year or month here", _pack("en"), None) == []


@pytest.mark.parametrize(
    ("lang", "text", "city", "day"),
    [
        ("en", "ASTANA, October 28 - The ministers met.", "ASTANA", date(2025, 10, 28)),
        ("ru", "МОСКВА, 22 октября. /ТАСС/. Министры встретились.", "МОСКВА", date(2025, 10, 22)),
        ("zh", "新华社北京12月8日电 王毅会见。", "北京", date(2025, 12, 8)),
    ],
)
def test_dateline(lang: str, text: str, city: str, day: date) -> None:
    dl = parse_dateline(text, _pack(lang), date(2025, 12, 9))
    assert dl is not None
    assert dl.city_text == city
    assert dl.day == day
