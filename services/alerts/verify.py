"""Verify Communiqué webhooks on the receiving side (Standard Webhooks scheme). Standard library only.

This module has no dependency beyond the Python standard library and none on the rest of Communiqué: a
consumer may copy this one file into their receiver. See docs/webhooks.md for a runnable example.

    verifier = Verifier(["whsec_..."])              # during a key rotation: both the old and the new secret
    payload = verifier.verify(request_headers, raw_body)   # raises WebhookVerificationError

Exceptions::

    WebhookVerificationError      answer 400/401 and do not process
      ├── MissingHeaders          a webhook-* header is absent or empty
      ├── InvalidTimestamp        not an integer, or outside the tolerance (stale or from the future)
      ├── InvalidSignature        no signature matches any secret (tampered body, wrong key)
      ├── InvalidPayload          signed, but not a JSON document
      └── ReplayedWebhook         a valid delivery whose webhook-id was already accepted: a duplicate. The
                                  sender re-sends with the same id when it did not see your 2xx, so answer
                                  2xx to stop its retries, but do not process the payload again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

__all__ = [
    "InvalidPayload",
    "InvalidSignature",
    "InvalidTimestamp",
    "MemorySeenIds",
    "MissingHeaders",
    "ReplayedWebhook",
    "SeenIds",
    "Verifier",
    "WebhookVerificationError",
]

_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The request is not an authentic, fresh, first delivery of a Communiqué webhook."""


class MissingHeaders(WebhookVerificationError):
    pass


class InvalidTimestamp(WebhookVerificationError):
    pass


class InvalidSignature(WebhookVerificationError):
    pass


class InvalidPayload(WebhookVerificationError):
    pass


class ReplayedWebhook(WebhookVerificationError):
    """Authentic, but its webhook-id was accepted before (retry or replay): acknowledge, do not process."""

    def __init__(self, msg_id: str) -> None:
        super().__init__(f"webhook-id {msg_id!r} was already accepted")
        self.msg_id = msg_id


class SeenIds(Protocol):
    """Where accepted webhook-ids are remembered (a dict in one process; Redis ``SET NX EX`` for several)."""

    def add(self, msg_id: str, ttl: float, now: float) -> bool:
        """Remember ``msg_id`` for ``ttl`` seconds; False if it was already there (and not expired)."""
        ...

    def discard(self, msg_id: str) -> None:
        """Forget ``msg_id`` (processing failed: the sender's retry must be accepted)."""
        ...


class MemorySeenIds:
    """Thread-safe in-process ``SeenIds`` with expiry; expired entries are swept as new ones arrive."""

    def __init__(self) -> None:
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def add(self, msg_id: str, ttl: float, now: float) -> bool:
        with self._lock:
            if now >= self._next_sweep:
                self._expires = {k: t for k, t in self._expires.items() if t > now}
                self._next_sweep = now + min(ttl, 60.0)
            exp = self._expires.get(msg_id)
            if exp is not None and exp > now:
                return False
            self._expires[msg_id] = now + ttl
            return True

    def discard(self, msg_id: str) -> None:
        with self._lock:
            self._expires.pop(msg_id, None)

    def __len__(self) -> int:
        return len(self._expires)


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def _header(headers: Mapping[str, str] | Iterable[tuple[str, str]], name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if k.lower() == name:
            return v
    return None


class Verifier:
    """Checks the Standard Webhooks headers of a delivery against one or more secrets.

    ``tolerance``: seconds a timestamp may lie in the past or the future (clock skew). ``replay_ttl``: how
    long accepted ids are remembered; at least twice the tolerance (otherwise a captured request could be
    replayed once its id is forgotten but its timestamp still passes). Keep it longer, e.g. days, to also
    drop the sender's retries of deliveries you have already processed.
    """

    def __init__(
        self,
        secrets: str | Iterable[str],
        *,
        tolerance: float = 300.0,
        seen_ids: SeenIds | None = None,
        replay_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys = [secrets] if isinstance(secrets, str) else list(secrets)
        if not keys:
            raise ValueError("at least one secret is needed")
        self._keys = [_key(s) for s in keys]
        self.tolerance = float(tolerance)
        self.replay_ttl = float(replay_ttl) if replay_ttl is not None else 2 * self.tolerance
        if self.replay_ttl < 2 * self.tolerance:
            raise ValueError("replay_ttl must be at least twice the tolerance")
        self.seen_ids: SeenIds = seen_ids if seen_ids is not None else MemorySeenIds()
        self._clock = clock

    def check_signature(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes
    ) -> tuple[str, int]:
        """Authenticity and freshness only (no replay check); returns ``(webhook-id, timestamp)``."""
        headers = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        msg_id = _header(headers, "webhook-id")
        ts_raw = _header(headers, "webhook-timestamp")
        sig_header = _header(headers, "webhook-signature")
        missing = [
            n
            for n, v in (
                ("webhook-id", msg_id),
                ("webhook-timestamp", ts_raw),
                ("webhook-signature", sig_header),
            )
            if not v
        ]
        if missing or msg_id is None or ts_raw is None or sig_header is None:
            raise MissingHeaders("missing header(s): " + ", ".join(missing))
        ts_raw = ts_raw.strip()
        if not ts_raw.isascii() or not ts_raw.isdigit():
            raise InvalidTimestamp("webhook-timestamp is not unix seconds")
        ts = int(ts_raw)
        now = self._clock()
        if ts < now - self.tolerance:
            raise InvalidTimestamp("webhook-timestamp is too old")
        if ts > now + self.tolerance:
            raise InvalidTimestamp("webhook-timestamp is in the future")
        signed = f"{msg_id}.{ts}.".encode() + body
        expected = [hmac.new(k, signed, hashlib.sha256).digest() for k in self._keys]
        for entry in sig_header.split():
            version, _, value = entry.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            if any(hmac.compare_digest(given, e) for e in expected):
                return msg_id, ts
        raise InvalidSignature("no matching signature")

    def verify(self, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes) -> Any:
        """The JSON payload of an authentic, fresh, first delivery; raises ``WebhookVerificationError``.

        The id is remembered only once the signature checks out, so forged requests cannot block real ones.
        If processing the payload then fails, call ``forget(msg_id)`` before answering with an error.
        """
        msg_id, _ = self.check_signature(headers, body)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayload("body is not JSON") from exc
        if not self.seen_ids.add(msg_id, self.replay_ttl, self._clock()):
            raise ReplayedWebhook(msg_id)
        return payload

    def forget(self, msg_id: str) -> None:
        """Undo ``verify``'s replay mark when processing the payload failed, so the sender's retry gets in."""
        self.seen_ids.discard(msg_id)
