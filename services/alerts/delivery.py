"""Webhook delivery: one signed POST per attempt, and the pure decisions around it (what next, and when).

``deliver_webhook`` makes one attempt and describes its outcome (``DeliveryResult``); it never raises for
network or HTTP failures. ``next_step`` says what the relay does with that outcome (sent / retry / dead letter
/ disable the endpoint) and ``next_attempt_delay`` when the next attempt is due.

Retries span days, far longer than the broker's visibility timeout: they are not Celery countdowns but an
``next_attempt_at`` on the outbox row, picked up by the periodic relay once due.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from services.core.settings import Settings
from services.fetcher.http import BlockedAddress, guarded_transport

from .signing import webhook_headers

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_CLIENT_ERROR_ATTEMPTS",
    "MAX_DELAY_S",
    "RETRY_AFTER_CAP_S",
    "SCHEDULE_S",
    "DeliveryResult",
    "Outcome",
    "build_payload",
    "deliver_webhook",
    "encode_payload",
    "next_attempt_at",
    "next_attempt_delay",
    "next_step",
    "parse_retry_after",
    "webhook_client",
]

# Delay before attempt n+1 after n failed attempts: 10 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h, 24 h.
SCHEDULE_S: tuple[int, ...] = (10, 60, 300, 1800, 7200, 18000, 36000, 86400, 86400)
MAX_DELAY_S = 86400
# A Retry-After longer than this is treated as this: an endpoint cannot park its alerts for a month.
RETRY_AFTER_CAP_S = 86400
# Attempts in all (about three days) before a retryable failure becomes a dead letter.
MAX_ATTEMPTS = len(SCHEDULE_S) + 1
# A 4xx other than 408/410/429 (or a redirect) is a misconfigured endpoint: a few tries, in case it was a
# deploy in progress, then a dead letter.
MAX_CLIENT_ERROR_ATTEMPTS = 3
# Jitter shortens a delay by up to this fraction, so retries of many rows spread out but never exceed the cap.
JITTER = 0.2

_RETRYABLE_STATUS = frozenset({408, 425, 429})
_ERROR_BODY_CHARS = 200

Outcome = Literal["sent", "retry", "dead", "disable"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt came to. ``status`` is None when no HTTP response arrived (timeout, refused, ...)."""

    status: int | None
    ok: bool
    retry_after_s: float | None = None
    disable_endpoint: bool = False
    error: str | None = None
    retryable: bool = False


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def build_payload(
    record: dict[str, Any],
    *,
    rules: Sequence[str],
    kind: Literal["new", "update"],
    outbox_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The webhook body, in the Standard Webhooks envelope ``{type, timestamp, data}``."""
    return {
        "type": "meeting.created" if kind == "new" else "meeting.updated",
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"outbox_id": outbox_id, "rules": list(rules), "meeting": record},
    }


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _timestamp(now: datetime | float) -> int:
    return int(now.timestamp() if isinstance(now, datetime) else now)


def deliver_webhook(
    url: str,
    secrets: str | list[str],
    outbox_id: str,
    payload: dict[str, Any],
    client: httpx.Client,
    now: datetime,
    *,
    timeout: float = 10.0,
    user_agent: str | None = None,
) -> DeliveryResult:
    """One signed POST of ``payload`` to ``url``; ``webhook-id`` is the outbox id, so retries share it.

    Redirects are not followed (a 3xx is reported as a client error), and the response body is not read
    beyond a short excerpt for the error message.
    """
    if not url.lower().startswith(("http://", "https://")):
        return DeliveryResult(None, False, error=f"invalid URL: only http(s) is delivered to: {url!r}")
    body = encode_payload(payload)
    headers = webhook_headers(secrets, outbox_id, _timestamp(now), body)
    headers["content-type"] = "application/json"
    if user_agent:
        headers["user-agent"] = user_agent
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
        ) as resp:
            status = resp.status_code
            excerpt = ""
            if not 200 <= status < 300:
                for chunk in resp.iter_text():
                    excerpt += chunk
                    if len(excerpt) >= _ERROR_BODY_CHARS:
                        break
    except BlockedAddress as exc:
        # A rule pointing at an internal address is a misconfiguration (or an SSRF attempt): never retried.
        return DeliveryResult(None, False, error=f"blocked address: {exc}", retryable=False)
    except httpx.TimeoutException as exc:
        return DeliveryResult(None, False, error=f"timeout: {type(exc).__name__}", retryable=True)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return DeliveryResult(None, False, error=f"invalid URL: {exc}", retryable=False)
    except httpx.HTTPError as exc:  # connection refused, reset, DNS, protocol errors
        return DeliveryResult(None, False, error=f"{type(exc).__name__}: {exc}", retryable=True)
    if 200 <= status < 300:
        return DeliveryResult(status, True)
    error = f"HTTP {status}" + (f": {excerpt[:_ERROR_BODY_CHARS].strip()}" if excerpt.strip() else "")
    if status == 410:
        return DeliveryResult(status, False, disable_endpoint=True, error=error)
    retry_after = parse_retry_after(resp.headers.get("retry-after"), now)
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    return DeliveryResult(status, False, retry_after_s=retry_after, error=error, retryable=retryable)


def next_step(
    result: DeliveryResult,
    attempt: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    max_client_error_attempts: int = MAX_CLIENT_ERROR_ATTEMPTS,
) -> Outcome:
    """What the relay does after attempt number ``attempt`` (1 = the first) came to ``result``.

    Heuristic: 2xx → sent; 410 Gone → disable the endpoint (the receiver said it is gone for good), the row
    is dead-lettered with it; 5xx, 408, 425, 429 and network failures/timeouts → retry until
    ``max_attempts``; any other 4xx, a 3xx or an invalid URL → the endpoint is misconfigured: retry only
    until ``max_client_error_attempts`` (an invalid URL not at all), then dead letter.
    """
    if result.ok:
        return "sent"
    if result.disable_endpoint:
        return "disable"
    limit = max_attempts if result.retryable else max_client_error_attempts
    if result.status is None and not result.retryable:
        limit = 1
    return "retry" if attempt < limit else "dead"


def next_attempt_delay(
    attempt: int, retry_after: float | None = None, *, jitter: float | None = None
) -> float:
    """Seconds to wait after ``attempt`` failed attempts (1 = the first failed) before trying again.

    Heuristic: the schedule ``SCHEDULE_S`` (10 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h, ...), each
    shortened by up to ``JITTER`` (``jitter`` in [0, 1]; random when None) so that rows failing together do
    not retry together, never above ``MAX_DELAY_S``. A Retry-After from the endpoint is a floor (capped at
    ``RETRY_AFTER_CAP_S``): we never come back earlier than asked. For a fixed ``jitter`` the delay never
    decreases with ``attempt``.
    """
    j = random.random() if jitter is None else min(max(jitter, 0.0), 1.0)
    base = SCHEDULE_S[min(max(attempt, 1), len(SCHEDULE_S)) - 1]
    delay = min(float(MAX_DELAY_S), base * (1.0 - JITTER * j))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), float(RETRY_AFTER_CAP_S)))
    return delay


def next_attempt_at(
    now: datetime, attempt: int, retry_after: float | None = None, *, jitter: float | None = None
) -> datetime:
    """``now`` plus ``next_attempt_delay`` (for the outbox row's next_attempt_at)."""
    return now + timedelta(seconds=next_attempt_delay(attempt, retry_after, jitter=jitter))


def webhook_client(settings: Settings) -> httpx.Client:
    """The client every webhook is sent with: the fetcher's SSRF guard (private, loopback, link-local and
    metadata addresses refused unless ``COMMUNIQUE_ALLOW_PRIVATE_NETWORKS`` allows them, checked on the
    address actually connected to), no proxies from the environment, and no redirects."""
    return httpx.Client(transport=guarded_transport(settings), trust_env=False, follow_redirects=False)
