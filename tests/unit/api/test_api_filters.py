"""Parameter validation and the pure filter decisions of services.api.filters."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api import filters as F


def test_iso3_codes() -> None:
    assert F.parse_iso3("kaz") == "KAZ"
    assert F.parse_iso3(" CHN ") == "CHN"
    assert F.parse_iso3("XKX") == "XKX"
    for bad in ("KZ", "KAZA", "K1Z", "XXX", "", "ÄÖÜ"):
        with pytest.raises(F.BadParameter) as err:
            F.parse_iso3(bad)
        assert err.value.param == "state"


def test_pairs() -> None:
    assert F.parse_pair("KAZ,chn") == ("KAZ", "CHN")
    for bad in ("KAZ", "KAZ,KAZ", "KAZ,CHN,RUS", ",", "KAZ;CHN"):
        with pytest.raises(F.BadParameter, match="pair"):
            F.parse_pair(bad)


def test_levels_at_least() -> None:
    assert F.levels_at_least("head_of_state") == ("head_of_state",)
    assert F.levels_at_least("foreign_minister") == ("head_of_state", "head_of_government", "minister")
    assert F.levels_at_least("any")[-1] == "other"
    with pytest.raises(F.BadParameter, match="level"):
        F.levels_at_least("king")


def test_text_and_org() -> None:
    assert F.check_text("  Wang Yi ", "person") == "Wang Yi"
    for bad in ("", "   ", "a\x00b", "x" * 201):
        with pytest.raises(F.BadParameter):
            F.check_text(bad, "q")
    assert F.parse_org("SCO") == "SCO"
    for bad in ("50%", "a_b", "a|b", "x" * 61):
        with pytest.raises(F.BadParameter):
            F.parse_org(bad)


@given(
    day=st.one_of(st.none(), st.dates()),
    meeting_id=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
)
def test_cursor_round_trip(day: date | None, meeting_id: str) -> None:
    cursor = F.Cursor(day, meeting_id)
    assert F.decode_cursor(F.encode_cursor(cursor)) == cursor


@given(st.text(max_size=300))
def test_any_cursor_text_is_a_cursor_or_a_bad_parameter(value: str) -> None:
    param = "cursor"
    try:
        F.decode_cursor(value)
    except F.BadParameter as exc:
        param = exc.param
    assert param == "cursor"


RECORD = {
    "participants": [
        {
            "name": "Wang Yi",
            "name_as_printed": "王毅",
            "country": "CHN",
            "role": "foreign_minister",
            "person_id": "Q17613",
            "title": "Foreign Minister",
        },
        {
            "name": None,
            "name_as_printed": "Нуртлеу",
            "aliases": ["Nurtleu"],
            "country": "KAZ",
            "role": "foreign_minister",
        },
    ],
    "sources": [{"title": "Переговоры", "evidence": "王毅同哈萨克斯坦外长举行会谈。"}],
}


def test_person_matches() -> None:
    assert F.person_matches(RECORD, "Q17613")
    assert F.person_matches(RECORD, "wang")
    assert F.person_matches(RECORD, "王毅")
    assert F.person_matches(RECORD, "nurtleu")
    assert F.person_matches(RECORD, "Ван И", ["Q17613"])  # resolved through the registry by the caller
    assert not F.person_matches(RECORD, "Lavrov")


def test_text_matches() -> None:
    assert F.text_matches(RECORD, "举行会谈")
    assert F.text_matches(RECORD, "переговоры")
    assert F.text_matches(RECORD, "foreign minister")
    assert not F.text_matches(RECORD, "trade deal")
    assert not F.text_matches({"participants": "junk", "sources": [None]}, "x")
