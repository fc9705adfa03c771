"""Lookups on the bundled registry data: names in several scripts and cases, dated holders."""

from __future__ import annotations

from datetime import date

import pytest

from services.parser.registry import Registry, Term

ON = date(2025, 10, 28)


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry.default()


def first(reg: Registry, name: str, on: date | None = ON) -> Term:
    found = reg.by_name(name, on)
    assert found, f"no term for {name!r}"
    return found[0]


def test_default_is_cached(reg: Registry) -> None:
    assert Registry.default() is reg
    assert len(reg) > 1000


@pytest.mark.parametrize("name", ["Wang Yi", "王毅", "Ван И", "wang yi", "Yi Wang"])
def test_wang_yi_in_every_script(reg: Registry, name: str) -> None:
    term = first(reg, name)
    assert (term.name, term.country, term.role) == ("Wang Yi", "CHN", "foreign_minister")
    assert term.active(ON)


def test_chinese_foreign_minister_by_date(reg: Registry) -> None:
    assert reg.holder("CHN", "foreign_minister", ON).name == "Wang Yi"  # type: ignore[union-attr]
    assert reg.holder("CHN", "foreign_minister", date(2023, 3, 1)).name == "Qin Gang"  # type: ignore[union-attr]
    assert reg.holder("CHN", "foreign_minister", date(2020, 6, 1)).name == "Wang Yi"  # type: ignore[union-attr]
    assert reg.holder("chn", "foreign_minister", ON).name == "Wang Yi"  # type: ignore[union-attr]


def test_qin_gang_term_and_wang_yi_terms(reg: Registry) -> None:
    qin = first(reg, "秦刚", date(2023, 3, 1))
    assert qin.name == "Qin Gang"
    assert qin.start == date(2022, 12, 30)
    assert qin.end == date(2023, 7, 25)
    wang = reg.by_name("Wang Yi", date(2023, 3, 1))
    assert {t.start for t in wang if t.role == "foreign_minister"} >= {date(2013, 3, 16), date(2023, 7, 25)}
    assert not any(t.active(date(2023, 3, 1)) for t in wang if t.role == "foreign_minister")


@pytest.mark.parametrize(
    "form",
    [
        "Лавров",
        "Лаврова",
        "Лаврову",
        "Лавровым",
        "Лаврове",
        "Сергей Лавров",
        "Сергея Лаврова",
        "Сергеем Лавровым",
        "Сергей Викторович Лавров",
        "С.В.Лавров",
        "拉夫罗夫",
        "谢尔盖·拉夫罗夫",
        "Sergey Lavrov",
        "Sergei Lavrov",
        "Lavrov",
        "LAVROV Sergey",
        "Sergueï Lavrov",
    ],
)
def test_lavrov_in_cases_and_scripts(reg: Registry, form: str) -> None:
    term = first(reg, form)
    assert (term.name, term.country, term.role) == ("Sergey Lavrov", "RUS", "foreign_minister")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Xi Jinping", "Xi Jinping"),
        ("Си Цзиньпин", "Xi Jinping"),
        ("Си Цзиньпином", "Xi Jinping"),
        ("习近平", "Xi Jinping"),
        ("Kassym-Jomart Tokayev", "Kassym-Jomart Tokayev"),
        ("Касым-Жомарт Токаев", "Kassym-Jomart Tokayev"),
        ("Токаевым", "Kassym-Jomart Tokayev"),
        ("托卡耶夫", "Kassym-Jomart Tokayev"),
        ("Kasym-Zhomart Tokayev", "Kassym-Jomart Tokayev"),
        ("Yermek Kosherbayev", "Yermek Kosherbayev"),
        ("Ермек Кошербаев", "Yermek Kosherbayev"),
        ("Кошербаеву", "Yermek Kosherbayev"),
        ("科舍尔巴耶夫", "Yermek Kosherbayev"),
        ("Зеленского", "Volodymyr Zelenskyy"),
        ("Orbán Viktor", "Viktor Orbán"),
        ("Orban", "Viktor Orbán"),
        ("Recep Tayyip Erdogan", "Recep Tayyip Erdoğan"),
        ("Эрдоганом", "Recep Tayyip Erdoğan"),
        ("Мирзиёевым", "Shavkat Mirziyoyev"),
        ("米尔济约耶夫", "Shavkat Mirziyoyev"),
        ("Xi", "Xi Jinping"),
    ],
)
def test_names_across_scripts(reg: Registry, name: str, expected: str) -> None:
    assert first(reg, name).name == expected


def test_one_person_one_id_across_scripts(reg: Registry) -> None:
    ids = {first(reg, n).person_id for n in ("Xi Jinping", "Си Цзиньпин", "习近平")}
    assert len(ids) == 1
    assert ids.pop() == "Q15031"


def test_kazakh_foreign_ministers_by_date(reg: Registry) -> None:
    assert reg.holder("KAZ", "foreign_minister", date(2024, 6, 1)).name == "Murat Nurtleu"  # type: ignore[union-attr]
    assert reg.holder("KAZ", "foreign_minister", ON).name == "Yermek Kosherbayev"  # type: ignore[union-attr]
    assert reg.holder("KAZ", "foreign_minister", date(2021, 1, 1)).name == "Mukhtar Tileuberdi"  # type: ignore[union-attr]


def test_blinken_and_rubio_by_date(reg: Registry) -> None:
    assert reg.holder("USA", "foreign_minister", date(2022, 5, 1)).name == "Antony Blinken"  # type: ignore[union-attr]
    assert reg.holder("USA", "foreign_minister", ON).name == "Marco Rubio"  # type: ignore[union-attr]
    blinken = first(reg, "布林肯", date(2022, 5, 1))
    assert blinken.name == "Antony Blinken"
    assert blinken.active(date(2022, 5, 1))
    assert not first(reg, "Blinken", ON).active(ON)
    assert first(reg, "Рубио", ON).active(ON)


def test_handover_day_goes_to_the_newcomer(reg: Registry) -> None:
    assert reg.holder("USA", "head_of_state", date(2025, 1, 20)).name == "Donald Trump"  # type: ignore[union-attr]
    assert reg.holder("USA", "head_of_state", date(2025, 1, 19)).name == "Joe Biden"  # type: ignore[union-attr]


def test_presidential_systems_have_the_president_as_head_of_government(reg: Registry) -> None:
    assert reg.holder("USA", "head_of_government", ON).name == "Donald Trump"  # type: ignore[union-attr]
    assert reg.holder("TUR", "head_of_government", date(2017, 1, 1)).name == "Binali Yıldırım"  # type: ignore[union-attr]
    assert reg.holder("TUR", "head_of_government", ON).name == "Recep Tayyip Erdoğan"  # type: ignore[union-attr]


def test_active_terms_rank_first_then_higher_office(reg: Registry) -> None:
    terms = reg.by_name("Erdoğan", ON)
    assert [t.role for t in terms[:2]] == ["head_of_state", "head_of_government"]
    kishida = reg.by_name("Kishida", date(2016, 1, 1))
    assert kishida[0].role == "foreign_minister"  # the term active on that day beats the higher office
    assert reg.by_name("Kishida", date(2023, 1, 1))[0].role == "head_of_government"


def test_organisation_heads(reg: Registry) -> None:
    assert reg.holder("UN", "org_head", ON).name == "António Guterres"  # type: ignore[union-attr]
    assert reg.holder("EU", "org_head", ON).name == "Ursula von der Leyen"  # type: ignore[union-attr]
    offices = {t.office: t.name for t in reg.holders("EU", "org_head", ON)}
    assert offices == {
        "commission_president": "Ursula von der Leyen",
        "council_president": "António Costa",
        "high_representative": "Kaja Kallas",
    }
    assert reg.holder("SCO", "org_head", date(2020, 6, 1)).name == "Vladimir Norov"  # type: ignore[union-attr]
    assert first(reg, "古特雷斯").org == "UN"
    assert first(reg, "格奥尔基耶娃").org == "IMF"


def test_unknown_name_and_unknown_office(reg: Registry) -> None:
    assert reg.by_name("Nobody Atall", ON) == []
    assert reg.by_name("", ON) == []
    assert reg.holder("XYZ", "foreign_minister", ON) is None
    assert reg.holder("CHN", "foreign_minister", date(1990, 1, 1)) is None


def test_names_index_covers_all_scripts(reg: Registry) -> None:
    index = {}
    for variant, term in reg.names_index():
        index.setdefault(variant, set()).add(term.name)
    assert "Wang Yi" in index["王毅"]
    assert "Sergey Lavrov" in index["Лавров"]
    assert "Kassym-Jomart Tokayev" in index["托卡耶夫"]
    assert sum(1 for _ in reg.names_index()) >= len(reg)
