"""Golden pairs: example releases written for these tests (never corpus text) and their expected records."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.core.domain import Article
from services.parser.extract import extract_meetings

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.json"))


def _article(a: dict[str, Any]) -> Article:
    return Article(
        text=a["text"],
        language=a.get("language"),
        published=date.fromisoformat(a["published"]) if a.get("published") else None,
        publisher=a.get("publisher"),
        source_country=a.get("source_country"),
    )


def test_golden_cover_every_language_and_negative_case() -> None:
    names = {p.stem for p in CASES}
    for lang in ("en", "ru", "zh", "fr", "ja", "es", "de", "ar", "tr", "kk", "uz"):
        assert any(n.startswith(lang + "_") for n in names)
    # each newer pack: a meeting, a phone call, an announcement and a condolence message
    for lang in ("es", "de", "ar", "tr", "kk", "uz"):
        assert {f"{lang}_talks", f"{lang}_phone", f"{lang}_planned", f"{lang}_condolences"} <= names
    assert {"en_condolences", "en_press", "en_planned", "zh_condolence", "zh_planned", "ru_planned"} <= names
    assert "zh_traditional" in names
    # rule classes added later: each in en, ru and zh
    for rule in ("group_ministers", "repeated_contacts", "counterparts_list", "format_members"):
        assert {f"{lang}_{rule}" for lang in ("en", "ru")} <= names
        if rule != "repeated_contacts":
            assert f"zh_{rule}" in names
    assert {"zh_counterparts_list", "en_colleague", "ru_colleague", "zh_attendees_only"} <= names
    assert {"zh_group_ministers", "zh_shared_title", "en_phone_dateline", "ru_clock_date"} <= names
    # names whole and in the right state: Cyrillic Chinese names, state styles, portfolios, abbreviations
    assert {"ru_cyrillic_chinese_name", "ru_state_style", "en_portfolio_name", "en_double_space"} <= names
    assert "en_list_spacing" in names
    assert {"zh_abbreviation", "zh_ministry_list", "zh_org_body", "ja_counterparts_list"} <= names


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    claims = extract_meetings(_article(case["article"]))
    expected = case["expected"]
    assert len(claims) == len(expected), [c.evidence for c in claims]
    for claim, exp in zip(claims, expected, strict=True):
        assert claim.status == exp["status"]
        assert {p.party: p.role for p in claim.participants} == exp["parties"]
        if exp.get("date"):
            assert claim.date is not None
            assert claim.date.isoformat() == exp["date"]
        for party, printed in (exp.get("names") or {}).items():
            assert printed in {p.name_as_printed for p in claim.participants if p.party == party}
        for party, canon in (exp.get("canonical") or {}).items():
            assert canon in {p.name for p in claim.participants if p.party == party}
        if exp.get("mode"):
            assert claim.mode == exp["mode"]
        if exp.get("city"):
            assert claim.city == exp["city"]
        assert claim.evidence
        assert claim.explain["cue"]


def test_names_as_printed_and_canonical() -> None:
    case = json.loads((GOLDEN / "ru_talks.json").read_text(encoding="utf-8"))
    claims = extract_meetings(_article(case["article"]))
    turk = next(p for p in claims[0].participants if p.country == "TUR")
    assert turk.name_as_printed == "Мехметом Оралом"
    assert turk.name == "Мехмет Орал"


def test_publisher_country_fills_the_minister() -> None:
    art = Article(
        text="The Minister received the Ambassador of Japan, Mr Ken Sato, today.",
        language="en",
        published=date(2024, 1, 5),
        publisher="Ministry of Foreign Affairs (example)",
        source_country="MYS",
    )
    (claim,) = extract_meetings(art)
    assert {p.party for p in claim.participants} == {"MYS", "JPN"}
    assert claim.date == date(2024, 1, 5)


def test_empty_and_non_meeting_texts() -> None:
    assert extract_meetings(Article(text="", language="en")) == []
    assert extract_meetings(Article(text="The ministry published its annual report.", language="en")) == []


def test_ja_pair_abbreviation_names_the_partner_only_before_a_meeting_word() -> None:
    from services.parser.gazetteer import Gazetteer

    gaz = Gazetteer.default()
    found = gaz.find("日ロ外相会談と日ASEAN外相会議を行った。日中関係は重要だ。", "ja")
    codes = [(m.kind, m.code) for m in found]
    assert ("country", "RUS") in codes
    assert ("org", "ASEAN") in codes
    assert ("country", "CHN") not in codes


def test_ja_pair_title_is_held_on_both_sides() -> None:
    art = Article(
        text="ウィーンでは日独外相会談を行いました。",
        language="ja",
        published=date(2026, 9, 3),
        publisher="個人サイト",
        source_country="JPN",
    )
    (claim,) = extract_meetings(art)
    roles = {p.party: p.role for p in claim.participants}
    assert roles == {"JPN": "foreign_minister", "DEU": "foreign_minister"}
