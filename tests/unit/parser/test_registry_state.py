"""A full name the registry places in one state beats a neighbouring state read from a list."""

from __future__ import annotations

from datetime import date

from services.parser import extract as E

ON = date(2019, 9, 24)


def _person(name: str, country: str) -> E._Person:
    return E._Person(0, 5, "head_of_state", "Emir", country, None, name, name)


def test_a_full_registry_name_takes_its_registry_state() -> None:
    p = E._resolve_person(_person("Giuseppe Conte", "QAT"), ON, None, {})
    assert p.country == "ITA"
    assert p.name == "Giuseppe Conte"


def test_the_text_state_stays_when_the_name_is_partial_or_agrees() -> None:
    assert E._resolve_person(_person("Conte", "QAT"), ON, None, {}).country == "QAT"  # a surname alone
    assert E._resolve_person(_person("Giuseppe Conte", "ITA"), ON, None, {}).country == "ITA"
    assert E._resolve_person(_person("Someone Unknown", "QAT"), ON, None, {}).country == "QAT"


def test_a_curated_term_wins_a_tie_with_an_imported_one() -> None:
    # the French president is also Andorra's co-prince (an imported term): "President Macron" is French
    term = E._lookup("Emmanuel Macron", date(2024, 1, 1))
    assert term is not None
    assert term.country == "FRA"
