"""Benchmark of the meeting extractor and the article extractor (medians of several runs).

    .venv/bin/python bench/bench_extract.py [--runs 5]

1. Text articles of ../shared/corpus/dev/inputs.jsonl: median and p90 time of ``extract_meetings`` per article
   (target: median <= 2 ms).
2. Saved HTML pages of ../shared/corpus/raw: ``extract_article`` with the source's CSS selectors versus the
   baseline ``trafilatura.extract`` on the same page; prints the ratio (target <= 0.3x).
The corpus is read at run time, never copied.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core.domain import Article, ArticleSelectors  # noqa: E402
from services.parser.article import extract_article  # noqa: E402
from services.parser.extract import extract_meetings  # noqa: E402

SHARED = ROOT / ".." / "shared"
DEV = SHARED / "corpus" / "dev" / "inputs.jsonl"
RAW = SHARED / "corpus" / "raw"

# Selectors of the saved page layouts, as a source definition would carry them (from each page's .meta.json).
SELECTORS: dict[str, ArticleSelectors] = {
    "fmprc.gov.cn_": ArticleSelectors(
        title="#News_Body_Title", body="#News_Body_Txt_A", date="#News_Body_Time", drop=("script", "style")
    ),
    "kln.gov.my_": ArticleSelectors(body=".journal-content-article", drop=("script", "style")),
    "mfa.gov.by_": ArticleSelectors(body="section.content-page", drop=("script", "style")),
}


def _median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_text(runs: int) -> None:
    arts = []
    for line in DEV.open(encoding="utf-8"):
        o = json.loads(line)
        if not o.get("text"):
            continue
        pub = date.fromisoformat(o["published"]) if o.get("published") else None
        arts.append(
            Article(
                text=o["text"],
                language=o.get("language"),
                published=pub,
                publisher=o.get("publisher"),
                source_country=o.get("source_country"),
            )
        )
    extract_meetings(arts[0])  # warm-up: packs, gazetteer, registry are built once per process
    per = sorted(_median_time(lambda a=a: extract_meetings(a), runs) for a in arts)  # type: ignore[misc]
    med = statistics.median(per) * 1000
    p90 = per[int(len(per) * 0.9)] * 1000
    chars = statistics.median(len(a.text) for a in arts)
    print(
        f"extract_meetings: {len(arts)} text articles (median {chars:.0f} chars): "
        f"median {med:.2f} ms, p90 {p90:.2f} ms, max {per[-1] * 1000:.2f} ms  (target median <= 2 ms)"
    )


def bench_html(runs: int) -> None:
    import trafilatura

    rows = []
    for path in sorted(RAW.glob("*.html")):
        if "LISTING" in path.name:
            continue
        sel = next((s for prefix, s in SELECTORS.items() if path.name.startswith(prefix)), None)
        if sel is None:
            continue
        html = path.read_bytes().decode("utf-8", "replace")
        art = extract_article(html, selectors=sel)
        if not art.text:
            continue
        t_sel = _median_time(lambda h=html, s=sel: extract_article(h, selectors=s), runs)  # type: ignore[misc]
        t_tra = _median_time(lambda h=html: trafilatura.extract(h), runs)  # type: ignore[misc]
        rows.append((path.name, t_sel, t_tra))
    if not rows:
        print("no saved HTML pages found")
        return
    sel_med = statistics.median(r[1] for r in rows) * 1000
    tra_med = statistics.median(r[2] for r in rows) * 1000
    ratio = statistics.median(r[1] / r[2] for r in rows)
    print(
        f"extract_article with selectors: {len(rows)} pages: median {sel_med:.2f} ms; "
        f"trafilatura.extract: median {tra_med:.2f} ms; ratio (median per page) {ratio:.3f}x "
        "(target <= 0.3x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not DEV.is_file():
        print("shared corpus not present; nothing to measure")
        return
    bench_text(a.runs)
    bench_html(a.runs)


if __name__ == "__main__":
    main()
