"""Signed deliveries to a real local receiver (http.server on 127.0.0.1) that checks them with verify.py.

Covers reliability.md #8 and #15 end to end over sockets: the same webhook-id on every re-send (a relay that
crashed after sending is harmless), 410 disables the endpoint, 429 Retry-After is honoured, 5xx retries, and
the receiver refuses wrong keys.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.alerts.channels import Rendered, send_apprise
from services.alerts.delivery import deliver_webhook, next_attempt_delay, next_step
from services.alerts.signing import generate_secret
from services.alerts.verify import ReplayedWebhook, Verifier, WebhookVerificationError

SECRET = generate_secret()


@dataclass
class Receiver:
    """What a consumer's endpoint saw: processed payloads, duplicates acknowledged, rejections."""

    verifier: Verifier
    processed: list[Any] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    raw: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""


def make_handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with rx.lock:
                rx.hits[self.path] = rx.hits.get(self.path, 0) + 1
                scripted = rx.script.get(self.path)
                if scripted:
                    status, headers = scripted.pop(0)
                    return self._reply(status, headers)
                if self.path == "/apprise":
                    rx.raw.append(json.loads(body))
                    return self._reply(200)
                try:
                    payload = rx.verifier.verify(self.headers.items(), body)
                except ReplayedWebhook as exc:
                    rx.duplicates.append(exc.msg_id)
                    return self._reply(200)  # already processed: acknowledge so the sender stops
                except WebhookVerificationError as exc:
                    rx.rejected.append(type(exc).__name__)
                    return self._reply(401)
                rx.processed.append(payload)
                return self._reply(204)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(Verifier(SECRET, replay_ttl=7 * 86400))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(rx))
    rx.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def now() -> datetime:
    return datetime.now(UTC)


PAYLOAD = {
    "type": "meeting.created",
    "data": {"outbox_id": "ob-1", "meeting": {"id": "m-1", "mode": "phone"}},
}


def test_delivery_verifies_at_the_receiver(receiver: Receiver, client: httpx.Client) -> None:
    r = deliver_webhook(receiver.base + "/in", SECRET, "ob-1", PAYLOAD, client, now())
    assert (r.ok, r.status) == (True, 204)
    assert receiver.processed == [PAYLOAD]


def test_resend_after_relay_crash_is_processed_once(receiver: Receiver, client: httpx.Client) -> None:
    # the relay sent, then died before marking the row sent; on restart it sends the row again
    first = deliver_webhook(receiver.base + "/in", SECRET, "ob-1", PAYLOAD, client, now())
    again = deliver_webhook(
        receiver.base + "/in", SECRET, "ob-1", PAYLOAD, client, now() + timedelta(seconds=1)
    )
    assert first.ok
    assert again.ok
    assert receiver.processed == [PAYLOAD]
    assert receiver.duplicates == ["ob-1"]


def test_wrong_key_is_refused_and_dead_lettered(receiver: Receiver, client: httpx.Client) -> None:
    outcomes = []
    for attempt in (1, 2, 3):
        r = deliver_webhook(receiver.base + "/in", generate_secret(), "ob-2", PAYLOAD, client, now())
        outcomes.append(next_step(r, attempt))
    assert receiver.rejected == ["InvalidSignature"] * 3
    assert outcomes == ["retry", "retry", "dead"]
    assert receiver.processed == []


def test_stale_timestamp_is_refused(receiver: Receiver, client: httpx.Client) -> None:
    r = deliver_webhook(receiver.base + "/in", SECRET, "ob-3", PAYLOAD, client, now() - timedelta(minutes=10))
    assert r.status == 401
    assert receiver.rejected == ["InvalidTimestamp"]


def test_rotation_receiver_with_old_key_accepts(receiver: Receiver, client: httpx.Client) -> None:
    r = deliver_webhook(receiver.base + "/in", [generate_secret(), SECRET], "ob-4", PAYLOAD, client, now())
    assert r.ok
    assert receiver.processed == [PAYLOAD]


def test_gone_disables_the_endpoint(receiver: Receiver, client: httpx.Client) -> None:
    receiver.script["/in"] = [(410, {})]
    r = deliver_webhook(receiver.base + "/in", SECRET, "ob-5", PAYLOAD, client, now())
    assert r.disable_endpoint
    assert next_step(r, 1) == "disable"


def test_429_retry_after_is_honoured_then_delivered(receiver: Receiver, client: httpx.Client) -> None:
    receiver.script["/in"] = [(429, {"Retry-After": "7"})]
    t = now()
    r = deliver_webhook(receiver.base + "/in", SECRET, "ob-6", PAYLOAD, client, t)
    assert (r.status, r.retry_after_s, next_step(r, 1)) == (429, 7.0, "retry")
    delay = next_attempt_delay(1, r.retry_after_s)
    assert delay >= 7
    r2 = deliver_webhook(receiver.base + "/in", SECRET, "ob-6", PAYLOAD, client, t + timedelta(seconds=delay))
    assert r2.ok
    assert receiver.processed == [PAYLOAD]


def test_server_errors_back_off_then_deliver(receiver: Receiver, client: httpx.Client) -> None:
    receiver.script["/in"] = [(500, {}), (502, {}), (503, {})]
    t, attempt, delays = now(), 0, []
    while True:
        attempt += 1
        r = deliver_webhook(receiver.base + "/in", SECRET, "ob-7", PAYLOAD, client, t)
        step = next_step(r, attempt)
        if step != "retry":
            break
        delays.append(next_attempt_delay(attempt, r.retry_after_s, jitter=0.5))
        # a receiver's clock moves on with ours: sign the retry at the (real) time it is sent
        t = now()
    assert step == "sent"
    assert attempt == 4
    assert delays == sorted(delays)
    assert receiver.hits["/in"] == 4
    assert receiver.processed == [PAYLOAD]


def test_connection_refused_is_retryable(client: httpx.Client) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = deliver_webhook(f"http://127.0.0.1:{port}/in", SECRET, "ob-8", PAYLOAD, client, now(), timeout=2)
    assert r.status is None
    assert r.retryable
    assert next_step(r, 1) == "retry"


def test_apprise_json_url_reaches_a_local_endpoint(receiver: Receiver) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    r = send_apprise(f"json://127.0.0.1:{port}/apprise", Rendered("Kazakhstan – China: phone call", "Body"))
    assert r.ok, r.error
    assert receiver.raw[0]["title"] == "Kazakhstan – China: phone call"
    assert receiver.raw[0]["message"] == "Body"
