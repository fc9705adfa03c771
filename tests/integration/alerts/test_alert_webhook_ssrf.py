"""Outgoing webhooks go through the fetcher's SSRF guard (``delivery.webhook_client``): a rule whose webhook
points at a private, loopback or metadata address is refused — no connection is made, the delivery is a dead
letter at once — unless ``COMMUNIQUE_ALLOW_PRIVATE_NETWORKS`` allows that network. Redirects are not followed.
The local receiver lives on 127.0.0.1, so tests that deliver to it allow 127.0.0.1/32 explicitly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.alerts.delivery import deliver_webhook, next_step, webhook_client
from services.core.settings import Settings
from tests.integration.webhook_receiver import webhook_receiver

PAYLOAD = {"type": "meeting.created", "data": {"outbox_id": "ob-ssrf", "meeting": {"id": "m-1"}}}


def _settings(allow: str) -> Settings:
    return Settings(database_url="sqlite://", allow_private_networks=allow)


@pytest.mark.parametrize("allow", ["false", "10.0.0.0/8"])
def test_webhook_to_a_private_address_is_refused(allow: str) -> None:
    with webhook_receiver() as rx, webhook_client(_settings(allow)) as client:
        spellings = ("127.0.0.1", "localhost", "2130706433")  # literal, a name, a legacy numeric form
        for url in (rx.url.replace("127.0.0.1", host) for host in spellings):
            r = deliver_webhook(url, rx.secret, "ob-ssrf", PAYLOAD, client, datetime.now(UTC))
            assert not r.ok
            assert r.status is None
            assert r.error is not None
            assert r.error.startswith("blocked address"), r.error
            assert not r.retryable
            assert next_step(r, 1) == "dead"
        assert rx.ids == []  # nothing reached the receiver


def test_metadata_address_is_refused_even_with_loopback_allowed() -> None:
    with webhook_client(_settings("127.0.0.1/32")) as client:
        metadata = "http://169.254.169.254/latest/meta-data"
        r = deliver_webhook(metadata, "whsec_" + "A" * 32, "ob", PAYLOAD, client, datetime.now(UTC))
    assert r.error is not None
    assert r.error.startswith("blocked address")


@pytest.mark.parametrize("allow", ["true", "127.0.0.1/32"])
def test_webhook_to_an_allowed_private_network_is_delivered(allow: str) -> None:
    with webhook_receiver() as rx, webhook_client(_settings(allow)) as client:
        r = deliver_webhook(rx.url, rx.secret, "ob-ssrf", PAYLOAD, client, datetime.now(UTC))
        assert (r.ok, r.status) == (True, 204)
        assert [e["data"]["outbox_id"] for e in rx.processed] == ["ob-ssrf"]


def test_redirect_is_not_followed() -> None:
    with webhook_receiver() as rx, webhook_client(_settings("127.0.0.1/32")) as client:
        rx.script.append((302, {"location": "http://169.254.169.254/"}))
        r = deliver_webhook(rx.url, rx.secret, "ob-ssrf", PAYLOAD, client, datetime.now(UTC))
        assert (r.ok, r.status, r.retryable) == (False, 302, False)
        assert rx.ids == []
