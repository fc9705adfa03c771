"""Rules for Japanese pair abbreviations, one-character surnames and officials' own sites (own examples)."""

from __future__ import annotations

from datetime import date

from services.core.domain import Article
from services.parser.extract import _cjk_name_before, extract_meetings
from services.parser.gazetteer import Gazetteer
from services.parser.packs import load_pack


def _ja(text: str, publisher: str = "テレビ局") -> Article:
    return Article(
        text=text, language="ja", published=date(2026, 5, 12), publisher=publisher, source_country="JPN"
    )


def test_a_visit_to_japan_is_no_pair_abbreviation() -> None:
    found = Gazetteer.default().find("東京では来日中のグテーレス事務総長と会談を行いました。", "ja")
    assert all(m.code != "CHN" for m in found)


def test_a_prefix_is_no_one_character_surname() -> None:
    pack = load_pack("ja")
    assert pack is not None
    assert _cjk_name_before("韓国の朴", pack) == "朴"
    assert _cjk_name_before("ドイツの新", pack) is None
    assert _cjk_name_before("会談した朴", pack) is None


def test_an_officials_own_site_writes_as_its_owner() -> None:
    text = "5月12日、東京で日独外相会談を行いました。その後、来日中のグテーレス事務総長と会談を行いました。"
    claims = extract_meetings(_ja(text, publisher="Ichiro Sato official site"))
    un = next(c for c in claims if any(p.org == "UN" for p in c.participants))
    assert {p.party: p.role for p in un.participants} == {"JPN": "foreign_minister", "ORG:UN": "org_head"}
