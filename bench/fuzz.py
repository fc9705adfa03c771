"""Coverage-guided fuzzing (atheris, i.e. libFuzzer over Python) of the feed reader, the listing reader and
the parse stage: each must raise only its own error type, within a CPU budget per input.

    .venv/bin/python bench/fuzz.py --target feed|listing|extract|all --seconds N
        [--seeds DIR ...] [--corpus DIR] [--artifacts DIR] [--max-len BYTES] [--json FILE]
    .venv/bin/python bench/fuzz.py --target extract --reproduce CRASH_FILE

Targets (see docs/fuzzing.md):

* ``feed``: ``services.fetcher.feeds.read_feed``; allowed: ``FeedError``. Every item must be a canonical
  http(s) URL, each URL and GUID once.
* ``listing``: ``services.fetcher.listing.parse_listing`` and ``next_page_url`` with the selectors of a source
  of the bundled registry; allowed: ``ListingEmpty``, ``ListingUnreadable``. Same item checks.
* ``extract``: ``services.core.stages.default_extract`` (article → claims → records: what
  ``parser.parse_document`` runs), with no source or a registry source's definition; allowed: ``ParseError``.
  Records must be JSON.

An input that starts with ``<!--src:ID-->`` runs with the definition of source ID (its listing or article
selectors, language, country); other inputs pick a source from their first bytes. Seeds: the project's own
fixture pages and feeds (tests/unit/fetcher/pages, tests/integration/site, tests/unit/parser/golden texts),
small hostile documents written here, and any ``--seeds`` directory read at run time (for example
``../shared/corpus/raw``: read, never copied into the project). The working corpus goes to a temporary
directory unless ``--corpus`` names one.

Any other exception, or an input taking more than ``INPUT_CPU_S`` of CPU, is a crash: libFuzzer writes the
input to ``--artifacts`` (``crash-<sha1>``, ``timeout-<sha1>`` for a hang past ``HANG_S``) and the run stops
with exit status 1. Each target runs in a process of its own (libFuzzer exits when done); the parent prints
one summary line per target (runs, runs/s, crashes) and, with ``--json``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = ("feed", "listing", "extract")
INPUT_CPU_S = 5.0
HANG_S = 30
BASE_URL = "https://mfa.example/news/"
_MARKER = re.compile(rb"^<!--src:([\w.-]{1,100})-->")

# Small hostile seeds of the project's own (the fuzzer mutates from here; the dictionary adds tokens).
_FEED_SEEDS = [
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><ttl>30</ttl>'
    b"<item><title>Talks &lt;b&gt;held&lt;/b&gt;</title><link>https://mfa.example/a?utm_source=x</link>"
    b"<guid>1</guid><pubDate>Tue, 28 Oct 2025 10:00:00 +0500</pubDate>"
    b"<description><![CDATA[<p>x<br><script>alert(1)</script>]]></description></item>"
    b"<item><title>B</title><link>javascript:alert(1)</link><guid>1</guid></item></channel></rss>",
    b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><link rel="hub" href="https://hub.example/"/>'
    b'<entry><id>x</id><title type="html">A &amp;lt;i&amp;gt;</title><link href="/rel/1"/>'
    b"<updated>2025-10-28T10:00:00Z</updated></entry></feed>",
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
    b'<channel><title>t</title></channel><item rdf:about="https://mfa.example/r"><title>r</title>'
    b"<link>https://mfa.example/r</link></item></rdf:RDF>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><title>&a;</title></channel></rss>',
    '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>т</title></channel>'
    "</rss>".encode("utf-16"),
    b"<rss><channel>" + b"<x>" * 600 + b"</channel></rss>",
]
_PAGE_SEEDS = [
    b'<html lang="en"><head><meta charset="utf-8"><title>Talks</title>'
    b'<meta property="article:published_time" content="2025-10-28T10:00:00+05:00"></head><body>'
    b"<h1>Foreign Ministers held talks</h1><div class='text'><p>On 28 October 2025 the Minister of Foreign "
    b"Affairs of Kazakhstan held talks with the Minister of Foreign Affairs of China in Astana.</p></div>"
    b"<ul><li><a href='/news/1'>One</a> 28.10.2025</li><li><a href=' javascript:x'>Two</a></li></ul>"
    b"<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg><img src=x onerror=alert(1)>"
    b"</body></html>",
    '<meta charset="windows-1251"><p>Министр иностранных дел провел переговоры 28 октября</p>'.encode(
        "cp1251"
    ),
    '<meta charset="utf-8"><p>外交部长王毅10月28日会见哈萨克斯坦外长</p>'.encode("gb18030"),
    b"<html><body>" + b"<div>" * 2_100 + b"x",
    b"<table><tr><td><span><b></span>" * 50,
]


def _registry() -> list[Any]:
    from services.fetcher.sources import load_sources

    return load_sources(None)


def _pick(data: bytes, sources: list[Any]) -> tuple[Any, bytes]:
    """The source an input names with a ``<!--src:ID-->`` marker (the marker stays in the page: it is a
    comment), else one chosen by the input's first bytes."""
    m = _MARKER.match(data)
    if m:
        wanted = m.group(1).decode("ascii", "replace")
        for s in sources:
            if s is not None and s.id == wanted:
                return s, data
    return sources[zlib.crc32(data[:16]) % len(sources)], data


def _check_items(items: list[Any]) -> None:
    from services.fetcher.canonical import canonical_url

    urls = [i.url for i in items]
    if len(set(urls)) != len(urls) or len({i.guid for i in items}) != len(items):
        raise AssertionError("an item URL or GUID twice")
    for i in items:
        if not i.url.startswith(("http://", "https://")) or canonical_url(i.url) != i.url:
            raise AssertionError(f"item URL not canonical http(s): {i.url!r}")


def make_target(name: str) -> Callable[[bytes], None]:
    """The function one input is fed to (imports the code under test; call inside atheris's
    instrumentation)."""
    if name == "feed":
        from services.fetcher.feeds import FeedError, read_feed

        def feed(data: bytes) -> None:
            try:
                _check_items(read_feed(data, BASE_URL + "rss.xml").items)
            except FeedError:
                pass

        return feed
    if name == "listing":
        from services.fetcher.listing import ListingEmpty, ListingUnreadable, next_page_url, parse_listing

        listings = [s for s in _registry() if s.list is not None]

        def listing(data: bytes) -> None:
            source, page = _pick(data, listings)
            try:
                _check_items(parse_listing(page, BASE_URL, source.list))
                following = next_page_url(page, BASE_URL, source.list)
            except (ListingEmpty, ListingUnreadable):
                return
            if following is not None and not following.startswith(("http://", "https://")):
                raise AssertionError(f"next page not http(s): {following!r}")

        return listing
    if name == "extract":
        from services.core.stages import default_extract
        from services.parser.errors import ParseError
        from services.store.models import DocumentRow

        sources = [None, *_registry()]

        def extract(data: bytes) -> None:
            source, page = _pick(data, sources)
            try:
                records = default_extract(page, source, DocumentRow(url=BASE_URL + "a.html"))
            except ParseError:
                return
            json.dumps(records)

        return extract
    raise ValueError(f"unknown target {name!r}")


def budgeted(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``fn`` failing on an input that costs more than ``INPUT_CPU_S`` of CPU."""

    def run(data: bytes) -> None:
        started = time.process_time()
        fn(data)
        took = time.process_time() - started
        if took > INPUT_CPU_S:
            raise AssertionError(f"slow input: {took:.1f} s of CPU for {len(data)} bytes")

    return run


# --- seeds -----------------------------------------------------------------------------------------------


def _fixture_seeds(target: str) -> Iterator[tuple[str, bytes]]:
    pages = ROOT / "tests" / "unit" / "fetcher" / "pages"
    site = ROOT / "tests" / "integration" / "site"
    if target == "feed":
        for i, seed in enumerate(_FEED_SEEDS):
            yield f"own-{i}", seed
        for f in sorted(site.rglob("*.xml")):
            yield f"site-{f.stem}", f.read_bytes()
        return
    for i, seed in enumerate(_PAGE_SEEDS):
        yield f"own-{i}", seed
    for f in sorted(pages.glob("*.html")):
        # the page of a listing source: run it with that source's definition
        yield f"page-{f.stem}", b"<!--src:" + f.stem.encode() + b"-->" + f.read_bytes()
    for f in sorted(site.rglob("*.html")):
        yield f"site-{f.parent.name}-{f.stem}", f.read_bytes()
    if target == "extract":
        golden = ROOT / "tests" / "unit" / "parser" / "golden"
        for f in sorted(golden.glob("*.json")):
            text = json.loads(f.read_text(encoding="utf-8")).get("article", {}).get("text")
            if isinstance(text, str):
                yield f"golden-{f.stem}", f"<html><body><p>{text}</p></body></html>".encode()


def build_corpus(target: str, corpus: Path, extra: list[Path], max_len: int) -> int:
    """Write the seeds into the working corpus directory; returns how many."""
    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    seeds = list(_fixture_seeds(target))
    for directory in extra:
        for f in sorted(directory.rglob("*")):
            if f.is_file() and f.suffix in (".html", ".htm", ".xml", ".rss", ".atom", ".txt"):
                seeds.append((f"extra-{f.stem}", f.read_bytes()))
    for name, data in seeds:
        (corpus / re.sub(r"[^\w.-]", "_", name)[:80]).write_bytes(data[:max_len])
        n += 1
    return n


# --- the child: one target under libFuzzer ---------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import atheris

    logging.disable(logging.CRITICAL)  # the libraries' warnings about broken input are noise here
    with atheris.instrument_imports(include=["services", "feedparser", "trafilatura", "htmldate", "courlan"]):
        target = budgeted(make_target(args.target))
    if args.reproduce:
        target(Path(args.reproduce).read_bytes())
        print(f"{args.reproduce}: no crash")
        return
    argv = [
        sys.argv[0],
        str(args.corpus),
        f"-max_total_time={args.seconds}",
        f"-timeout={HANG_S}",
        "-rss_limit_mb=3072",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={args.artifacts}/",
        f"-dict={Path(__file__).with_name('fuzz.dict')}",
        "-print_final_stats=1",
    ]
    atheris.Setup(argv, target)
    atheris.Fuzz()


# --- the parent ------------------------------------------------------------------------------------------


def _stats(log: str) -> dict[str, Any]:
    """Runs and runs/s from libFuzzer's final statistics (``-print_final_stats``)."""
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    rate = re.findall(r"stat::average_exec_per_sec:\s*(\d+)", log)
    return {"runs": int(execs[-1]) if execs else 0, "runs_per_s": int(rate[-1]) if rate else 0}


def run_target(target: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    corpus = Path(args.corpus) / target if args.corpus else workdir / f"corpus-{target}"
    artifacts = Path(args.artifacts) / target
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    seeds = build_corpus(target, corpus, [Path(p) for p in args.seeds], args.max_len)
    command = [
        sys.executable,
        __file__,
        "--child",
        "--target",
        target,
        "--seconds",
        str(args.seconds),
        "--max-len",
        str(args.max_len),
        "--corpus",
        str(corpus),
        "--artifacts",
        str(artifacts),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    wall = time.monotonic() - started
    log = done.stdout + done.stderr
    (artifacts / "last-run.log").write_text(log, encoding="utf-8")
    found = sorted(
        str(p) for p in set(artifacts.iterdir()) - before if p.name.startswith(("crash-", "timeout-"))
    )
    stats = _stats(log)
    return {
        "target": target,
        "seconds": args.seconds,
        "wall_s": round(wall, 1),
        "seeds": seeds,
        "runs": stats["runs"],
        "runs_per_s": stats["runs_per_s"],
        "crashes": found,
        "exit_status": done.returncode,
        "corpus_files": sum(1 for _ in corpus.iterdir()),
        "log": str(artifacts / "last-run.log"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    ap.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    ap.add_argument("--seeds", action="append", default=[], help="extra seed directory, read at run time")
    ap.add_argument(
        "--corpus", default=None, help="keep the working corpus here (one subdirectory per target)"
    )
    ap.add_argument("--artifacts", default=None, help="where crashes go (default: a temporary directory)")
    ap.add_argument("--max-len", type=int, default=65_536, help="longest input, in bytes")
    ap.add_argument("--json", default=None, help="write the summary here")
    ap.add_argument("--reproduce", default=None, help="run one input (a crash file) and show its traceback")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child or args.reproduce:
        if args.target == "all":
            ap.error("--reproduce needs one --target")
        child(args)
        return 0
    targets = list(TARGETS) if args.target == "all" else [args.target]
    with tempfile.TemporaryDirectory(prefix="communique-fuzz-") as tmp:
        workdir = Path(tmp)
        if args.artifacts is None:
            args.artifacts = str(Path(tempfile.gettempdir()) / "communique-fuzz-artifacts")
        results = [run_target(t, args, workdir) for t in targets]
        if args.corpus is None:
            shutil.rmtree(workdir, ignore_errors=True)
    for r in results:
        print(
            f"{r['target']:8} {r['runs']:8d} runs in {r['wall_s']} s ({r['runs_per_s']}/s), "
            f"{r['seeds']} seeds -> {r['corpus_files']} corpus files, {len(r['crashes'])} crash(es)"
            + "".join(f"\n         {c}" for c in r["crashes"])
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    bad = [r for r in results if r["crashes"] or r["exit_status"] != 0]
    for r in bad:
        print(f"{r['target']}: exit status {r['exit_status']}, see {r['log']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
