"""The receiver helper rejects every bad case of reliability.md #15 and accepts rotated keys."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import services.alerts.verify as verify_module
from services.alerts.signing import generate_secret, sign, webhook_headers
from services.alerts.verify import (
    InvalidPayload,
    InvalidSignature,
    InvalidTimestamp,
    MemorySeenIds,
    MissingHeaders,
    ReplayedWebhook,
    Verifier,
    WebhookVerificationError,
)

REF_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_800_000_000
BODY = json.dumps({"type": "meeting.created", "data": {"meeting": {"id": "m-1"}}}).encode()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def verifier(secrets: str | list[str] = REF_SECRET, clock: Clock | None = None, **kw: float) -> Verifier:
    return Verifier(secrets, clock=clock or Clock(), **kw)  # type: ignore[arg-type]


def headers(
    msg_id: str = "outbox-1", ts: int = NOW, body: bytes = BODY, secrets: str | list[str] = REF_SECRET
):
    return webhook_headers(secrets, msg_id, ts, body)


def test_accepts_a_good_delivery() -> None:
    assert verifier().verify(headers(), BODY) == json.loads(BODY)


def test_reference_vector() -> None:
    body = b'{"test": 2432232314}'
    h = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert verifier(clock=Clock(1614265330)).verify(h, body) == {"test": 2432232314}


def test_tampered_body() -> None:
    with pytest.raises(InvalidSignature):
        verifier().verify(headers(), BODY.replace(b"m-1", b"m-2"))


def test_tampered_id_or_timestamp() -> None:
    h = headers()
    with pytest.raises(InvalidSignature):
        verifier().verify({**h, "webhook-id": "outbox-2"}, BODY)
    with pytest.raises(InvalidSignature):
        verifier().verify({**h, "webhook-timestamp": str(NOW + 1)}, BODY)


def test_wrong_key() -> None:
    with pytest.raises(InvalidSignature):
        verifier(generate_secret()).verify(headers(), BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(missing: str) -> None:
    h = headers()
    del h[missing]
    with pytest.raises(MissingHeaders, match=missing):
        verifier().verify(h, BODY)
    with pytest.raises(MissingHeaders):
        verifier().verify({**headers(), missing: ""}, BODY)


def test_stale_timestamp() -> None:
    with pytest.raises(InvalidTimestamp, match="old"):
        verifier().verify(headers(ts=NOW - 301), BODY)
    assert verifier().verify(headers(ts=NOW - 300), BODY)


def test_future_timestamp() -> None:
    with pytest.raises(InvalidTimestamp, match="future"):
        verifier().verify(headers(ts=NOW + 301), BODY)
    assert verifier().verify(headers(ts=NOW + 300), BODY)


@pytest.mark.parametrize("ts", ["", "abc", "1.5e9", "-1", "１８００"])
def test_malformed_timestamp(ts: str) -> None:
    h = {**headers(), "webhook-timestamp": ts}
    with pytest.raises((InvalidTimestamp, MissingHeaders)):
        verifier().verify(h, BODY)


def test_replayed_id() -> None:
    v = verifier()
    v.verify(headers(), BODY)
    with pytest.raises(ReplayedWebhook) as info:
        v.verify(headers(), BODY)
    assert info.value.msg_id == "outbox-1"
    # the sender's retry: same id, fresh timestamp and signature — still a duplicate
    with pytest.raises(ReplayedWebhook):
        v.verify(headers(ts=NOW + 60), BODY)
    assert isinstance(info.value, WebhookVerificationError)


def test_forged_requests_do_not_burn_an_id() -> None:
    v = verifier()
    with pytest.raises(InvalidSignature):
        v.verify(headers(secrets=generate_secret()), BODY)
    assert v.verify(headers(), BODY)


def test_forget_lets_a_retry_in_after_failed_processing() -> None:
    v = verifier()
    v.verify(headers(), BODY)
    v.forget("outbox-1")
    assert v.verify(headers(), BODY)


def test_ids_expire_after_replay_ttl() -> None:
    clock = Clock()
    v = verifier(clock=clock, replay_ttl=600)
    v.verify(headers(), BODY)
    clock.t += 601
    # by then the original timestamp is stale anyway; a fresh signature with the same id is accepted again
    with pytest.raises(InvalidTimestamp):
        v.verify(headers(), BODY)
    assert v.verify(headers(ts=NOW + 601), BODY)


def test_replay_ttl_must_cover_the_tolerance_window() -> None:
    with pytest.raises(ValueError, match="twice"):
        verifier(tolerance=300, replay_ttl=500)


def test_rotation_old_and_new_signatures_both_accepted() -> None:
    old, new = REF_SECRET, generate_secret()
    both = headers(secrets=[old, new])
    # a receiver that only knows the old key, or only the new one, or both: all accept during rotation
    assert verifier(old).verify(both, BODY)
    assert verifier(new).verify(headers(msg_id="outbox-2", secrets=[old, new]), BODY)
    v = verifier([old, new])
    assert v.verify(headers(msg_id="outbox-3", secrets=old), BODY)
    assert v.verify(headers(msg_id="outbox-4", secrets=new), BODY)
    with pytest.raises(InvalidSignature):
        v.verify(headers(msg_id="outbox-5", secrets=generate_secret()), BODY)


def test_unknown_versions_and_garbage_entries_are_skipped() -> None:
    h = headers()
    h["webhook-signature"] = "v1a,abc v1,!!notbase64!! v2,xyz " + h["webhook-signature"]
    assert verifier().verify(h, BODY)


def test_signature_without_version_is_rejected() -> None:
    h = headers()
    h["webhook-signature"] = h["webhook-signature"].removeprefix("v1,")
    with pytest.raises(InvalidSignature):
        verifier().verify(h, BODY)


def test_headers_are_case_insensitive_and_may_be_pairs() -> None:
    h = {k.title(): v for k, v in headers().items()}
    assert verifier().verify(h, BODY)
    assert verifier().verify(list(headers(msg_id="outbox-9").items()), BODY)


def test_signed_non_json_body() -> None:
    body = b"not json"
    with pytest.raises(InvalidPayload):
        verifier().verify(headers(body=body), body)


def test_check_signature_alone_does_not_mark_ids() -> None:
    v = verifier()
    assert v.check_signature(headers(), BODY) == ("outbox-1", NOW)
    assert v.verify(headers(), BODY)


def test_memory_seen_ids() -> None:
    seen = MemorySeenIds()
    assert seen.add("a", ttl=10, now=0)
    assert not seen.add("a", ttl=10, now=5)
    assert seen.add("a", ttl=10, now=11)
    for i in range(100):
        seen.add(f"x{i}", ttl=10, now=20)
    seen.add("y", ttl=10, now=100)  # sweeps what expired
    assert len(seen) == 1


def test_bad_secret_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="base64"):
        Verifier("whsec_***")
    with pytest.raises(ValueError, match="at least one"):
        Verifier([])


def test_verify_module_needs_only_the_standard_library() -> None:
    tree = ast.parse(Path(verify_module.__file__).read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            modules.add((node.module or "").split(".")[0])
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)


def test_signing_and_verifying_agree_on_arbitrary_bodies() -> None:
    v = verifier()
    for i, body in enumerate([b"{}", b'"\\u0000"', json.dumps({"x": "é" * 1000}).encode()]):
        h = {
            "webhook-id": f"id{i}",
            "webhook-timestamp": str(NOW),
            "webhook-signature": sign(REF_SECRET, f"id{i}", NOW, body),
        }
        assert v.verify(h, body) == json.loads(body)
