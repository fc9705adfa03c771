"""Wikidata-style JSON loader and manual overrides, on the test's own fixture and temp files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.parser.registry import PositionMap, Registry, Term, load_positions

FIXTURE = Path(__file__).parent / "fixtures" / "wikidata_sample.json"


def test_wikidata_loader_with_package_positions() -> None:
    reg = Registry()
    added = reg.load_wikidata_json(FIXTURE)
    assert added == 3  # deprecated rank, unknown position and an unlabelled entity are skipped
    fm = reg.holder("CHN", "foreign_minister", date(2030, 6, 1))
    assert fm is not None
    assert fm.person_id == "Q990001"
    assert fm.name == "Testa Veritas"
    assert fm.start == date(2030, 3, 16)
    assert fm.end == date(2031, 7, 1)
    assert fm.precision == "day"
    hog = reg.holder("CHN", "head_of_government", date(2031, 6, 1))
    assert hog is not None
    assert hog.precision == "year"
    assert hog.end is None
    assert reg.holder("CHN", "head_of_state", date(2031, 6, 1)) is None
    ru = reg.holder("RUS", "foreign_minister", date(2032, 2, 1))
    assert ru is not None
    assert ru.name == "Иван Примеров"


def test_wikidata_loader_labels_become_variants_in_all_scripts() -> None:
    reg = Registry()
    reg.load_wikidata_json(FIXTURE)
    for name in ("Теста Веритас", "Веритаса", "泰斯塔·维里塔斯", "维里塔斯", "T. Veritas", "veritas testa"):
        assert reg.by_name(name, date(2030, 6, 1))[0].person_id == "Q990001", name


def test_wikidata_loader_with_own_position_table() -> None:
    positions = PositionMap({"Q2664362": (None, "XORG", "org_head", "secretary_general")})
    reg = Registry()
    assert reg.load_wikidata_json(FIXTURE, positions) == 1
    assert reg.holder("XORG", "org_head", date(2030, 6, 1)).office == "secretary_general"  # type: ignore[union-attr]


def test_position_table_is_data() -> None:
    table = load_positions()
    assert table.get("Q2664362") == ("CHN", None, "foreign_minister", "")
    assert table.get("Q11696") is not None


def _reg() -> Registry:
    return Registry(
        [
            Term(
                "Q1",
                "Alpha Person",
                ("Альфа Персон",),
                "XYZ",
                None,
                "foreign_minister",
                date(2020, 1, 1),
                None,
            ),
            Term("Q2", "Beta Person", (), "XYZ", None, "head_of_state", date(2019, 1, 1), date(2024, 1, 1)),
        ]
    )


def _write(tmp_path: Path, rows: list[str]) -> Path:
    header = "action\tperson_id\tname\tcountry\torg\trole\toffice\tstart\tend\tvariants\tnote"
    path = tmp_path / "overrides.tsv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_overrides_add_end_fix_remove(tmp_path: Path) -> None:
    reg = _reg()
    path = _write(
        tmp_path,
        [
            "#add\tignored\tComment Line\tXYZ\t\tforeign_minister\t\t2020-01-01\t\t\t",
            "end\tQ1\t\tXYZ\t\tforeign_minister\t\t\t2025-03-01\t\t",
            "add\tQ3\tGamma Person\tXYZ\t\tforeign_minister\t\t2025-03-01\t\tГамма Персон|伽马\t",
            "fix\tQ1\tAlpha P. Person\tXYZ\t\tforeign_minister\t\t\t\tA. Person\t",
            "remove\tQ2\t\tXYZ\t\thead_of_state\t\t\t\t\t",
        ],
    )
    assert reg.apply_overrides(path) == 4
    alpha = reg.holder("XYZ", "foreign_minister", date(2024, 1, 1))
    assert alpha is not None
    assert alpha.end == date(2025, 3, 1)
    assert alpha.name == "Alpha P. Person"
    assert "A. Person" in alpha.variants
    assert alpha.origin.endswith("+override")
    assert reg.holder("XYZ", "foreign_minister", date(2025, 6, 1)).name == "Gamma Person"  # type: ignore[union-attr]
    assert reg.holder("XYZ", "foreign_minister", date(2025, 3, 1)).name == "Gamma Person"  # type: ignore[union-attr]
    assert reg.by_name("伽马", date(2025, 6, 1))[0].person_id == "Q3"
    assert reg.holder("XYZ", "head_of_state", date(2020, 1, 1)) is None
    assert len(reg) == 2


def test_override_for_an_unknown_term_fails_loudly(tmp_path: Path) -> None:
    path = _write(tmp_path, ["end\tQ404\t\tXYZ\t\tforeign_minister\t\t\t2025-03-01\t\t"])
    with pytest.raises(ValueError, match="Q404"):
        _reg().apply_overrides(path)


def test_stale_open_terms_are_not_returned_by_holder() -> None:
    term = Term(
        "Q1",
        "Old Holder",
        (),
        "XYZ",
        None,
        "foreign_minister",
        date(2020, 1, 1),
        None,
        checked=date(2021, 1, 1),
    )
    reg = Registry([term])
    assert reg.holder("XYZ", "foreign_minister", date(2022, 1, 1)).person_id == "Q1"  # type: ignore[union-attr]
    assert reg.holder("XYZ", "foreign_minister", date(2024, 1, 1)) is None
    assert reg.holder("XYZ", "foreign_minister", date(2024, 1, 1), max_stale_days=None) is not None
