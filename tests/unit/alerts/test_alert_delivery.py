"""Webhook delivery against httpx.MockTransport, and the pure retry decisions (Hypothesis properties)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.alerts.delivery import (
    MAX_ATTEMPTS,
    MAX_CLIENT_ERROR_ATTEMPTS,
    MAX_DELAY_S,
    RETRY_AFTER_CAP_S,
    SCHEDULE_S,
    DeliveryResult,
    build_payload,
    deliver_webhook,
    encode_payload,
    next_attempt_at,
    next_attempt_delay,
    next_step,
    parse_retry_after,
)
from services.alerts.verify import Verifier

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
PAYLOAD = {"type": "meeting.created", "data": {"meeting": {"id": "m-1", "title": "Астана"}}}


def client(
    handler: httpx.MockTransport | None = None, *, status: int = 200, headers: dict[str, str] | None = None
):
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers or {}, text="nope" if status >= 300 else "")

    return httpx.Client(transport=handler or httpx.MockTransport(respond)), seen


def test_success_is_signed_and_verifiable() -> None:
    c, seen = client()
    result = deliver_webhook("https://hooks.example/in", SECRET, "outbox-7", PAYLOAD, c, NOW)
    assert result == DeliveryResult(200, True)
    req = seen[0]
    assert req.method == "POST"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["webhook-id"] == "outbox-7"
    assert req.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    v = Verifier(SECRET, clock=lambda: NOW.timestamp())
    assert v.verify(dict(req.headers), req.content) == PAYLOAD


def test_retries_keep_the_id_and_refresh_the_timestamp() -> None:
    c, seen = client()
    deliver_webhook("https://hooks.example/in", SECRET, "outbox-7", PAYLOAD, c, NOW)
    deliver_webhook("https://hooks.example/in", SECRET, "outbox-7", PAYLOAD, c, NOW + timedelta(minutes=5))
    assert seen[0].headers["webhook-id"] == seen[1].headers["webhook-id"] == "outbox-7"
    assert seen[0].headers["webhook-timestamp"] != seen[1].headers["webhook-timestamp"]
    assert seen[0].content == seen[1].content


def test_several_secrets_give_several_signatures() -> None:
    c, seen = client()
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    deliver_webhook("https://hooks.example/in", [SECRET, other], "o", PAYLOAD, c, NOW)
    assert len(seen[0].headers["webhook-signature"].split(" ")) == 2


def test_gone_disables_the_endpoint() -> None:
    c, _ = client(status=410)
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert (r.ok, r.disable_endpoint, r.status) == (False, True, 410)
    assert next_step(r, 1) == "disable"


def test_too_many_requests_carries_retry_after() -> None:
    c, _ = client(status=429, headers={"retry-after": "120"})
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert (r.ok, r.retryable, r.retry_after_s) == (False, True, 120.0)
    assert next_step(r, 1) == "retry"
    assert next_attempt_delay(1, r.retry_after_s, jitter=0) == 120.0


def test_server_error_is_retryable_with_an_excerpt() -> None:
    c, _ = client(status=503)
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert r.retryable
    assert r.error == "HTTP 503: nope"


def test_client_error_is_not_retryable() -> None:
    c, _ = client(status=400)
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert not r.retryable
    assert not r.disable_endpoint
    assert [next_step(r, n) for n in (1, 2, 3)] == ["retry", "retry", "dead"]


def test_redirects_are_not_followed() -> None:
    c, seen = client(status=301, headers={"location": "http://169.254.169.254/"})
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert len(seen) == 1
    assert r.status == 301
    assert not r.ok
    assert not r.retryable


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("bad")]
)
def test_network_failures_are_retryable(exc: Exception) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    c = httpx.Client(transport=httpx.MockTransport(boom))
    r = deliver_webhook("https://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert r.status is None
    assert r.retryable
    assert not r.ok
    assert r.error


def test_invalid_url_is_dead_at_once() -> None:
    c, _ = client()
    r = deliver_webhook("gopher://hooks.example/in", SECRET, "o", PAYLOAD, c, NOW)
    assert not r.retryable
    assert r.error
    assert "invalid URL" in r.error
    assert next_step(r, 1) == "dead"


# --- payload --------------------------------------------------------------------------------------


def test_payload_envelope() -> None:
    p = build_payload({"id": "m"}, rules=["r", "s"], kind="update", outbox_id="o", now=NOW)
    assert p == {
        "type": "meeting.updated",
        "timestamp": "2026-11-28T19:00:00Z",
        "data": {"outbox_id": "o", "rules": ["r", "s"], "meeting": {"id": "m"}},
    }
    assert build_payload({}, rules=["r"], kind="new", outbox_id="o", now=NOW)["type"] == "meeting.created"


def test_encoding_is_compact_utf8_and_stable() -> None:
    body = encode_payload(PAYLOAD)
    assert body == encode_payload(json.loads(body))
    assert "Астана".encode() in body
    assert b" " not in body


# --- decisions ------------------------------------------------------------------------------------


def test_next_step_table() -> None:
    ok = DeliveryResult(200, True)
    server = DeliveryResult(500, False, retryable=True)
    assert next_step(ok, 1) == "sent"
    assert next_step(server, MAX_ATTEMPTS - 1) == "retry"
    assert next_step(server, MAX_ATTEMPTS) == "dead"
    assert next_step(DeliveryResult(404, False), MAX_CLIENT_ERROR_ATTEMPTS) == "dead"
    assert next_step(DeliveryResult(404, False), 1, max_client_error_attempts=1) == "dead"
    assert next_step(DeliveryResult(410, False, disable_endpoint=True), MAX_ATTEMPTS + 5) == "disable"


def test_schedule_spans_seconds_to_days() -> None:
    delays = [next_attempt_delay(n, jitter=0) for n in range(1, MAX_ATTEMPTS)]
    assert delays[0] == 10
    assert delays[-1] == 86400
    assert sum(delays) > 2 * 86400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sat, 28 Nov 2026 19:02:00 GMT", 120.0),
        ("Sat, 28 Nov 2026 18:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


attempts = st.integers(min_value=-3, max_value=50)
jitters = st.floats(min_value=0, max_value=1)
retry_afters = st.none() | st.floats(min_value=0, max_value=10 * 86400, allow_nan=False)


@given(attempts, jitters, retry_afters)
def test_delay_is_monotone_in_attempt(n: int, j: float, ra: float | None) -> None:
    assert next_attempt_delay(n, ra, jitter=j) <= next_attempt_delay(n + 1, ra, jitter=j)


@given(attempts, jitters, retry_afters)
def test_delay_is_positive_and_capped(n: int, j: float, ra: float | None) -> None:
    d = next_attempt_delay(n, ra, jitter=j)
    assert 0 < d <= max(MAX_DELAY_S, RETRY_AFTER_CAP_S)


@given(attempts, jitters, st.floats(min_value=0, max_value=10 * 86400, allow_nan=False))
def test_retry_after_is_a_floor_up_to_its_cap(n: int, j: float, ra: float) -> None:
    assert next_attempt_delay(n, ra, jitter=j) >= min(ra, RETRY_AFTER_CAP_S)


@given(attempts, jitters)
def test_jitter_only_shortens_within_bounds(n: int, j: float) -> None:
    base = SCHEDULE_S[min(max(n, 1), len(SCHEDULE_S)) - 1]
    assert 0.8 * base - 1e-9 <= next_attempt_delay(n, jitter=j) <= base


def test_random_jitter_is_in_range() -> None:
    for _ in range(50):
        assert 8 <= next_attempt_delay(1) <= 10


def test_next_attempt_at() -> None:
    assert next_attempt_at(NOW, 2, jitter=0) == NOW + timedelta(minutes=1)
