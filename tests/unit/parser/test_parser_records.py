"""Records are schema-shaped; the offline CLI survives bad lines."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from services.core.domain import Article
from services.parser.extract import extract_meetings, record_for
from services.parser.extract_cli import run_extract
from services.parser.gazetteer import Gazetteer

SCHEMA_PATH = Path(__file__).resolve().parents[3] / ".." / "shared" / "schema" / "meeting-record.schema.json"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _schema() -> dict[str, Any]:
    if not SCHEMA_PATH.is_file():
        pytest.skip("shared schema not present")
    return dict(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_records_validate() -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    n = 0
    for path in sorted(GOLDEN.glob("*.json")):
        a = json.loads(path.read_text(encoding="utf-8"))["article"]
        art = Article(
            text=a["text"],
            language=a["language"],
            published=date.fromisoformat(a["published"]),
            publisher=a["publisher"],
            source_country=a["source_country"],
            url="https://example.org/x",
        )
        for claim in extract_meetings(art):
            rec = record_for(claim, art, explain=True)
            validator.validate(rec)
            assert rec["sources"][0]["url"] == "https://example.org/x"
            assert rec["sources"][0]["evidence"]
            assert rec["level"]
            n += 1
    assert n >= 10


def test_run_extract_bad_lines_do_not_stop() -> None:
    lines = [
        json.dumps(
            {
                "id": "ok",
                "text": "Prime Minister Ravi Mehran of India met President of France Luc Berrand "
                "in Paris on 3 May 2024.",
                "published": "2024-05-04",
            }
        ),
        "{not json",
        json.dumps({"id": "nobody"}),
        json.dumps({"id": "baddate", "text": "x", "published": "yesterday-ish"}),
        json.dumps(
            {
                "id": "html",
                "html": "<html><body><p>President of Chile Ana Rios held a telephone "
                "conversation with President of Peru Jose Lima on 2 May 2024.</p></body></html>",
            }
        ),
        "",
    ]
    out = io.StringIO()
    errors = run_extract(io.StringIO("\n".join(lines) + "\n"), out)
    res = [json.loads(x) for x in out.getvalue().splitlines()]
    assert errors == 3
    assert [r["id"] for r in res] == ["ok", "line-2", "nobody", "baddate", "html"]
    assert res[0]["meetings"]
    assert "error" not in res[0]
    assert {p["country"] for p in res[0]["meetings"][0]["participants"]} == {"IND", "FRA"}
    assert all("error" in r for r in res[1:4])
    assert res[4]["meetings"][0]["mode"] == "phone"


def test_explain_flag() -> None:
    line = json.dumps(
        {"id": "e", "text": "President of Chile Ana Rios met President of Peru Jose Lima.", "language": "en"}
    )
    out = io.StringIO()
    run_extract(io.StringIO(line + "\n"), out, explain=True)
    rec = json.loads(out.getvalue())["meetings"][0]
    assert rec["explain"]["cue"] == "met"


@pytest.mark.parametrize(
    ("lang", "text", "code"),
    [
        ("en", "the Kazakh side", "KAZ"),
        ("en", "Russian Foreign Minister", "RUS"),
        ("ru", "казахстанской стороной", "KAZ"),
        ("ru", "Министр иностранных дел России", "RUS"),
        ("zh", "哈方表示", "KAZ"),
        ("zh", "中方愿同", "CHN"),
        ("zh", "俄罗斯总统", "RUS"),
        ("zh", "哈薩克外長", "KAZ"),
    ],
)
def test_gazetteer_countries(lang: str, text: str, code: str) -> None:
    hits = [m for m in Gazetteer.default().find(text, lang) if m.kind == "country"]
    assert hits
    assert hits[0].code == code


def test_gazetteer_cities_and_orgs() -> None:
    g = Gazetteer.default()
    assert [
        (m.kind, m.code, m.country) for m in g.find("talks in Astana with the SCO Secretary-General", "en")
    ] == [("city", "Astana", "KAZ"), ("org", "SCO", None)]
    assert [(m.kind, m.code) for m in g.find("在北京会见上合组织秘书长", "zh")] == [
        ("city", "Beijing"),
        ("org", "SCO"),
    ]
    assert [(m.kind, m.code) for m in g.find("в Москве с генсеком ОБСЕ", "ru")] == [
        ("city", "Moscow"),
        ("org", "OSCE"),
    ]
