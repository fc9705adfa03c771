"""The fetcher's politeness, safety and health behaviours, end to end through the embedded pipeline (the same
task functions the Celery workers run) against real HTTP servers on 127.0.0.1.

Each test sets ``allow_private_networks`` itself: ``127.0.0.1/32`` only, so 127.0.0.2 (another loopback
address) stays blocked and can play the internal target of a redirect.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from sqlalchemy import select

from services.core import pipeline
from services.core.db import session_factory
from services.core.settings import Settings
from services.fetcher.schedule import BROKEN_AFTER_EMPTY, BROKEN_AFTER_ERRORS
from services.fetcher.sources import SourceDef
from services.store.models import DocumentRow, FetchHostRow, OutboxRow, SourceRow
from services.store.uow import UnitOfWork
from tests.integration.fetcher_pipeline.server import Server, page, send, serve, status
from tests.integration.webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.integration

ARTICLE = b"<html><body><h1>Briefing</h1><div class='text'><p>Nothing of note today.</p></div></body></html>"


def rss(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Item {p}</title><link>{base}{p}</link><guid>{p}</guid>"
        f"<pubDate>Mon, 03 Mar 2025 1{i}:00:00 +0000</pubDate></item>"
        for i, p in enumerate(paths)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"<description>d</description>{items}</channel></rss>"
    ).encode()


def feed_source(sid: str, url: str, **kw: Any) -> SourceDef:
    return SourceDef(id=sid, name=sid, country="KAZ", language="en", kind="rss", url=url, **kw)


def make_settings(db: str, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": db,
        "allow_private_networks": "127.0.0.1/32",
        "host_spacing_s": 0.0,
        "fetch_deadline_s": 5.0,
        "fetch_read_timeout_s": 3.0,
    }
    base.update(kw)
    return Settings(**base)


_tick = iter(range(1, 1_000_000))


def run(settings: Settings, sources: list[SourceDef] | None = None) -> dict[str, Any]:
    """One embedded cycle with every enabled source due now, each at a due time of its own (so the (source,
    slot) key never collides between cycles of one test)."""
    if sources is not None:
        pipeline.sync_sources(settings, sources)
    due = datetime.now(UTC) - timedelta(hours=next(_tick))
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        for i, row in enumerate(uow.sources.all()):  # polled in id order
            row.next_check_at = due + timedelta(seconds=i)
        uow.commit()
    return pipeline.run_once(settings)


def source_row(db: str, sid: str) -> SourceRow:
    with UnitOfWork(session_factory(db)) as uow:
        row = uow.sources.get(sid)
        assert row is not None
        uow.session.expunge(row)
        return row


def documents(db: str) -> list[DocumentRow]:
    with UnitOfWork(session_factory(db)) as uow:
        rows = list(uow.session.scalars(select(DocumentRow).order_by(DocumentRow.id)))
        uow.session.expunge_all()
        return rows


def outbox(db: str, type_: str) -> list[OutboxRow]:
    with UnitOfWork(session_factory(db)) as uow:
        rows = list(uow.session.scalars(select(OutboxRow).where(OutboxRow.type == type_)))
        uow.session.expunge_all()
        return rows


@pytest.fixture
def site() -> Iterator[Server]:
    with serve({}) as server:
        yield server


# --- conditional GET ----------------------------------------------------------------------------------------


def test_conditional_requests_answered_304_add_nothing(site: Server, sqlite_url: str) -> None:
    site.routes["/feed.xml"] = page(rss(site.base, ["/a.html", "/b.html"]), "application/rss+xml")
    site.routes["/a.html"] = page(ARTICLE)
    site.routes["/b.html"] = page(ARTICLE.replace(b"Nothing", b"Little"))
    settings = make_settings(sqlite_url)
    src = feed_source("kz", site.url("/feed.xml"))

    run(settings, [src])
    assert len(documents(sqlite_url)) == 2
    first_hits = len(site.hits)

    run(settings)
    feed_hits = site.hits_for("/feed.xml")
    assert len(feed_hits) == 2
    assert feed_hits[1].headers.get("if-none-match")  # the validator, sent verbatim
    # Only the feed was requested again (robots.txt is cached), it answered 304, and nothing was added.
    assert len(site.hits) == first_hits + 1
    assert len(documents(sqlite_url)) == 2
    row = source_row(sqlite_url, "kz")
    assert row.state == "ok"
    assert row.polls == 2

    # The periodic unconditional fetch (servers with broken validators): no validators sent, still no new
    # document for the items already known.
    run(make_settings(sqlite_url, unconditional_after_s=0))
    assert "if-none-match" not in site.hits_for("/feed.xml")[-1].headers
    assert len(documents(sqlite_url)) == 2


def test_moved_item_with_a_known_guid_is_not_new(site: Server, sqlite_url: str) -> None:
    body = rss(site.base, ["/a.html"])
    site.routes["/feed.xml"] = page(body, "application/rss+xml")
    site.routes["/a.html"] = page(ARTICLE)
    settings = make_settings(sqlite_url)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])
    # The CMS moves the item: new URL, same GUID; and a copy of the same page under a third URL.
    base = site.base.encode()
    moved = body.replace(b"<link>" + base + b"/a.html", b"<link>" + base + b"/n/a")
    assert moved != body
    copy = (
        b"<item><title>copy</title><link>" + site.base.encode() + b"/copy.html</link><guid>copy</guid></item>"
    )
    site.routes["/feed.xml"] = page(moved.replace(b"</channel>", copy + b"</channel>"), "application/rss+xml")
    site.routes["/copy.html"] = page(ARTICLE)
    run(settings)
    docs = documents(sqlite_url)
    assert [d.canonical_url.rsplit("/", 1)[-1] for d in docs] == ["a.html", "copy.html"]
    assert docs[1].status == "failed"
    assert "duplicate" in (docs[1].fetch_error or "")
    assert not site.hits_for("/n/a")


# --- Retry-After --------------------------------------------------------------------------------------------


def test_retry_after_holds_the_whole_host_without_counting_a_failure(site: Server, sqlite_url: str) -> None:
    site.routes["/a/feed.xml"] = status(429, {"Retry-After": "120"})
    site.routes["/b/feed.xml"] = page(rss(site.base, []), "application/rss+xml")
    settings = make_settings(sqlite_url)
    before = datetime.now(UTC)
    run(settings, [feed_source("a", site.url("/a/feed.xml")), feed_source("b", site.url("/b/feed.xml"))])

    a = source_row(sqlite_url, "a")
    assert a.state == "ok"
    assert a.consecutive_errors == 0
    assert a.last_error
    assert "429" in a.last_error
    assert a.next_check_at is not None
    assert a.next_check_at >= before + timedelta(seconds=119)
    # The other source of the same host was not asked at all: it waits for the hold.
    assert site.hits_for("/b/feed.xml") == []
    b = source_row(sqlite_url, "b")
    assert b.consecutive_errors == 0
    assert b.next_check_at is not None
    assert b.next_check_at >= before + timedelta(seconds=119)
    with UnitOfWork(session_factory(sqlite_url)) as uow:
        host = uow.session.get(FetchHostRow, site.base.removeprefix("http://"))
        assert host is not None
        assert host.hold_until is not None
        assert "Retry-After" in (host.hold_reason or "")


def test_retry_after_is_capped(site: Server, sqlite_url: str) -> None:
    site.routes["/feed.xml"] = status(503, {"Retry-After": str(90 * 86400)})
    before = datetime.now(UTC)
    run(make_settings(sqlite_url), [feed_source("a", site.url("/feed.xml"))])
    a = source_row(sqlite_url, "a")
    assert a.next_check_at is not None
    assert a.next_check_at <= before + timedelta(days=1, minutes=1)


# --- backoff, broken, recovery ------------------------------------------------------------------------------


@pytest.fixture
def operator_rx() -> Iterator[Receiver]:
    with webhook_receiver() as rx:
        yield rx


def test_backoff_broken_notified_and_recovery(site: Server, sqlite_url: str, operator_rx: Receiver) -> None:
    rx = operator_rx
    site.routes["/feed.xml"] = status(500)
    settings = make_settings(sqlite_url, operator_webhook=rx.url, operator_webhook_secret=rx.secret)
    run(settings, [feed_source("kz", site.url("/feed.xml"), interval=600)])
    delays = []
    for n in range(1, BROKEN_AFTER_ERRORS + 1):
        if n > 1:
            run(settings)
        row = source_row(sqlite_url, "kz")
        assert row.consecutive_errors == n
        assert row.last_error
        assert "500" in row.last_error
        assert row.next_check_at is not None
        assert row.last_polled_at is not None
        delays.append((row.next_check_at - row.last_polled_at).total_seconds())
        assert row.state == ("broken" if n >= BROKEN_AFTER_ERRORS else "failing")
    # Exponential with equal jitter: each delay at least half of 600 * 2^(n-1), capped at a day.
    for n, delay in enumerate(delays, start=1):
        raw = min(86400, 600 * 2 ** (n - 1))
        assert raw / 2 <= delay <= raw
    assert delays[-1] >= 43200  # a broken source is still probed, about daily
    broken = outbox(sqlite_url, "source.broken")
    assert len(broken) == 1
    assert broken[0].payload["source_id"] == "kz"

    site.routes["/feed.xml"] = page(rss(site.base, []), "application/rss+xml")
    run(settings)
    row = source_row(sqlite_url, "kz")
    assert (row.state, row.consecutive_errors, row.last_error) == ("ok", 0, None)
    assert len(outbox(sqlite_url, "source.recovered")) == 1
    # One path to the operator: the poller's outbox rows, delivered by the relay to the operator webhook
    # (no second event of the relay's own about the same breakage).
    assert [(e["type"], e["data"]["source_id"]) for e in rx.processed] == [
        ("source.broken", "kz"),
        ("source.recovered", "kz"),
    ]
    assert outbox(sqlite_url, "operator.source_broken") == []


def test_410_disables_the_source(site: Server, sqlite_url: str) -> None:
    site.routes["/feed.xml"] = status(410)
    settings = make_settings(sqlite_url)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])
    assert source_row(sqlite_url, "kz").state == "disabled"
    run(settings)
    assert len(site.hits_for("/feed.xml")) == 1


# --- robots.txt ---------------------------------------------------------------------------------------------


def test_robots_txt_is_honoured_cached_and_disallowed_items_are_visible(
    site: Server, sqlite_url: str
) -> None:
    site.routes["/robots.txt"] = page(
        b"User-agent: *\nDisallow: /private/\n\nUser-agent: othercrawler\nDisallow: /\n", "text/plain"
    )
    feed = rss(site.base, ["/private/x.html", "/public/y.html"])
    site.routes["/feed.xml"] = page(feed, "application/rss+xml")
    site.routes["/public/y.html"] = page(ARTICLE)
    site.routes["/private/x.html"] = page(ARTICLE)
    settings = make_settings(sqlite_url)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])
    run(settings)
    assert site.hits_for("/private/x.html") == []
    assert len(site.hits_for("/public/y.html")) == 1
    assert len(site.hits_for("/robots.txt")) == 1  # cached (24 h) across cycles and tasks
    docs = {d.canonical_url.rsplit("/", 1)[-1]: d for d in documents(sqlite_url)}
    assert docs["x.html"].status == "failed"
    assert "RobotsDisallowed" in (docs["x.html"].fetch_error or "")
    assert docs["y.html"].status == "fetched"


def test_robots_txt_server_error_disallows_everything(site: Server, sqlite_url: str) -> None:
    site.routes["/robots.txt"] = status(503)
    site.routes["/feed.xml"] = page(rss(site.base, []), "application/rss+xml")
    run(make_settings(sqlite_url), [feed_source("kz", site.url("/feed.xml"))])
    assert site.hits_for("/feed.xml") == []
    row = source_row(sqlite_url, "kz")
    assert row.state == "failing"
    assert "RobotsDisallowed" in (row.last_error or "")


def test_robots_txt_not_found_allows_everything(site: Server, sqlite_url: str) -> None:
    site.routes["/feed.xml"] = page(rss(site.base, []), "application/rss+xml")
    run(make_settings(sqlite_url), [feed_source("kz", site.url("/feed.xml"))])
    assert len(site.hits_for("/robots.txt")) == 1
    assert source_row(sqlite_url, "kz").state == "ok"


# --- host spacing -------------------------------------------------------------------------------------------


def test_requests_to_one_host_are_spaced(site: Server, sqlite_url: str) -> None:
    paths = [f"/n{i}.html" for i in range(4)]
    site.routes["/feed.xml"] = page(rss(site.base, paths), "application/rss+xml")
    for i, p in enumerate(paths):
        site.routes[p] = page(ARTICLE.replace(b"today", f"day {i}".encode()))
    run(make_settings(sqlite_url, host_spacing_s=0.4), [feed_source("kz", site.url("/feed.xml"))])
    times = [h.at for h in site.hits]
    assert len(times) == 6  # robots.txt, feed, four items
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.38, gaps


def test_source_host_spacing_overrides_the_default(site: Server, sqlite_url: str) -> None:
    paths = ["/n0.html", "/n1.html"]
    site.routes["/feed.xml"] = page(rss(site.base, paths), "application/rss+xml")
    for i, p in enumerate(paths):
        site.routes[p] = page(ARTICLE.replace(b"today", f"day {i}".encode()))
    src = feed_source("kz", site.url("/feed.xml"), host_spacing=0.5)
    run(make_settings(sqlite_url, host_spacing_s=0.0), [src])
    times = [h.at for h in site.hits]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.48


# --- SSRF through a redirect --------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_refused_and_the_target_sees_nothing(
    site: Server, sqlite_url: str
) -> None:
    with serve({"/": page(b"internal")}, host="127.0.0.2") as internal:
        site.routes["/feed.xml"] = status(302, {"Location": internal.url("/")})
        site.routes["/a.html"] = status(301, {"Location": internal.url("/")})
        site.routes["/ok.xml"] = page(rss(site.base, ["/a.html"]), "application/rss+xml")
        run(
            make_settings(sqlite_url),
            [feed_source("evil", site.url("/feed.xml")), feed_source("ok", site.url("/ok.xml"))],
        )
        assert internal.hits == []
    evil = source_row(sqlite_url, "evil")
    assert evil.state == "failing"
    assert "BlockedAddress" in (evil.last_error or "")
    [doc] = documents(sqlite_url)
    assert doc.status == "failed"
    assert "BlockedAddress" in (doc.fetch_error or "")


# --- decompression bomb -------------------------------------------------------------------------------------

GIB = 1 << 30


def test_gzip_bomb_of_one_gib_is_aborted_with_bounded_memory(site: Server, sqlite_url: str) -> None:
    sent = {"decoded": 0}

    def bomb(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Encoding", "gzip")
        h.end_headers()  # no length: the body ends when the connection closes
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\0" * (1 << 20)
        for _ in range(GIB // len(block)):  # 1 GiB of zeros, about 1 MiB on the wire
            h.wfile.write(c.compress(block) + c.flush(zlib.Z_SYNC_FLUSH))
            sent["decoded"] += len(block)
        h.wfile.write(c.flush())

    site.routes["/feed.xml"] = bomb
    settings = make_settings(sqlite_url)
    src = feed_source("bomb", site.url("/feed.xml"))
    pipeline.sync_sources(settings, [src])
    run(settings)  # warm-up (imports, robots.txt); the bomb fails once already
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        started = time.monotonic()
        run(settings)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(f"gzip bomb: peak {peak / 2**20:.1f} MiB traced, {elapsed:.2f} s, {sent['decoded'] >> 20} MiB sent")
    row = source_row(sqlite_url, "bomb")
    assert row.consecutive_errors == 2
    assert "TooLarge" in (row.last_error or "")
    assert peak < 3 * settings.max_body_bytes, f"peak {peak / 2**20:.1f} MiB"
    assert elapsed < 30
    assert sent["decoded"] < GIB  # aborted early: the client never read the whole thing


# --- a stalling server --------------------------------------------------------------------------------------


def test_stalling_server_is_cut_by_the_overall_deadline(site: Server, sqlite_url: str) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(40):  # one byte every 0.25 s: never a read timeout, only the deadline stops it
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.25)

    site.routes["/feed.xml"] = drip
    settings = make_settings(sqlite_url, fetch_deadline_s=1.5, fetch_read_timeout_s=1.0)
    started = time.monotonic()
    run(settings, [feed_source("slow", site.url("/feed.xml"))])
    elapsed = time.monotonic() - started
    print(f"stalling server: cut after {elapsed:.2f} s (deadline {settings.fetch_deadline_s} s)")
    row = source_row(sqlite_url, "slow")
    assert "DeadlineExceeded" in (row.last_error or "")
    assert row.consecutive_errors == 1
    assert elapsed < 4.0


# --- a listing whose layout changed -------------------------------------------------------------------------

LISTING = b"""<html><body><ul class="news">
<li><a class="headline" href="/n/1.html">One</a> <span class="date">03.03.2025</span></li>
<li><a class="headline" href="/n/2.html">Two</a> <span class="date">02.03.2025</span></li>
</ul></body></html>"""
REDESIGNED = b"""<html><body><div class="cards">
<article><h3><a href="/n/1.html">One</a></h3></article>
</div></body></html>"""


def test_listing_with_a_changed_layout_marks_the_source_broken_after_n_polls(
    site: Server, sqlite_url: str
) -> None:
    site.routes["/news/"] = page(LISTING)
    site.routes["/n/1.html"] = page(ARTICLE)
    site.routes["/n/2.html"] = page(ARTICLE.replace(b"today", b"yesterday"))
    src = SourceDef.model_validate(
        {
            "id": "fi",
            "name": "fi",
            "country": "FIN",
            "language": "en",
            "kind": "html_list",
            "url": site.url("/news/"),
            "list": {"item": "ul.news li a.headline", "date": "span.date"},
        }
    )
    settings = make_settings(sqlite_url)
    run(settings, [src])
    assert source_row(sqlite_url, "fi").state == "ok"
    assert len(documents(sqlite_url)) == 2

    site.routes["/news/"] = page(REDESIGNED)
    for n in range(1, BROKEN_AFTER_EMPTY + 1):
        run(settings)
        row = source_row(sqlite_url, "fi")
        assert row.consecutive_empty == n
        assert "ListingEmpty" in (row.last_error or "")
        assert row.state == ("broken" if n >= BROKEN_AFTER_EMPTY else "failing")
        # Not on the first blip: the operator hears of it only once it is broken.
        assert len(outbox(sqlite_url, "source.broken")) == (1 if n >= BROKEN_AFTER_EMPTY else 0)
    [note] = outbox(sqlite_url, "source.broken")
    assert note.payload["source_id"] == "fi"
    assert "matched nothing" in note.payload["last_error"]
    run(settings)
    assert len(outbox(sqlite_url, "source.broken")) == 1  # one notification per breakage
    assert len(documents(sqlite_url)) == 2


def test_adaptive_interval_follows_the_publishing_rate_and_server_hints(
    site: Server, sqlite_url: str
) -> None:
    now = datetime.now(UTC)
    RFC822 = "%a, %d %b %Y %H:%M:%S +0000"  # noqa: N806
    # 28 items in the last 28 days: 7 a week, so a poll a day (clamped by max_interval 12 h here).
    items = "".join(
        f"<item><title>i{i}</title><link>{site.base}/i{i}.html</link><guid>i{i}</guid>"
        f"<pubDate>{(now - timedelta(days=i, hours=1)).strftime(RFC822)}</pubDate></item>"
        for i in range(28)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'

    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            h.send_response(304)
            h.send_header("Cache-Control", "max-age=60")
            h.end_headers()
            return
        send(h, 200, body.encode(), "application/rss+xml", {"ETag": '"v1"'})

    site.routes["/feed.xml"] = feed
    for i in range(28):
        site.routes[f"/i{i}.html"] = page(ARTICLE.replace(b"today", f"on day {i}".encode()))
    settings = make_settings(sqlite_url)
    src = feed_source("kz", site.url("/feed.xml"), interval=900, min_interval=300, max_interval=43200)
    run(settings, [src])
    row = source_row(sqlite_url, "kz")
    assert row.rate_per_week == pytest.approx(7.0)
    assert row.next_check_at is not None
    assert row.last_polled_at is not None
    assert (row.next_check_at - row.last_polled_at).total_seconds() == pytest.approx(43200)
    run(settings)  # a 304: the stored rate still applies
    row = source_row(sqlite_url, "kz")
    assert row.next_check_at is not None
    assert row.last_polled_at is not None
    assert (row.next_check_at - row.last_polled_at).total_seconds() == pytest.approx(43200)
