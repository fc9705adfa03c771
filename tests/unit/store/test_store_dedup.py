"""Syndicated-copy fingerprints (pure): exact normalised text, SimHash near-duplicates, band lookup."""

from __future__ import annotations

from services.store.dedup import bands, fingerprint, hamming, is_near_copy, normalise

RELEASE = (
    "Министр иностранных дел Республики Казахстан провёл переговоры с Министром иностранных дел КНР. "
    "Стороны обсудили вопросы торгово-экономического сотрудничества, транспорта и логистики, а также "
    "подготовку к предстоящим мероприятиям и регулярные консультации между внешнеполитическими ведомствами."
)


def test_normalisation_ignores_markup_noise() -> None:
    assert normalise("«Переговоры»,  ПРОВЕДЕНЫ!\n") == normalise('"переговоры" проведены')
    assert fingerprint(RELEASE).text_sha256 == fingerprint(RELEASE.upper().replace(" ", "  ")).text_sha256


def test_an_agency_dateline_is_still_a_copy() -> None:
    a = fingerprint(RELEASE)
    b = fingerprint("АСТАНА, Агентство. " + RELEASE + " Источник: МИД.")
    assert a.text_sha256 != b.text_sha256
    assert is_near_copy(a, b.simhash)
    assert set(a.bands) & set(b.bands)  # found by the band index


def test_another_release_is_not_a_copy() -> None:
    other = (
        "Заместитель министра иностранных дел Казахстана принял посла Японии. Собеседники обсудили "
        "подготовку визита, сотрудничество в сфере образования и культуры, а также гуманитарные связи и "
        "взаимодействие в рамках формата Центральная Азия плюс Япония."
    )
    assert not is_near_copy(fingerprint(RELEASE), fingerprint(other).simhash)


def test_chinese_text_uses_character_shingles() -> None:
    text = (
        "2026年11月20日，王毅同哈萨克斯坦外长举行会谈。"
        "双方就经贸合作、交通物流和上合组织框架内的协调交换了意见。"
    )
    a, b = fingerprint(text), fingerprint("新华社北京电 " + text)
    assert a.tokens > 20
    assert hamming(a.simhash, b.simhash) < hamming(a.simhash, fingerprint(RELEASE).simhash)


def test_short_texts_compare_by_difflib() -> None:
    a = fingerprint("Talks held in Astana today.")
    assert is_near_copy(a, 0, normalise("Talks held in Astana today"))
    assert not is_near_copy(a, a.simhash, None)  # too short for SimHash alone


def test_bands_of_signed_and_unsigned_agree() -> None:
    assert bands(-1) == bands((1 << 64) - 1) == (0xFFFF,) * 4
