"""Benchmark of the store: parsed articles' claims -> meetings on Postgres, and publish-to-webhook latency.

    .venv/bin/python bench/bench_store.py [--articles 100000] [--batch 500] [--runs 3] [--samples 20]

1. **Store throughput.** Synthetic parsed articles (generated here: state pairs, dates over two years, modes,
   named and unnamed ministers; about a third are the other side's report of a meeting already stored, so the
   merge works) go through the real store code path — ``services.store.ingest.store_document`` in units of
   work of ``--batch`` documents (the claims inserted as parsed documents first) — into a fresh Postgres
   database migrated by Alembic. Baseline: a plain ``COPY`` of the same claim rows (parties, date, mode,
   record) into a scratch table of the same database. Printed: articles/s and meetings/s, the COPY rows/s,
   and the ratio (median of ``--runs`` COPY runs; the store path runs once at full size).
2. **Publish-to-webhook latency** on the local embedded pipeline (SQLite): a local ministry site publishes a
   new release (a new feed item), the pipeline's next cycle runs at once (``run_once``), and the time until a
   local receiver has the verified webhook is recorded; p50 and p95 over ``--samples`` releases. The poll
   interval is not included: it is a schedule setting (and WebSub pushes skip it).

Needs Postgres on 127.0.0.1:5432 (a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core import pipeline  # noqa: E402
from services.core.db import dispose_engines, session_factory  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.store.ingest import store_document  # noqa: E402
from services.store.models import DocumentRow  # noqa: E402
from services.store.uow import UnitOfWork  # noqa: E402

STATES = (
    "KAZ CHN RUS UZB KGZ TJK TKM TUR IRN IND PAK JPN KOR USA GBR FRA DEU ITA ESP POL UKR AZE ARM GEO MNG "
    "SAU ARE QAT EGY ISR JOR BRA ARG MEX CAN AUS IDN MYS THA VNM SGP PHL NGA ZAF KEN ETH"
).split()
NOW = datetime(2026, 11, 28, tzinfo=UTC)


# --- synthetic parsed articles --------------------------------------------------------------------------


def _person(country: str, named: bool) -> dict[str, Any]:
    return {
        "name": f"Minister {country}" if named else None,
        "name_as_printed": None,
        "aliases": [],
        "title": "Minister of Foreign Affairs" if named else None,
        "country": country,
        "org": None,
        "role": "foreign_minister",
        "person_id": f"fm-{country.lower()}" if named else None,
    }


def synthetic_claims(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` parsed articles' claims (one each); about a third re-report an earlier meeting."""
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    out: list[dict[str, Any]] = []
    for i in range(n):
        if out and rng.random() < 0.33:
            base = rng.choice(out[-2000:])
            a, b = (p["country"] for p in base["participants"])
            day = date.fromisoformat(base["date"]) + timedelta(days=rng.choice([0, 0, 1]))
            mode = base["mode"]
        else:
            a, b = rng.sample(STATES, 2)
            day = start + timedelta(days=rng.randrange(730))
            mode = rng.choice(["in_person", "in_person", "phone", "video"])
        out.append(
            {
                "status": "held",
                "date": day.isoformat(),
                "mode": mode,
                "location": None,
                "participants": [_person(a, rng.random() < 0.6), _person(b, rng.random() < 0.6)],
                "level": "minister",
                "visit": None,
                "sidelines_of": None,
                "topics": rng.sample(["trade", "energy", "security", "culture", "transport"], 2),
                "platforms": [],
                "sources": [
                    {
                        "url": f"https://mfa.example/{i}",
                        "publisher": f"MFA {a}",
                        "published_at": day.isoformat(),
                        "language": "en",
                        "title": f"Talks {a}-{b}",
                        "evidence": f"The ministers of {a} and {b} held talks.",
                    }
                ],
            }
        )
    return out


# --- Postgres scratch database -----------------------------------------------------------------------------


def _admin() -> tuple[Any, str]:
    import psycopg

    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(host="127.0.0.1", user=user, dbname="postgres", autocommit=True), user
        except psycopg.Error as exc:
            last = exc
    raise SystemExit(f"Postgres on 127.0.0.1:5432 is not reachable: {last}")


def store_rate(url: str, claims: list[dict[str, Any]], batch: int) -> dict[str, float]:
    factory = session_factory(url)
    started = time.perf_counter()
    for first in range(0, len(claims), batch):
        with UnitOfWork(factory) as uow:
            docs = []
            for i, rec in enumerate(claims[first : first + batch], start=first):
                doc = DocumentRow(
                    url=f"https://mfa.example/{i}",
                    canonical_url=f"https://mfa.example/{i}",
                    status="fetched",
                    parse_status="ok",
                    claims=[rec],
                    body=b"",
                    fetched_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                    delivery_count=0,
                )
                uow.session.add(doc)
                docs.append(doc)
            uow.session.flush()
            for doc in docs:
                store_document(uow, int(doc.id), NOW, ())
            uow.commit()
    elapsed = time.perf_counter() - started
    with UnitOfWork(factory) as uow:
        meetings = uow.meetings.count()
    return {
        "seconds": elapsed,
        "articles_s": len(claims) / elapsed,
        "meetings": meetings,
        "meetings_s": meetings / elapsed,
    }


def copy_rate(dsn: str, claims: list[dict[str, Any]]) -> float:
    """Seconds for a plain COPY of the same claim rows into a scratch table."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (parties text, day date, mode text, record jsonb)")
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy (parties, day, mode, record) FROM STDIN") as copy,
        ):
            for rec in claims:
                parties = "|".join(sorted(p["country"] for p in rec["participants"]))
                copy.write_row((parties, rec["date"], rec["mode"], json.dumps(rec)))
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return elapsed


# --- publish-to-webhook latency ---------------------------------------------------------------------------

MONTHS = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()


class Site:
    """A one-feed ministry site whose feed grows by one release per sample."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, date]] = []
        self.pages: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def publish(self, i: int, day: date) -> None:
        text = (
            f"АСТАНА, {day.day} {MONTHS[day.month - 1]} {day.year} года. Министр иностранных дел Республики "
            "Казахстан Ермек Кошербаев провёл переговоры с Министром иностранных дел КНР Ван И. Стороны "
            "обсудили торгово-экономическое сотрудничество."
        )
        html = (
            '<html><body><h1 class="title">Переговоры</h1>'
            f'<time class="published" datetime="{day.isoformat()}">{day.isoformat()}</time>'
            f'<div class="text"><p>{text}</p></div></body></html>'
        )
        with self.lock:
            self.pages[f"/kz/press/{i}.html"] = html.encode()
            self.items.append((f"/kz/press/{i}.html", f"kz-{i}", day))

    def feed(self, base: str) -> bytes:
        with self.lock:
            items = "".join(
                f"<item><title>Переговоры {guid}</title><link>{base}{path}</link><guid>{guid}</guid>"
                f"<pubDate>{datetime.combine(day, datetime.min.time()).strftime('%a, %d %b %Y 09:00:00 GMT')}"
                "</pubDate></item>"
                for path, guid, day in reversed(self.items)
            )
        head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        return f"{head}{items}</channel></rss>".encode()


def latency(samples: int) -> list[float]:
    from services.alerts.signing import generate_secret
    from services.alerts.verify import ReplayedWebhook, Verifier
    from services.fetcher.sources import load_sources

    site = Site()
    secret = generate_secret()
    verifier = Verifier([secret], tolerance=300)
    received: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            body = site.feed(base) if path == "/kz/feed.xml" else site.pages.get(path)
            self.send_response(200 if body is not None else 404)
            self.send_header("content-type", "application/rss+xml" if path.endswith(".xml") else "text/html")
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                verifier.verify(self.headers.items(), body)
                received.append(time.perf_counter())
            except ReplayedWebhook:
                pass
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        sources_file = Path(tmp) / "sources.yaml"
        sources_file.write_text(
            "- id: bench-kz\n  name: MFA KZ\n  country: KAZ\n  language: ru\n  kind: rss\n"
            f'  url: "{base}/kz/feed.xml"\n'
            "  article: {title: h1.title, body: div.text, date: time.published}\n"
        )
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(
            "rules:\n  - name: kz\n    match: {level_at_least: foreign_minister, states_any: [KAZ]}\n"
            f"    channels:\n      - webhook: {base}/hook\n        secret: {secret}\n"
        )
        settings = Settings(
            database_url=f"sqlite:///{tmp}/latency.db",
            allow_private_networks="true",
            host_spacing_s=0,
            respect_robots=False,
            rules=rules,
        )
        pipeline.init_db(settings)
        sources = load_sources(sources_file)
        pipeline.run_once(settings, sources, force=True)  # warm up: imports, registry, first poll
        for i in range(samples):
            # A forced dispatch is keyed on the second (source, slot): start each sample in a fresh one.
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
            site.publish(i, date(2026, 1, 1) + timedelta(days=3 * i))
            t0 = time.perf_counter()
            pipeline.run_once(settings, force=True)
            if len(received) != i + 1:
                raise SystemExit(f"sample {i}: no webhook arrived ({len(received)} received)")
            out.append(received[-1] - t0)
        dispose_engines()
    httpd.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="COPY runs (median)")
    parser.add_argument("--samples", type=int, default=20, help="releases for the latency measurement")
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()

    if not args.skip_store:
        claims = synthetic_claims(args.articles)
        admin, user = _admin()
        name = f"communique_bench_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
        try:
            pipeline.init_db(Settings(database_url=url))
            store = store_rate(url, claims, args.batch)
            copies = [
                copy_rate(f"postgresql://{user}@127.0.0.1:5432/{name}", claims) for _ in range(args.runs)
            ]
        finally:
            dispose_engines()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        copy_s = statistics.median(copies)
        copy_rows_s = len(claims) / copy_s
        print(f"articles: {len(claims)}  batch: {args.batch}")
        print(
            f"store (real code path): {store['seconds']:.1f} s  {store['articles_s']:.0f} articles/s  "
            f"{store['meetings']:.0f} meetings -> {store['meetings_s']:.0f} meetings/s"
        )
        print(
            f"plain COPY of the same rows: {copy_s:.2f} s (median of {args.runs})  {copy_rows_s:.0f} rows/s"
        )
        print(
            f"ratio store/COPY (articles/s over rows/s): {store['articles_s'] / copy_rows_s:.4f}  "
            f"(COPY is {copy_rows_s / store['articles_s']:.0f}x faster)"
        )

    if args.samples:
        lat = sorted(latency(args.samples))
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(
            f"publish-to-webhook latency (embedded, SQLite, {len(lat)} releases, poll interval excluded): "
            f"p50 {statistics.median(lat) * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  "
            f"max {lat[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
