"""A consumer's webhook endpoint for the relay tests: a local http.server that checks every delivery with
``services.alerts.verify`` (the helper shipped to receivers), deduplicates on webhook-id, and can answer
scripted statuses first (503, 429 with Retry-After, 410)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.alerts.signing import generate_secret
from services.alerts.verify import ReplayedWebhook, Verifier, WebhookVerificationError


@dataclass
class Receiver:
    secret: str
    verifier: Verifier
    base: str = ""
    processed: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # webhook-id of every authentic request, repeats included
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.time() of each processed delivery
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.base + "/hooks/communique"


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with rx.lock:
                if rx.script:
                    status, headers = rx.script.pop(0)
                    self._reply(status, headers)
                    return
                try:
                    event = rx.verifier.verify(self.headers.items(), body)
                except ReplayedWebhook:
                    rx.ids.append(self.headers["webhook-id"])
                    rx.duplicates.append(self.headers["webhook-id"])
                    self._reply(200)
                    return
                except WebhookVerificationError as exc:
                    rx.rejected.append(type(exc).__name__)
                    self._reply(401)
                    return
                rx.ids.append(self.headers["webhook-id"])
                rx.processed.append(event)
                rx.arrivals.append(time.time())
                self._reply(204)

    return Handler


@contextmanager
def webhook_receiver(secret: str | None = None) -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 (a fresh secret unless given)."""
    secret = secret or generate_secret()
    rx = Receiver(secret=secret, verifier=Verifier([secret], tolerance=300, replay_ttl=3600))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    rx.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        httpd.shutdown()
        httpd.server_close()


def rules_yaml(rx: Receiver, name: str = "kaz-chn-ministers", **match: Any) -> str:
    """A rules file with one rule sending to ``rx``."""
    import json

    conditions = match or {"level_at_least": "foreign_minister", "states_all": ["KAZ", "CHN"]}
    return (
        "rules:\n"
        f"  - name: {name}\n"
        f"    match: {json.dumps(conditions)}\n"
        "    channels:\n"
        f"      - webhook: {rx.url}\n"
        f"        secret: {rx.secret}\n"
    )
