"""E-mail alerts through a real SMTP conversation with a tiny local server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any

import pytest

from services.alerts.channels import render, send_email
from services.alerts.delivery import next_step
from services.core.settings import Settings
from tests.integration.harness import free_port

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

NOW = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
RECORD = {
    "id": "m-1",
    "status": "held",
    "date": "2026-11-27",
    "mode": "video",
    "participants": [
        {"name": "Bakhtiyor Saidov", "role": "foreign_minister", "country": "UZB"},
        {"name": "Hakan Fidan", "role": "foreign_minister", "country": "TUR"},
    ],
    "sources": [
        {"url": "https://mfa.example/uz/1", "publisher": "MFA of Uzbekistan", "evidence": "Video call."}
    ],
}


class Handler:
    """Accepts mail for anyone except refused@…; a DATA with 'TEMPFAIL' in it gets a 451."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"TEMPFAIL" in envelope.content:
            return "451 4.3.0 try again later"
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=policy.default),
            )
        )
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, Settings]]:
    handler = Handler()
    port = free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="alerts@communique.test")
    finally:
        controller.stop()


def test_alert_mail_is_delivered(smtp: tuple[Handler, Settings]) -> None:
    handler, settings = smtp
    rendered = render(RECORD)
    res = send_email(settings, "desk@example.org", rendered, outbox_id="ob-1", now=NOW)
    assert res.ok, res.error
    (mail_from, rcpts, msg) = handler.messages[0]
    assert mail_from == "alerts@communique.test"
    assert rcpts == ["desk@example.org"]
    assert msg["Subject"] == "Uzbekistan – Türkiye: video call, 2026-11-27"
    assert msg["Message-ID"] == "<communique.ob-1@communique.test>"
    assert isinstance(msg, EmailMessage)
    assert "Bakhtiyor Saidov, Foreign Minister (Uzbekistan)" in msg.get_content()


def test_refused_recipient_is_dead(smtp: tuple[Handler, Settings]) -> None:
    _, settings = smtp
    res = send_email(settings, "refused@example.org", render(RECORD), outbox_id="ob-2", now=NOW)
    assert not res.ok
    assert not res.retryable
    assert next_step(res, 1) == "dead"


def test_temporary_failure_is_retried(smtp: tuple[Handler, Settings]) -> None:
    handler, settings = smtp
    res = send_email(
        settings, "desk@example.org", render(RECORD | {"id": "TEMPFAIL"}), outbox_id="ob-3", now=NOW
    )
    assert not res.ok
    assert res.retryable
    assert next_step(res, 1) == "retry"
    assert handler.messages == []


def test_server_down_is_retried() -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_s=2)
    res = send_email(settings, "desk@example.org", render(RECORD), outbox_id="ob-4", now=NOW)
    assert not res.ok
    assert res.retryable
