"""The word-start prefilter of the packs never loses a match: every match of a pattern starts with one of
the prefixes ``firstchars.prefixes`` derives from it, and ``Pack.finditer`` equals the unfiltered scan."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.parser.packs import available_languages, load_pack
from services.parser.packs.firstchars import prefixes


def _unfiltered(rx: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    end = 0
    for m0 in re.finditer(r"(?<!\w)\w", text):
        pos = m0.start()
        if pos < end:
            continue
        m = rx.match(text, pos)
        if m is not None and m.end() > pos:
            out.append(m.span())
            end = m.end()
    return out


def test_prefixes_of_a_simple_alternation() -> None:
    rx = re.compile(r"(?<!\w)(?:foreign minister|fm|pres(?:ident)?|[xy]z?)(?!\w)", re.IGNORECASE)
    got = prefixes(rx)
    assert got is not None
    assert got.by_len[2] >= {"for", "pre"}
    assert "fm" in got.by_len[1]
    assert {"x", "y"} <= got.by_len[0]
    assert got.may_start("The Foreign Minister", 4)
    assert not got.may_start("The Foreign Minister", 0)


def test_patterns_that_can_start_with_anything_give_no_prefilter() -> None:
    assert prefixes(re.compile(r"\w+ minister")) is None
    assert prefixes(re.compile(r"(?:a|)b?")) is None


WORDS = st.sampled_from(
    [
        "minister",
        "Minister",
        "MINISTRE",
        "président",
        "министр",
        "Министр",
        "talks",
        "met",
        "a",
        "of",
        "Wang",
        "ß",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    alts=st.lists(
        st.sampled_from(
            [
                "min(?:ister|istre)",
                "pr[eé]sident",
                "министр\\w*",
                "talks?",
                "m[ae]t",
                "x{0,2}y",
                "(?:of )?wang",
            ]
        ),
        min_size=1,
        max_size=5,
    ),
    words=st.lists(WORDS, max_size=30),
    flags=st.sampled_from([0, re.IGNORECASE]),
)
def test_every_match_starts_with_a_derived_prefix(alts: list[str], words: list[str], flags: int) -> None:
    rx = re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", flags)
    text = " ".join(words)
    allowed = prefixes(rx)
    assert allowed is not None
    for m in rx.finditer(text):
        assert allowed.may_start(text, m.start()), (rx.pattern, text, m.group(0))


@pytest.mark.parametrize("language", [lang for lang in available_languages() if load_pack(lang).bounded])
def test_pack_finditer_equals_the_unfiltered_scan(language: str) -> None:
    pack = load_pack(language)
    texts = [
        " ".join(pack.raw.get("examples", []) or []),
        "The Minister of Foreign Affairs held talks with President Tokayev and the Prime Minister.",
        "Министр иностранных дел провёл переговоры с Президентом и Премьер-министром в Москве.",
        "Le ministre des Affaires étrangères a reçu le Président et le Premier ministre à Paris.",
        "El canciller se reunió con el presidente y el primer ministro; llamada telefónica con su homólogo.",
        "Außenministerin und Bundeskanzler trafen sich mit dem Präsidenten; Telefonat mit dem Amtskollegen.",
        "Dışişleri Bakanı ve Cumhurbaşkanı, mevkidaşı ile telefonda görüştü; Başbakan kabul etti.",
        "Tashqi ishlar vaziri Prezident bilan uchrashdi; Bosh vazir telefon orqali suhbatlashdi.",
        "Сыртқы істер министрі Президентпен кездесті; Премьер-министр телефон арқылы сөйлесті.",
        "التقى وزير الخارجية ورئيس الوزراء مع الرئيس، وأجرى اتصالا هاتفيا مع نظيره.",
    ]
    found = 0
    for name in ("title_re", "event_re", "cue_re", "planned_re", "not_meeting_re"):
        rx = getattr(pack, name, None)
        if rx is None:
            continue
        for text in texts:
            got = [m.span() for m in pack.finditer(rx, text)]
            assert got == _unfiltered(rx, text), (language, name, text)
            found += len(got)
    assert found >= 3, f"the {language} texts should exercise the patterns"


@settings(max_examples=300, deadline=None)
@given(
    sent=st.text(alphabet="abсдé_ -,.1Ё", max_size=40),
    stem=st.text(alphabet="abсдé_1Ё", min_size=1, max_size=4),
)
def test_stem_word_agrees_with_the_regex_it_replaces(sent: str, stem: str) -> None:
    from services.parser.extract import _stem_word

    m = re.search(rf"(?<!\w){re.escape(stem)}\w{{0,3}}(?!\w)", sent)
    assert _stem_word(sent, stem) == (m.start() if m else -1)
