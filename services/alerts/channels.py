"""Human-readable alerts (e-mail over SMTP, chat through Apprise) and one entry point for every channel.

``render`` turns a meeting record into a short subject and body. ``send_email`` and ``send_apprise`` make one
attempt and report it as a ``DeliveryResult`` (never raising for delivery failures), so the relay treats every
channel alike with ``delivery.next_step`` and ``delivery.next_attempt_delay``. ``deliver`` dispatches a rule's
channel to the right sender.

Apprise is optional at run time: without it installed, an Apprise channel fails (not retryable) with a clear
error and the other channels work.
"""

from __future__ import annotations

import functools
import re
import smtplib
import ssl
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import ModuleType
from typing import Any, Literal

import httpx

from services.core.settings import Settings

from .delivery import DeliveryResult, build_payload, deliver_webhook
from .rules import AppriseChannel, Channel, EmailChannel, WebhookChannel

__all__ = ["Rendered", "deliver", "render", "send_apprise", "send_email"]

_ROLE_LABEL = {
    "head_of_state": "Head of State",
    "deputy_head_of_state": "Vice-President",
    "head_of_government": "Head of Government",
    "deputy_head_of_government": "Deputy Head of Government",
    "foreign_minister": "Foreign Minister",
    "deputy_foreign_minister": "Deputy Foreign Minister",
    "minister": "Minister",
    "ambassador": "Ambassador",
    "envoy": "Envoy",
    "legislator": "Legislator",
    "org_head": "Head of Organisation",
    "official": "Official",
}
_MODE_LABEL = {"in_person": "talks", "phone": "phone call", "video": "video call"}
_SUBJECT_MAX = 150
_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


def _country_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        import pycountry

        c = pycountry.countries.get(alpha_3=code)
    except (ImportError, KeyError, LookupError):
        c = None
    return str(getattr(c, "common_name", None) or getattr(c, "name", None) or code) if c else code


def _party(p: Mapping[str, Any]) -> str | None:
    return _country_name(p.get("country")) or p.get("org")


def _person(p: Mapping[str, Any]) -> str:
    role = _ROLE_LABEL.get(str(p.get("role")), str(p.get("role") or "official"))
    title = p.get("title") or role
    name = p.get("name") or p.get("name_as_printed")
    side = _party(p)
    text = f"{name}, {title}" if name else str(title)
    return f"{text} ({side})" if side else text


def render(record: Mapping[str, Any], *, kind: Literal["new", "update"] = "new") -> Rendered:
    """A short subject and a plain-text body for a person reading an e-mail or a chat message.

    Subject: the parties, the kind of contact and the date, e.g. "Kazakhstan – China: phone call, 2026-11-27";
    a planned meeting says so first, an update says "Updated:". Body: one line per participant, then where,
    topics, the evidence sentence and the source links. Only record fields are used (nothing is fetched).
    """
    participants = [p for p in record.get("participants") or () if isinstance(p, Mapping)]
    parties: list[str] = []
    for p in participants:
        side = _party(p)
        if side and side not in parties:
            parties.append(side)
    mode = _MODE_LABEL.get(str(record.get("mode")), "meeting")
    date = record.get("date") or "date unknown"
    head = " – ".join(parties) if parties else "Diplomatic meeting"
    # A header cannot hold line breaks, and printed names sometimes do.
    subject = " ".join(f"{head}: {mode}, {date}".split())
    if record.get("status") == "planned":
        subject = "Planned: " + subject
    if kind == "update":
        subject = "Updated: " + subject
    if len(subject) > _SUBJECT_MAX:
        subject = subject[: _SUBJECT_MAX - 1] + "…"

    lines = [subject, ""]
    lines += ["- " + _person(p) for p in participants]
    loc = record.get("location") or {}
    where = ", ".join(x for x in (loc.get("city"), _country_name(loc.get("country"))) if x)
    if where:
        lines.append(f"Where: {where}")
    if record.get("sidelines_of"):
        lines.append(f"On the sidelines of: {record['sidelines_of']}")
    if record.get("topics"):
        lines.append("Topics: " + ", ".join(str(t) for t in record["topics"]))
    sources = [s for s in record.get("sources") or () if isinstance(s, Mapping)]
    evidence = next((s["evidence"] for s in sources if s.get("evidence")), None)
    if evidence:
        lines += ["", f"“{evidence}”"]
    if sources:
        lines.append("")
        for s in sources:
            label = s.get("publisher") or s.get("title") or "source"
            if s.get("url"):
                lines.append(f"{label}: {s['url']}")
    if record.get("id"):
        lines += ["", f"Meeting id: {record['id']}"]
    return Rendered(subject=subject, body="\n".join(lines) + "\n")


SMTPFactory = Callable[..., smtplib.SMTP]


def send_email(
    settings: Settings,
    to: str,
    rendered: Rendered,
    *,
    outbox_id: str,
    now: datetime,
    smtp_factory: SMTPFactory | None = None,
) -> DeliveryResult:
    """One attempt at mailing ``rendered`` to ``to`` through ``COMMUNIQUE_SMTP_*``.

    The Message-ID derives from the outbox id, so a re-sent alert is recognisably the same message. A
    permanent refusal (5xx, recipient refused) is not retryable; a 4xx reply, a timeout or a connection
    failure is.
    """
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    domain = settings.smtp_from.rpartition("@")[2] or "communique.invalid"
    msg["Message-ID"] = f"<communique.{_MSGID_UNSAFE.sub('-', outbox_id)}@{domain}>"
    msg["X-Communique-Outbox-Id"] = outbox_id
    msg.set_content(rendered.body)

    if smtp_factory is not None:
        factory: SMTPFactory = smtp_factory
    elif settings.smtp_ssl:
        factory = smtplib.SMTP_SSL
    else:
        factory = smtplib.SMTP
    try:
        with factory(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        return DeliveryResult(None, False, error=f"recipient refused: {exc.recipients}", retryable=False)
    except smtplib.SMTPResponseException as exc:
        code = int(exc.smtp_code)
        return DeliveryResult(None, False, error=f"SMTP {code}: {exc.smtp_error!r}", retryable=code < 500)
    except (smtplib.SMTPException, OSError) as exc:
        return DeliveryResult(None, False, error=f"SMTP: {type(exc).__name__}: {exc}", retryable=True)
    return DeliveryResult(250, True)


@functools.cache
def _load_apprise() -> ModuleType | None:
    """Import Apprise and load its plugins once. Its e-mail plugin imports the deprecated ``imghdr``; that
    warning is about Apprise, not us, and must not turn into an error where warnings are errors (tests)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            apprise.Apprise().add("json://localhost")  # plugins load lazily, on the first URL
    except ImportError:
        return None
    return apprise


def send_apprise(url: str, rendered: Rendered) -> DeliveryResult:
    """One attempt through Apprise (Telegram, Slack, Matrix, ntfy, ...). Apprise reports only success or
    failure, so every failure of a valid URL counts as retryable; an URL it does not understand does not."""
    apprise = _load_apprise()
    if apprise is None:
        return DeliveryResult(None, False, error="apprise is not installed (pip install apprise)")
    app = apprise.Apprise()
    if not app.add(url):
        return DeliveryResult(None, False, error="Apprise does not understand this URL", retryable=False)
    try:
        sent = bool(app.notify(body=rendered.body, title=rendered.subject))
    except Exception as exc:  # a plugin bug must not take the relay down
        return DeliveryResult(None, False, error=f"apprise: {type(exc).__name__}: {exc}", retryable=True)
    if not sent:
        return DeliveryResult(None, False, error="apprise: notification failed", retryable=True)
    return DeliveryResult(200, True)


def deliver(
    channel: Channel,
    *,
    record: dict[str, Any],
    rules: Sequence[str],
    kind: Literal["new", "update"],
    outbox_id: str,
    settings: Settings,
    client: httpx.Client,
    now: datetime,
    smtp_factory: SMTPFactory | None = None,
) -> DeliveryResult:
    """One attempt at one destination for one outbox row (``rules``: the rules that chose it, by name)."""
    if isinstance(channel, WebhookChannel):
        payload = build_payload(record, rules=rules, kind=kind, outbox_id=outbox_id, now=now)
        return deliver_webhook(
            channel.webhook,
            channel.secrets,
            outbox_id,
            payload,
            client,
            now,
            timeout=settings.webhook_timeout_s,
            user_agent=settings.user_agent,
        )
    rendered = render(record, kind=kind)
    if isinstance(channel, EmailChannel):
        return send_email(
            settings, channel.email, rendered, outbox_id=outbox_id, now=now, smtp_factory=smtp_factory
        )
    if isinstance(channel, AppriseChannel):
        return send_apprise(channel.apprise, rendered)
    raise TypeError(f"unknown channel {channel!r}")
