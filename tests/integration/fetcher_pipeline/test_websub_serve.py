"""WebSub end to end with the callback served by a real ``communique serve`` process (embedded mode) and a
local hub on 127.0.0.1: the poll that sees the hub subscribes, the hub verifies the intent against the
served callback, a signed push is accepted and its items are fetched as documents by the API process, a
push with a bad signature adds nothing, and the feed is still polled, rarely, as a safety net."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from services.core.db import dispose_engines
from tests.integration.fetcher_pipeline.server import Server, page, send, serve
from tests.integration.fetcher_pipeline.test_fetcher_pipeline import (
    documents,
    feed_source,
    make_settings,
    run,
    source_row,
)
from tests.integration.harness import communique_cmd, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
LEASE = 864000


def feed(base: str, paths: list[str]) -> bytes:
    items = "".join(f"<item><title>{p}</title><link>{base}{p}</link><guid>{p}</guid></item>" for p in paths)
    return (
        f'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f'<title>t</title><atom:link rel="hub" href="{base}/hub"/>'
        f'<atom:link rel="self" href="{base}/feed.xml"/>{items}</channel></rss>'
    ).encode()


@dataclass
class Hub:
    """A minimal hub (W3C WebSub 5.1, 5.3, 7): takes a subscription, verifies the intent with a GET on the
    callback (the challenge must come back verbatim), then can publish signed content to it."""

    subscriptions: dict[str, dict[str, str]] = field(default_factory=dict)  # callback -> form
    verified: dict[str, bool] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def subscribe_route(self, server: Server) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            # The test server has already read the body into its hit list.
            body = [x for x in server.hits if x.method == "POST" and x.path == "/hub"][-1].body
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            send(h, 202)
            # Verification of intent is asynchronous: after the 202, as the spec has it.
            threading.Thread(target=self._verify, args=(form,), daemon=True).start()

        return handle

    def _verify(self, form: dict[str, str]) -> None:
        challenge = secrets.token_urlsafe(16)
        params = {
            "hub.mode": form["hub.mode"],
            "hub.topic": form["hub.topic"],
            "hub.challenge": challenge,
            "hub.lease_seconds": str(LEASE),
        }
        try:
            answer = httpx.get(form["hub.callback"], params=params, timeout=10)
            ok = answer.status_code == 200 and answer.text == challenge
        except httpx.HTTPError:
            ok = False
        self.verified[form["hub.callback"]] = ok
        if ok:
            self.subscriptions[form["hub.callback"]] = form
        self.done.set()

    def publish(self, callback: str, body: bytes, secret: str | None = None) -> httpx.Response:
        key = secret or self.subscriptions[callback]["hub.secret"]
        signature = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        return httpx.post(
            callback,
            content=body,
            headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": signature},
            timeout=10,
        )


@pytest.fixture
def hub_site() -> Iterator[tuple[Server, Hub]]:
    hub = Hub()
    with serve({}) as server:
        server.routes["/feed.xml"] = page(feed(server.base, ["/a.html"]), "application/rss+xml")
        server.routes["/a.html"] = page(b"<html><body><h1>A</h1><p>Nothing.</p></body></html>")
        server.routes["/b.html"] = page(b"<html><body><h1>B</h1><p>Nothing either.</p></body></html>")
        server.routes["POST /hub"] = hub.subscribe_route(server)
        yield server, hub


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """``communique serve`` on a free port, embedded, sharing the test's SQLite database."""
    dispose_engines()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    env.update(
        COMMUNIQUE_DATABASE_URL=sqlite_url,
        COMMUNIQUE_ALLOW_PRIVATE_NETWORKS="127.0.0.1/32",
        COMMUNIQUE_HOST_SPACING_S="0",
        COMMUNIQUE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(ROOT),
    )
    cmd = communique_cmd()
    proc = subprocess.Popen(
        [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        yield base
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _wait(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _statuses(db: str) -> dict[str, str]:
    return {d.canonical_url.rsplit("/", 1)[-1]: d.status for d in documents(db)}


def test_websub_through_communique_serve(hub_site: tuple[Server, Hub], api: str, sqlite_url: str) -> None:
    site, hub = hub_site
    settings = make_settings(sqlite_url, public_url=api, websub_poll_interval_s=21600)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])

    # The poll saw the hub and subscribed; the hub verified the intent against the served callback.
    callback = f"{api}/websub/kz"
    [post] = [h for h in site.hits if h.method == "POST"]
    form = {k: v[0] for k, v in parse_qs(post.body.decode()).items()}
    assert (form["hub.mode"], form["hub.callback"], form["hub.topic"]) == (
        "subscribe",
        callback,
        site.url("/feed.xml"),
    )
    assert hub.done.wait(15)
    assert hub.verified == {callback: True}
    row = source_row(sqlite_url, "kz")
    assert row.websub_lease_until is not None
    # A verification for a topic we never asked for is refused (no challenge echoed).
    other = httpx.get(
        callback,
        params={"hub.mode": "subscribe", "hub.topic": "https://elsewhere.example/feed", "hub.challenge": "x"},
        timeout=10,
    )
    assert other.status_code == 404
    assert "x" not in other.text
    assert _statuses(sqlite_url) == {"a.html": "fetched"}

    # A push signed with the wrong secret is acknowledged (as the spec asks) and ignored.
    pushed = feed(site.base, ["/a.html", "/b.html"])
    assert hub.publish(callback, pushed, secret="not-the-secret").status_code == 202
    time.sleep(0.3)
    assert _statuses(sqlite_url) == {"a.html": "fetched"}
    assert site.hits_for("/b.html") == []

    # A correctly signed push: its new item becomes a document, fetched by the API process.
    assert hub.publish(callback, pushed).status_code == 202
    assert _wait(lambda: _statuses(sqlite_url).get("b.html") == "fetched"), _statuses(sqlite_url)
    assert len(site.hits_for("/b.html")) == 1

    # The feed is still polled, rarely: the safety net of a live lease; no second subscription.
    run(settings)
    row = source_row(sqlite_url, "kz")
    assert row.next_check_at is not None
    assert row.last_polled_at is not None
    assert (row.next_check_at - row.last_polled_at).total_seconds() >= 21600
    assert len([h for h in site.hits if h.method == "POST"]) == 1
