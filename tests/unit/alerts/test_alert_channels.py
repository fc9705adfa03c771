"""Rendering for humans, SMTP error mapping (with a fake SMTP), Apprise URL handling, channel dispatch."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from services.alerts.channels import Rendered, deliver, render, send_apprise, send_email
from services.alerts.rules import AppriseChannel, EmailChannel, WebhookChannel
from services.core.settings import Settings

NOW = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FM_CHN = "Foreign Minister of China"
EVIDENCE = "They spoke by phone."


def record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "m-1",
        "status": "held",
        "date": "2026-11-27",
        "mode": "phone",
        "location": None,
        "participants": [
            {"name": "Murat Nurtleu", "role": "foreign_minister", "country": "KAZ", "title": None},
            {
                "name": "Wang Yi",
                "role": "foreign_minister",
                "country": "CHN",
                "title": "Foreign Minister of China",
            },
            {"name": None, "role": "org_head", "org": "SCO"},
        ],
        "topics": ["trade"],
        "sources": [
            {
                "url": "https://mfa.example/1",
                "publisher": "MFA of Kazakhstan",
                "evidence": "They spoke by phone.",
            },
            {"url": "https://fmprc.example/2", "publisher": None, "title": "王毅同努尔特列乌通电话"},
        ],
    }
    rec.update(over)
    return rec


def test_render_subject_and_body() -> None:
    r = render(record())
    assert r.subject == "Kazakhstan – China – SCO: phone call, 2026-11-27"
    assert "- Murat Nurtleu, Foreign Minister (Kazakhstan)" in r.body
    assert "- Wang Yi, Foreign Minister of China (China)" in r.body
    assert "- Head of Organisation (SCO)" in r.body
    assert "Topics: trade" in r.body
    assert "“They spoke by phone.”" in r.body
    assert "MFA of Kazakhstan: https://mfa.example/1" in r.body
    assert "王毅同努尔特列乌通电话: https://fmprc.example/2" in r.body
    assert r.body.endswith("Meeting id: m-1\n")


def test_render_planned_update_location_and_unknowns() -> None:
    r = render(
        record(status="planned", mode="in_person", location={"city": "Geneva", "country": "CHE"}, date=None),
        kind="update",
    )
    assert r.subject == "Updated: Planned: Kazakhstan – China – SCO: talks, date unknown"
    assert "Where: Geneva, Switzerland" in r.body
    bare = render({"participants": [{"role": "official"}]})
    assert bare.subject == "Diplomatic meeting: meeting, date unknown"


def test_render_unknown_country_code_is_kept() -> None:
    r = render(record(participants=[{"role": "ambassador", "country": "XKX", "name": "A"}]))
    assert r.subject.startswith("XKX:")


def test_render_caps_the_subject() -> None:
    parts = [{"role": "official", "org": f"Organisation number {i}"} for i in range(30)]
    assert len(render(record(participants=parts)).subject) <= 150


class FakeSMTP:
    sent: list[EmailMessage] = []
    fail: Exception | None = None
    calls: list[str] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.calls.append(f"connect {host}:{port}")

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self, context: object = None) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        self.calls.append(f"login {user}")

    def send_message(self, msg: EmailMessage) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(msg)


@pytest.fixture
def fake_smtp() -> type[FakeSMTP]:
    FakeSMTP.sent, FakeSMTP.fail, FakeSMTP.calls = [], None, []
    return FakeSMTP


def settings(**kw: Any) -> Settings:
    return Settings(smtp_host="mail.example", smtp_port=2525, smtp_from="alerts@communique.example", **kw)


def test_email_message(fake_smtp: type[FakeSMTP]) -> None:
    res = send_email(
        settings(smtp_starttls=True, smtp_username="u", smtp_password="p"),
        "desk@example.org",
        Rendered("Subject ✓", "Body ✓\n"),
        outbox_id="42",
        now=NOW,
        smtp_factory=fake_smtp,
    )
    assert res.ok
    assert fake_smtp.calls == ["connect mail.example:2525", "starttls", "login u"]
    msg = fake_smtp.sent[0]
    assert msg["To"] == "desk@example.org"
    assert msg["From"] == "alerts@communique.example"
    assert msg["Subject"] == "Subject ✓"
    assert msg["Message-ID"] == "<communique.42@communique.example>"
    assert msg["X-Communique-Outbox-Id"] == "42"
    assert msg.get_content() == "Body ✓\n"


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (smtplib.SMTPRecipientsRefused({"x@y.z": (550, b"no such user")}), False),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("slow"), True),
    ],
)
def test_email_failures(fake_smtp: type[FakeSMTP], exc: Exception, retryable: bool) -> None:
    fake_smtp.fail = exc
    res = send_email(settings(), "x@y.z", Rendered("s", "b"), outbox_id="1", now=NOW, smtp_factory=fake_smtp)
    assert not res.ok
    assert res.retryable is retryable
    assert res.error


def test_apprise_rejects_urls_it_does_not_know() -> None:
    res = send_apprise("nosuchscheme://x", Rendered("s", "b"))
    assert not res.ok
    assert not res.retryable


def test_deliver_dispatches_by_channel(fake_smtp: type[FakeSMTP]) -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(ok))
    common: dict[str, Any] = {
        "record": record(),
        "rules": ["r"],
        "kind": "new",
        "outbox_id": "9",
        "settings": settings(),
        "client": client,
        "now": NOW,
        "smtp_factory": fake_smtp,
    }
    assert deliver(WebhookChannel(webhook="https://h.example/x", secret=SECRET), **common).ok
    assert seen[0].headers["webhook-id"] == "9"
    assert seen[0].headers["user-agent"].startswith("Communique/")
    assert deliver(EmailChannel(email="a@b.org"), **common).ok
    assert fake_smtp.sent[0]["Subject"] == render(record()).subject
    res = deliver(AppriseChannel(apprise="nosuchscheme://x"), **common)
    assert not res.ok


def test_subject_has_no_line_breaks(fake_smtp: type[FakeSMTP]) -> None:
    r = render(record(participants=[{"role": "org_head", "org": "Shanghai\nCooperation\r\nOrganisation"}]))
    assert r.subject == "Shanghai Cooperation Organisation: phone call, 2026-11-27"
    assert send_email(settings(), "a@b.org", r, outbox_id="1", now=NOW, smtp_factory=fake_smtp).ok
