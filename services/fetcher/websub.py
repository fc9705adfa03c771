"""WebSub (W3C Recommendation, 2018): push from feeds that advertise a hub, with polling kept as a safety net.

* A poll that sees ``<link rel="hub">`` records the hub and the topic (the feed's own URL) on the source
  (``stages.poll_source``); when ``settings.public_url`` is set and the lease is missing or ends within
  ``RENEW_BEFORE_S``, ``fetcher.websub_subscribe`` sends the subscription (``subscribe``): a form POST to the
  hub with ``hub.callback = {public_url}/websub/{source_id}``, ``hub.secret`` (40 random hex characters, kept
  on the source) and ``hub.lease_seconds``.
* The hub verifies the intent with a GET on the callback (``verify_intent``): answered with ``hub.challenge``
  only for a topic and mode we asked for; the granted lease is stored, and while it runs the source is polled
  only every ``settings.websub_poll_interval_s`` (a missed push is still caught).
* Content distribution is a POST of the feed to the callback (``receive``): the body is accepted only with a
  valid ``X-Hub-Signature`` (``sha1``/``sha256``/``sha384``/``sha512`` HMAC of the body with our secret,
  compared in constant time); the spec asks for a 2xx answer either way, and an invalid message is ignored.
  A valid one is parsed like a poll (the same safe feed parser); its items become documents (``add_items``).

``router`` is the FastAPI router (``GET``/``POST /websub/{source_id}``); ``router_for(settings)`` is the one
``communique serve`` mounts (``services.api.app``): its units of work send the pushed items' follow-up tasks
like a poll's, to the Celery workers (distributed) or onto the in-process queue, drained in the API process
right after the answer (embedded). The functions above are plain and tested without it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.background import BackgroundTask

from services.core.domain import FetchedDoc
from services.core.settings import Settings
from services.store.uow import UnitOfWork

__all__ = [
    "RENEW_BEFORE_S",
    "Posting",
    "Reply",
    "callback_url",
    "check_signature",
    "needs_subscription",
    "receive",
    "router",
    "router_for",
    "subscribe",
    "verify_intent",
]

log = logging.getLogger(__name__)

RENEW_BEFORE_S = 24 * 3600
_ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


class Posting(Protocol):
    def post_form(self, url: str, data: dict[str, str]) -> FetchedDoc: ...


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str = ""


def callback_url(public_url: str, source_id: str) -> str:
    return f"{public_url.rstrip('/')}/websub/{source_id}"


def needs_subscription(hub: str | None, lease_until: datetime | None, now: datetime) -> bool:
    """Subscribe (or renew) when the source has a hub and no lease, or one that ends within a day."""
    return bool(hub) and (lease_until is None or lease_until - now < timedelta(seconds=RENEW_BEFORE_S))


def check_signature(secret: str | None, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature: method=hexdigest`` is the HMAC of ``body`` with ``secret`` (constant-time check).
    No secret or no header: False (we always subscribe with a secret)."""
    if not secret or not header or "=" not in header:
        return False
    method, _, digest = header.strip().partition("=")
    algorithm = _ALGORITHMS.get(method.lower())
    if algorithm is None:
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def subscribe(
    uow: UnitOfWork,
    source_id: str,
    client: Posting,
    *,
    public_url: str,
    lease_s: int,
    now: datetime,
    mode: str = "subscribe",
) -> bool:
    """Ask the source's hub for a (re)subscription; the lease is set when the hub verifies the intent.
    False when the source has no hub. Hub errors raise ``FetchError`` (the task retries)."""
    row = uow.sources.get(source_id)
    if row is None or not row.websub_hub or not row.websub_topic:
        return False
    if not row.websub_secret:
        row.websub_secret = secrets.token_hex(20)
        uow.session.flush()
    client.post_form(
        row.websub_hub,
        {
            "hub.mode": mode,
            "hub.topic": row.websub_topic,
            "hub.callback": callback_url(public_url, source_id),
            "hub.secret": row.websub_secret,
            "hub.lease_seconds": str(lease_s),
        },
    )
    return True


def verify_intent(uow: UnitOfWork, source_id: str, params: dict[str, str], now: datetime) -> Reply:
    """The hub's GET on the callback: echo ``hub.challenge`` for a topic and mode we asked for (and store
    the lease), 404 otherwise; a ``denied`` subscription is logged and cleared."""
    row = uow.sources.get(source_id)
    mode = params.get("hub.mode", "")
    if row is None or not row.websub_topic or params.get("hub.topic") != row.websub_topic:
        return Reply(404, "unknown topic")
    if mode == "denied":
        log.warning("WebSub hub denied %s: %s", source_id, params.get("hub.reason", ""))
        row.websub_lease_until = None
        uow.session.flush()
        return Reply(200, "")
    challenge = params.get("hub.challenge")
    if mode not in ("subscribe", "unsubscribe") or not challenge:
        return Reply(404, "bad request")
    if mode == "subscribe":
        try:
            lease = int(params.get("hub.lease_seconds", "0"))
        except ValueError:
            lease = 0
        row.websub_lease_until = now + timedelta(seconds=max(lease, 0)) if lease > 0 else None
    else:
        row.websub_lease_until = None
    uow.session.flush()
    return Reply(200, challenge)


def receive(
    uow: UnitOfWork, source_id: str, body: bytes, signature: str | None, now: datetime
) -> Reply:
    """A pushed feed: with a valid signature, its items become documents (as in a poll); without, ignored.
    Always 202 for a known source (the spec's 2xx even for a bad signature), 404 for an unknown one."""
    from services.core.stages import add_items
    from services.fetcher.feeds import FeedError, read_feed

    row = uow.sources.get(source_id)
    if row is None or not row.websub_topic:
        return Reply(404, "unknown subscription")
    if not check_signature(row.websub_secret, body, signature):
        log.warning("WebSub push for %s with a missing or wrong signature: ignored", source_id)
        return Reply(202, "")
    try:
        feed = read_feed(body, row.websub_topic)
    except FeedError as exc:
        log.warning("WebSub push for %s is not a feed we can read: %s", source_id, exc)
        return Reply(202, "")
    add_items(uow, source_id, feed.items, now)
    return Reply(202, "")


def router(
    uow_factory: Callable[[], UnitOfWork],
    max_body_bytes: int = 15 * 1024 * 1024,
    *,
    after_push: Callable[[], None] | None = None,
) -> APIRouter:
    """FastAPI router with ``GET``/``POST /websub/{source_id}`` (mount it in the API app); ``after_push`` runs
    after a push has been answered (the embedded queue's drain)."""
    api = APIRouter()

    @api.get("/websub/{source_id}", include_in_schema=False)
    def _verify(source_id: str, request: Request) -> PlainTextResponse:
        with uow_factory() as uow:
            reply = verify_intent(uow, source_id, dict(request.query_params), datetime.now(UTC))
            uow.commit()
        return PlainTextResponse(reply.body, status_code=reply.status)

    @api.post("/websub/{source_id}", include_in_schema=False)
    async def _receive(source_id: str, request: Request) -> PlainTextResponse:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return PlainTextResponse("too large", status_code=413)
            chunks.append(chunk)
        body = b"".join(chunks)
        with uow_factory() as uow:
            reply = receive(uow, source_id, body, request.headers.get("x-hub-signature"), datetime.now(UTC))
            uow.commit()
        # After the answer: a hub waits for no fetch (it may time out and re-send otherwise).
        background = BackgroundTask(after_push) if after_push is not None else None
        return PlainTextResponse(reply.body, status_code=reply.status, background=background)

    return api


def router_for(settings: Settings) -> APIRouter:
    """The router as ``communique serve`` mounts it: pushed items go to fetch like a poll's (module
    docstring). Embedded, one drain runs at a time; a push arriving meanwhile is picked up by the running
    one."""
    from services.core.db import session_factory

    if settings.distributed:
        from services.core.celery_app import app_for

        celery = app_for(settings)

        def send(name: str, args: tuple[Any, ...]) -> None:
            celery.send_task(name, args=list(args))

        return router(lambda: UnitOfWork(session_factory(settings.database_url), send=send))

    from services.core.task_base import LOCAL_QUEUE

    lock = threading.Lock()

    def drain() -> None:
        from services.core import celery_app
        from services.core.task_base import close_clients, using_settings

        with lock, using_settings(settings):
            celery_app.load_tasks()
            try:
                LOCAL_QUEUE.drain(lambda name: celery_app.app.tasks[name])
            finally:
                close_clients()

    return router(
        lambda: UnitOfWork(session_factory(settings.database_url), send=LOCAL_QUEUE.send), after_push=drain
    )
