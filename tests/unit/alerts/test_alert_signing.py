"""Standard Webhooks signatures: the published reference vector, rotation, and an independent HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from services.alerts.rules import check_secret
from services.alerts.signing import decode_secret, generate_secret, sign, signature_header, webhook_headers

# The test vector published with the Standard Webhooks reference libraries.
REF_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REF_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REF_TS = 1614265330
REF_BODY = b'{"test": 2432232314}'
REF_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_vector() -> None:
    assert sign(REF_SECRET, REF_ID, REF_TS, REF_BODY) == REF_SIG


def test_prefix_is_optional_like_the_reference_libraries() -> None:
    assert sign(REF_SECRET.removeprefix("whsec_"), REF_ID, REF_TS, REF_BODY) == REF_SIG


def test_independent_hmac() -> None:
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    body = '{"meeting":"Астана – 北京"}'.encode()
    expected = base64.b64encode(
        hmac.new(key, b"outbox-42.1700000000." + body, hashlib.sha256).digest()
    ).decode()
    assert sign(secret, "outbox-42", 1700000000, body) == "v1," + expected


def test_headers() -> None:
    h = webhook_headers(REF_SECRET, REF_ID, REF_TS, REF_BODY)
    assert h == {"webhook-id": REF_ID, "webhook-timestamp": str(REF_TS), "webhook-signature": REF_SIG}


def test_rotation_signs_with_every_secret_in_order() -> None:
    new = generate_secret()
    value = signature_header([REF_SECRET, new], REF_ID, REF_TS, REF_BODY)
    parts = value.split(" ")
    assert parts == [REF_SIG, sign(new, REF_ID, REF_TS, REF_BODY)]
    assert parts[0] != parts[1]


def test_no_secret_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], REF_ID, REF_TS, REF_BODY)


def test_bad_secret() -> None:
    with pytest.raises(ValueError, match="base64"):
        decode_secret("whsec_***")


def test_generated_secrets_are_valid_and_distinct() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert check_secret(a) == a
    assert len(decode_secret(a)) == 32
