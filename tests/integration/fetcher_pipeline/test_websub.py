"""WebSub: a feed that advertises a hub is subscribed to (through the pipeline), the intent is verified, a
signed push adds its items, an unsigned or tampered one adds nothing, and polling slows to a safety net."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.core.db import session_factory
from services.fetcher.websub import check_signature, router
from services.store.models import DocumentRow
from services.store.uow import UnitOfWork
from tests.integration.fetcher_pipeline.server import Server, page, serve, status
from tests.integration.fetcher_pipeline.test_fetcher_pipeline import (
    feed_source,
    make_settings,
    run,
    source_row,
)

pytestmark = pytest.mark.integration

PUBLIC = "https://communique.example.org"


def feed(base: str, paths: list[str]) -> bytes:
    items = "".join(f"<item><title>{p}</title><link>{base}{p}</link><guid>{p}</guid></item>" for p in paths)
    return (
        f'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f'<title>t</title><atom:link rel="hub" href="{base}/hub"/>'
        f'<atom:link rel="self" href="{base}/feed.xml"/>{items}</channel></rss>'
    ).encode()


@pytest.fixture
def site() -> Iterator[Server]:
    with serve({}) as server:
        server.routes["/feed.xml"] = page(feed(server.base, ["/a.html"]), "application/rss+xml")
        server.routes["/a.html"] = page(b"<html><body><h1>A</h1><p>Nothing.</p></body></html>")
        server.routes["/b.html"] = page(b"<html><body><h1>B</h1><p>Nothing either.</p></body></html>")
        server.routes["POST /hub"] = status(202)
        yield server


def _docs(db: str) -> list[str]:
    with UnitOfWork(session_factory(db)) as uow:
        return sorted(d.canonical_url.rsplit("/", 1)[-1] for d in uow.session.scalars(select(DocumentRow)))


def test_subscribe_verify_and_signed_push(site: Server, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, public_url=PUBLIC, websub_poll_interval_s=21600)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])

    [post] = [h for h in site.hits if h.method == "POST"]
    form = {k: v[0] for k, v in parse_qs(post.body.decode()).items()}
    assert form["hub.mode"] == "subscribe"
    assert form["hub.callback"] == f"{PUBLIC}/websub/kz"
    assert form["hub.topic"] == site.url("/feed.xml")
    secret = form["hub.secret"]
    assert len(secret) == 40

    app = FastAPI()
    app.include_router(router(lambda: UnitOfWork(session_factory(sqlite_url))))
    client = TestClient(app)
    params: dict[str, Any] = {
        "hub.mode": "subscribe",
        "hub.topic": site.url("/feed.xml"),
        "hub.challenge": "c-123",
        "hub.lease_seconds": "864000",
    }
    wrong = client.get("/websub/kz", params={**params, "hub.topic": "https://elsewhere.example/feed"})
    assert wrong.status_code == 404
    ok = client.get("/websub/kz", params=params)
    assert ok.status_code == 200
    assert ok.text == "c-123"
    lease = source_row(sqlite_url, "kz").websub_lease_until
    assert lease is not None
    assert lease > datetime.now(UTC) + timedelta(days=9)

    pushed = feed(site.base, ["/a.html", "/b.html"])
    tampered = pushed.replace(b"/b.html", b"/c.html")
    signed = {"X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), pushed, hashlib.sha256).hexdigest()}
    assert client.post("/websub/kz", content=tampered, headers=signed).status_code == 202
    assert client.post("/websub/kz", content=pushed).status_code == 202  # unsigned
    assert _docs(sqlite_url) == ["a.html"]
    assert client.post("/websub/kz", content=pushed, headers=signed).status_code == 202
    assert _docs(sqlite_url) == ["a.html", "b.html"]
    assert client.post("/websub/nope", content=pushed, headers=signed).status_code == 404

    # With a live lease the source is only polled as a safety net; no renewal before the lease nears its end.
    run(settings)
    row = source_row(sqlite_url, "kz")
    assert row.next_check_at is not None
    assert row.last_polled_at is not None
    assert (row.next_check_at - row.last_polled_at).total_seconds() >= 21600
    assert len([h for h in site.hits if h.method == "POST"]) == 1


def test_signature_check() -> None:
    body = b"<rss/>"
    good = "sha1=" + hmac.new(b"s", body, hashlib.sha1).hexdigest()
    assert check_signature("s", body, good)
    assert not check_signature("t", body, good)
    assert not check_signature("s", body + b" ", good)
    assert not check_signature("s", body, "md5=" + hashlib.md5(body).hexdigest())  # noqa: S324
    assert not check_signature(None, body, good)
    assert not check_signature("s", body, None)


def test_api_mounts_the_callback_and_sends_pushed_items_to_the_workers(
    site: Server, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distributed: the API's callback hands the pushed items' fetches to Celery (the broker is faked here;
    the embedded path runs end to end in test_websub_serve.py)."""
    from services.api.app import create_app
    from services.core import celery_app

    settings = make_settings(sqlite_url, public_url=PUBLIC)
    run(settings, [feed_source("kz", site.url("/feed.xml"))])
    [post] = [h for h in site.hits if h.method == "POST"]
    secret = parse_qs(post.body.decode())["hub.secret"][0]

    sent: list[tuple[str, list[Any]]] = []

    class Broker:
        def send_task(self, name: str, args: list[Any]) -> None:
            sent.append((name, args))

    monkeypatch.setattr(celery_app, "app_for", lambda _settings: Broker())
    distributed = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    client = TestClient(create_app(distributed))
    pushed = feed(site.base, ["/a.html", "/b.html"])
    signed = {"X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), pushed, hashlib.sha256).hexdigest()}
    assert client.post("/websub/kz", content=pushed, headers=signed).status_code == 202
    with UnitOfWork(session_factory(sqlite_url)) as uow:
        query = select(DocumentRow.id).where(DocumentRow.canonical_url.like("%/b.html"))
        b_id = uow.session.scalars(query).one()
    assert ("fetcher.fetch_document", [b_id]) in sent
    assert site.hits_for("/b.html") == []  # the workers fetch it, not the API
