from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.fetcher.sources import (
    BUNDLED_SOURCES,
    ListSelectors,
    SourceDef,
    SourcesError,
    load_sources,
    validate_sources_file,
)

GOOD = """\
sources:
  - id: kz-mfa
    name: Kazakhstan MFA
    country: kaz
    language: ru
    kind: html_list
    url: https://www.gov.kz/memleket/entities/mfa/press/news?lang=ru
    list:
      item: "div.card a"
      date: "p.date"
    article: {title: h1, body: "div.text", drop: ["div.share"]}
  - id: uk-fcdo
    name: FCDO
    country: GBR
    language: en
    kind: atom
    url: https://www.gov.uk/government/organisations/foreign-commonwealth-development-office.atom
"""

BAD = """\
sources:
  - id: a
    name: A
    country: KAZ
    language: ru
    kind: rss
    url: https://example.org/rss
  - id: a
    name: Second A
    country: XXX
    language: qq
    kind: json
    url: ftp://example.org/
  - id: c
    name: C
    country: RUS
    language: ru
    kind: html_list
    url: https://mid.ru/
    list:
      item: "a["
      bogus: 1
    article: {body: "p["}
  - id: d
    name: D
    country: RUS
    language: ru
    kind: html_list
    url: javascript:alert(1)
  - id: e
    name: E
    country: RUS
    language: ru
    kind: rss
    url: https://e.example/
    interval: 100
    min_interval: 300
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert validate_sources_file(path) == []
    kz, uk = load_sources(path)
    assert kz.country == "KAZ"
    assert kz.interval == 900
    assert kz.list is not None
    assert kz.list.item == "div.card a"
    assert kz.article is not None
    assert kz.article.drop == ("div.share",)
    assert uk.kind == "atom"
    assert uk.list is None
    assert uk.enabled


def test_plain_list_is_accepted(tmp_path: Path) -> None:
    text = "\n".join(line[2:] for line in GOOD.splitlines()[1:])
    assert validate_sources_file(_write(tmp_path, text)) == []


def test_every_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD)
    errors = validate_sources_file(path)
    by_line: dict[int, list[str]] = {}
    for e in errors:
        m = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", e)
        assert m, e
        by_line.setdefault(int(m[1]), []).append(m[2])
    assert "duplicate source id 'a'" in by_line[8][0]
    assert "country" in by_line[10][0]
    assert "language" in by_line[11][0]
    assert "kind" in by_line[12][0]
    assert "scheme" in by_line[13][0]
    assert "invalid CSS selector 'a['" in by_line[21][0]
    assert "bogus" in by_line[22][0]
    assert "p[" in by_line[23][0]
    assert "scheme" in by_line[29][0]
    assert "interval 100 must lie within" in by_line[30][0]
    assert len(errors) == 10
    with pytest.raises(SourcesError) as info:
        load_sources(path)
    assert info.value.errors == errors


def test_html_list_needs_selectors(tmp_path: Path) -> None:
    text = "- {id: x, name: X, country: RUS, language: ru, kind: html_list, url: 'https://mid.ru/'}\n"
    (error,) = validate_sources_file(_write(tmp_path, text))
    assert error.endswith("needs list selectors (list: {item: ...})")
    assert ":1:" in error


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty registry"),
        ("sources: [\n  {id: x\n", "YAML syntax error"),
        ("sources: 5\n", "expected a list"),
        ("- 5\n", "is not a mapping"),
        ("- {id: x, id: y}\n", "duplicate key 'id'"),
    ],
)
def test_structural_errors(tmp_path: Path, text: str, fragment: str) -> None:
    errors = validate_sources_file(_write(tmp_path, text))
    assert any(fragment in e for e in errors), errors


def test_unreadable_file(tmp_path: Path) -> None:
    (error,) = validate_sources_file(tmp_path / "missing.yaml")
    assert "cannot read" in error


def test_sourcedef_is_frozen() -> None:
    src = SourceDef(id="x", name="X", country="RUS", language="ru", kind="rss", url="https://mid.ru/rss")
    with pytest.raises(ValidationError):
        src.url = "https://evil.example/"  # type: ignore[misc]


def test_list_selectors_validate_css() -> None:
    with pytest.raises(ValidationError):
        ListSelectors(item="li >> a")
    assert ListSelectors(item="li > a", date_order="mdy").date_order == "mdy"


# ----------------------------------------------------------------------------- the shipped registry


def test_bundled_registry_is_valid() -> None:
    assert validate_sources_file(BUNDLED_SOURCES) == []
    sources = load_sources()
    assert len(sources) >= 40
    assert len({s.id for s in sources}) == len(sources)


def test_bundled_registry_covers_the_priority_states() -> None:
    sources = load_sources()
    countries = {s.country for s in sources}
    for iso3 in (
        "KAZ",
        "CHN",
        "RUS",
        "USA",
        "GBR",
        "IND",
        "JPN",
        "UZB",
        "KGZ",
        "TJK",
        "TKM",
        "AZE",
        "TUR",
        "DEU",
    ):
        assert iso3 in countries, iso3
    assert "FRA" in countries
    chinese = {s.language for s in sources if s.country == "CHN"}
    assert {"zh", "en"} <= chinese
    assert any("kremlin.ru" in s.url for s in sources)
    agencies = {"Kazinform", "The Astana Times", "TASS", "Trend"}
    official = [s for s in sources if s.publisher not in agencies]
    assert len(official) >= 40
    assert len({s.country for s in official}) >= 40


def test_bundled_registry_kinds_and_urls() -> None:
    for s in load_sources():
        assert s.url.startswith(("http://", "https://"))
        if s.kind == "html_list":
            assert s.list is not None, s.id
        if not s.enabled:
            assert s.notes, f"{s.id}: a disabled source says why"
