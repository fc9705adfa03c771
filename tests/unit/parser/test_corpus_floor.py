"""Quality floor on the shared dev corpus: the extractor + the project's scorer must not fall below the
figures in corpus_floor.json. Skipped when ../shared/corpus is absent. The corpus is read at run time and
never copied."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.parser.extract_cli import run_extract

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
DEV = SHARED / "corpus" / "dev"
FLOOR = Path(__file__).resolve().parent / "corpus_floor.json"

pytestmark = pytest.mark.corpus


def _scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("communique_shared_score", SHARED / "eval" / "score.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _figures(summary: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in ("report", "participant", "dyad", "dyad_date"):
        out[k + "_f1"] = summary[k]["f1"] or 0.0
    for k in ("mode", "role", "date"):
        out[k + "_acc"] = summary[k]["acc"] or 0.0
    return out


@pytest.fixture(scope="module")
def scored() -> dict[str, Any]:
    if not (DEV / "inputs.jsonl").is_file() or not (SHARED / "eval" / "score.py").is_file():
        pytest.skip("shared corpus not present")
    pytest.importorskip("unidecode")
    score = _scorer()
    out = io.StringIO()
    with (DEV / "inputs.jsonl").open(encoding="utf-8") as f:
        run_extract(f, out)
    pred = {str(o["id"]): o for o in (json.loads(x) for x in out.getvalue().splitlines())}
    gold = score.load(str(DEV / "gold.jsonl"))
    total = score.Tally()
    by_lang: dict[str, Any] = {}
    for gid, g in gold.items():
        p = pred.get(gid, {"meetings": []})
        total.add_article(g, p)
        by_lang.setdefault(str(g.get("language")), score.Tally()).add_article(g, p)
    return {"all": _figures(total.summary()), **{k: _figures(v.summary()) for k, v in by_lang.items()}}


def test_no_figure_below_floor(scored: dict[str, Any]) -> None:
    floor = json.loads(FLOOR.read_text(encoding="utf-8"))
    drops = [
        f"{group}.{k}: {scored[group][k]:.3f} < {v:.3f}"
        for group, figs in floor.items()
        for k, v in figs.items()
        if scored.get(group, {}).get(k, 0.0) < v
    ]
    assert not drops, drops
