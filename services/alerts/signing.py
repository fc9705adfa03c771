"""Standard Webhooks signatures for outgoing deliveries (https://www.standardwebhooks.com/).

Every delivery carries three headers:

    webhook-id         the outbox id: the same on every retry, so that receivers can drop duplicates
    webhook-timestamp  unix seconds at signing time (fresh on every attempt)
    webhook-signature  ``v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>``; with several secrets
                       configured (key rotation), one such entry per secret, separated by spaces

A secret is ``whsec_`` followed by the base64 of the key bytes; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["SECRET_PREFIX", "decode_secret", "generate_secret", "sign", "signature_header", "webhook_headers"]

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional, as in the reference libraries)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise ValueError("webhook secret is not 'whsec_' + base64") from exc


def generate_secret(nbytes: int = 32) -> str:
    """A fresh random secret in the ``whsec_`` format (for operators setting up an endpoint)."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``f"{msg_id}.{timestamp}.{body}"`` with ``secret``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated, in the order given."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys:
        raise ValueError("at least one webhook secret is needed")
    return " ".join(sign(k, msg_id, timestamp, body) for k in keys)


def webhook_headers(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature_header(secrets, msg_id, int(timestamp), body),
    }
