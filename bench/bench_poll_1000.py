"""Benchmark: one polling round of 1,000 unchanged local sources (every one answers 304) through the real
pipeline on Celery workers, side by side with a bare asyncio httpx loop making the same conditional requests.

    .venv/bin/python bench/bench_poll_1000.py [--sources 1000] [--runs 3] [--workers 2] [--threads 8]

Needs Postgres on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (a fresh database is created and dropped; a free
Redis database number is claimed with the same lock key as the test suite). The script starts:

* one local feed server process (asyncio, HTTP/1.1 keep-alive) serving ``/feed/<i>.xml`` with an ETag and
  honest 304s, counting requests and the bytes it writes;
* ``--workers`` Celery worker processes (``--pool threads``) on all queues.

Then: the 1,000 sources are synced and primed (one full round, which stores their validators and caches
robots.txt), and each measured run sends one ``core.dispatch_due(force=True)`` to the workers and waits until
every source has been polled again (``source.polls``). The baseline sends the same 1,000 GETs with
``If-None-Match`` from one ``httpx.AsyncClient`` (``--baseline-concurrency`` in flight, default 8: the
fastest setting measured on this 2-core machine). Figures: requests and response bytes as counted by the
server, wall time, and the pipeline/baseline ratio; medians of ``--runs`` runs.

Host spacing is OFF for the benchmark's own sources (``host_spacing: 0`` and ``COMMUNIQUE_HOST_SPACING_S=0``):
1,000 sources on one host would otherwise be spaced 2 s apart by design. robots.txt stays on (it is cached, so
it costs no request in a measured run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REDIS_LOCK = "communique:test-session"


# --------------------------------------------------------------------------- the feed server (subprocess)


def serve(port_file: str) -> None:
    stats = {"requests": 0, "bytes": 0, "304": 0, "200": 0, "404": 0}
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ministry %d</title>'
        b"<link>http://127.0.0.1/</link><description>press releases</description></channel></rss>"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                if path.startswith("/_stats"):
                    body = json.dumps(stats).encode()
                    if "reset" in path:
                        for k in stats:
                            stats[k] = 0
                    out = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    writer.write(out)
                    await writer.drain()
                    continue
                stats["requests"] += 1
                if path.startswith("/feed/") and path.endswith(".xml"):
                    n = int(path[6:-4])
                    etag = b'"f%d-v1"' % n
                    if headers.get("if-none-match", "").encode() == etag:
                        out = b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\n\r\n" % etag
                        stats["304"] += 1
                    else:
                        body = feed % n
                        out = (
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                            b"ETag: %s\r\nContent-Length: %d\r\n\r\n%s" % (etag, len(body), body)
                        )
                        stats["200"] += 1
                else:
                    out = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                    stats["404"] += 1
                stats["bytes"] += len(out)
                writer.write(out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        Path(port_file).write_text(str(port))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- services


def pg_database() -> tuple[str, Any, str]:
    import psycopg

    for user in ("postgres", "root"):
        try:
            admin = psycopg.connect(host="127.0.0.1", user=user, dbname="postgres", autocommit=True)
            break
        except psycopg.Error:
            continue
    else:
        raise SystemExit("Postgres on 127.0.0.1:5432 is not reachable")
    name = f"communique_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}", admin, name


def claim_redis() -> tuple[str, Any]:
    import redis

    token = uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        if client.set(REDIS_LOCK, token, nx=True, ex=3600):
            for key in client.scan_iter():
                if key != REDIS_LOCK.encode():
                    client.delete(key)
            return f"redis://127.0.0.1:6379/{db}", client
        client.close()
    raise SystemExit("no free Redis database")


def start_workers(env: dict[str, str], n: int, threads: int) -> list[subprocess.Popen[bytes]]:
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    procs = []
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    for i in range(n):
        log = open(logs / f"bench_worker_{os.getpid()}_{i}.log", "wb")  # noqa: SIM115 - owned by the process
        procs.append(
            subprocess.Popen(
                [
                    celery,
                    "-A",
                    "services.core.celery_app",
                    "worker",
                    "-Q",
                    "fetch,parse,store,notify",
                    "--pool=threads",
                    f"--concurrency={threads}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=WARNING",
                    f"--hostname=bench{i}-{uuid.uuid4().hex[:6]}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


# --------------------------------------------------------------------------- measuring


def server_stats(base: str, reset: bool = False) -> dict[str, int]:
    import httpx

    r = httpx.get(base + ("/_stats?reset" if reset else "/_stats"), timeout=10)
    return dict(r.json())


def polled(db: str, at_least: int) -> int:
    from sqlalchemy import func, select

    from services.core.db import session_factory
    from services.store.models import SourceRow

    with session_factory(db)() as session:
        query = select(func.count()).select_from(SourceRow).where(SourceRow.polls >= at_least)
        return int(session.scalar(query) or 0)


def pipeline_round(settings: Any, n: int, round_no: int, timeout: float = 600) -> float:
    from services.core.celery_app import app_for

    started = time.perf_counter()
    app_for(settings).send_task("core.dispatch_due", args=[True])
    deadline = time.monotonic() + timeout
    while polled(settings.database_url, round_no) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"round {round_no}: only {polled(settings.database_url, round_no)}/{n} polled")
        time.sleep(0.02)
    return time.perf_counter() - started


def baseline_round(base: str, n: int, concurrency: int) -> float:
    import httpx

    async def main() -> None:
        limits = httpx.Limits(max_connections=concurrency)
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one(i: int) -> None:
                async with gate:
                    r = await client.get(f"{base}/feed/{i}.xml", headers={"If-None-Match": f'"f{i}-v1"'})
                assert r.status_code == 304, r.status_code

            await asyncio.gather(*(one(i) for i in range(n)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--baseline-concurrency",
        type=int,
        default=8,
        help="requests in flight in the baseline (httpx's async pool slows down past ~10 on 2 cores)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    from services.core import pipeline
    from services.core.db import dispose_engines
    from services.core.settings import Settings
    from services.fetcher.sources import SourceDef

    n = args.sources
    port_file = Path(f"/tmp/bench_poll_port_{os.getpid()}")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    db, admin, dbname = pg_database()
    redis_url, redis_client = claim_redis()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
        env.update(
            COMMUNIQUE_DATABASE_URL=db,
            COMMUNIQUE_BROKER_URL=redis_url,
            COMMUNIQUE_ALLOW_PRIVATE_NETWORKS="127.0.0.1/32",
            COMMUNIQUE_HOST_SPACING_S="0",
            PYTHONPATH=str(ROOT),
        )
        settings = Settings(
            database_url=db, broker_url=redis_url, allow_private_networks="127.0.0.1/32", host_spacing_s=0
        )
        pipeline.init_db(settings)
        sources = [
            SourceDef(
                id=f"bench-{i:04d}",
                name=f"Ministry {i}",
                country="KAZ",
                language="en",
                kind="rss",
                url=f"{base}/feed/{i}.xml",
                host_spacing=0,
            )
            for i in range(n)
        ]
        pipeline.sync_sources(settings, sources)
        workers = start_workers(env, args.workers, args.threads)
        time.sleep(3)  # workers connect to Redis

        prime = pipeline_round(settings, n, 1)
        primed = server_stats(base, reset=True)
        print(f"primed {n} sources in {prime:.2f} s: {primed}", file=sys.stderr)

        rows = []
        for run in range(args.runs):
            wall = pipeline_round(settings, n, run + 2)
            ps = server_stats(base, reset=True)
            bwall = baseline_round(base, n, args.baseline_concurrency)
            bs = server_stats(base, reset=True)
            rows.append((wall, ps, bwall, bs))
            print(
                f"run {run + 1}: pipeline {wall:.2f} s {ps}  |  baseline {bwall:.2f} s {bs}",
                file=sys.stderr,
            )
        med = statistics.median
        p_wall, b_wall = med(r[0] for r in rows), med(r[2] for r in rows)
        p_req, b_req = med(r[1]["requests"] for r in rows), med(r[3]["requests"] for r in rows)
        p_bytes, b_bytes = med(r[1]["bytes"] for r in rows), med(r[3]["bytes"] for r in rows)
        p_304, b_304 = med(r[1]["304"] for r in rows), med(r[3]["304"] for r in rows)
        print(
            f"\n{n} unchanged sources, median of {args.runs} runs; pipeline = {args.workers} Celery worker "
            f"processes x {args.threads} threads (Postgres + Redis), baseline = one httpx.AsyncClient, "
            f"{args.baseline_concurrency} in flight\n"
        )
        print(f"{'':22}{'pipeline':>14}{'bare httpx':>14}{'ratio':>10}")
        print(f"{'requests':22}{p_req:>14.0f}{b_req:>14.0f}{p_req / b_req:>10.2f}")
        print(f"{'  of which 304':22}{p_304:>14.0f}{b_304:>14.0f}")
        print(f"{'response bytes':22}{p_bytes:>14.0f}{b_bytes:>14.0f}{p_bytes / b_bytes:>10.2f}")
        print(f"{'wall time (s)':22}{p_wall:>14.2f}{b_wall:>14.2f}{p_wall / b_wall:>10.1f}")
        print(f"{'polls per second':22}{n / p_wall:>14.0f}{n / b_wall:>14.0f}")
        return 0
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        server.terminate()
        server.wait(10)
        port_file.unlink(missing_ok=True)
        dispose_engines()
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        redis_client.flushdb()
        redis_client.close()


if __name__ == "__main__":
    sys.exit(main())
