"""The alert relay: due delivery rows -> one attempt each through ``services.alerts.channels`` -> the outcome.

``relay_due`` (the periodic ``notify.relay``, every ``relay_interval_s``; embedded, once per cycle) claims due
pending rows — ``FOR UPDATE SKIP LOCKED`` on Postgres, so concurrent relays never claim the same row — leases
each for ``relay_lease_s`` under a token, and hands them to ``notify.deliver(delivery_id, token)``.

``deliver_claimed`` (the ``notify.deliver`` task) swaps the relay's token for its own in one committed update,
so a redelivered task message finds nothing to send; makes one attempt; then, only while it still holds the
lease, records the attempt in ``delivery_log`` and applies ``delivery.next_step``: sent, retry at
``next_attempt_at`` (the schedule, Retry-After as a floor), dead letter, or disable the endpoint (410).
Retries live on the row, never as broker countdowns.

A relay that dies after sending and before recording it leaves the row pending under an expired lease: the
next relay sends it again with the same ``webhook-id`` (the outbox id), which receivers deduplicate.

Operator events go to the ``operator`` channel (``settings.operator_webhook``), never to subscribers: the
``source.broken`` / ``source.recovered`` outbox rows the poller writes on a health transition
(``services.core.stages``) get their operator delivery here, and dead letters growing are an outbox row of
the relay's own.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.alerts import channels
from services.alerts.delivery import deliver_webhook, next_attempt_at, next_step
from services.alerts.rules import Channel, Rule, WebhookChannel, find_channel
from services.core.settings import Settings
from services.store.repository import OPERATOR_CHANNEL
from services.store.uow import UnitOfWork

__all__ = ["SOURCE_EVENTS", "deliver_claimed", "operator_events", "relay_due"]

log = logging.getLogger(__name__)

_EVENTS = uuid.UUID("6b1f43a2-5c55-4a51-9d0e-0c0f6f7c2e11")

_OUTCOME_STATUS = {"sent": "sent", "retry": "pending", "dead": "dead", "disable": "disabled"}


SOURCE_EVENTS = ("source.broken", "source.recovered")
"""Outbox types the poller writes for the operator (``stages._health_events``)."""

SOURCE_EVENT_MAX_AGE_S = 7 * 24 * 3600


def operator_events(uow: UnitOfWork, now: datetime) -> int:
    """Plan the operator deliveries (each once); returns how many were added.

    Heuristics: a source's health transition is the poller's outbox row (one per transition, so a source
    broken for a week is one message), delivered once; rows older than ``SOURCE_EVENT_MAX_AGE_S`` are left
    alone, so configuring the operator webhook late does not replay old news. Dead letters (task dead
    letters plus dead deliveries) are reported when their total reaches 1, 2, 4, 8, ... so a growing pile is
    noticed without one message per item.
    """
    written = 0
    since = now - timedelta(seconds=SOURCE_EVENT_MAX_AGE_S)
    for outbox_id in uow.deliveries.without_operator_delivery(SOURCE_EVENTS, since):
        written += uow.deliveries.add(outbox_id, OPERATOR_CHANNEL, "new", ["operator"], now)
    total = uow.deliveries.dead_letter_total()
    if total > 0:
        threshold = 1 << (total.bit_length() - 1)
        event_id = str(uuid.uuid5(_EVENTS, f"dead_letters:{threshold}"))
        written += uow.deliveries.add_operator_event(
            event_id, "operator.dead_letters", {"dead_letters": total, "threshold": threshold}, now
        )
    return written


def relay_due(uow: UnitOfWork, settings: Settings, now: datetime) -> list[int]:
    """Claim the due deliveries and defer ``notify.deliver`` for each (sent after the caller commits)."""
    if settings.operator_webhook:
        operator_events(uow, now)
        uow.session.flush()
    claimed = uow.deliveries.claim_due(now, settings.relay_lease_s, settings.relay_batch)
    for delivery_id, token in claimed:
        uow.defer("notify.deliver", delivery_id, token)
    return [d for d, _ in claimed]


def _operator_channel(settings: Settings) -> WebhookChannel | None:
    if not settings.operator_webhook or not settings.operator_webhook_secret:
        return None
    return WebhookChannel(webhook=settings.operator_webhook, secret=settings.operator_webhook_secret)


def deliver_claimed(
    uow_factory: Callable[[], UnitOfWork],
    delivery_id: int,
    token: str,
    *,
    settings: Settings,
    rules: Sequence[Rule],
    client: httpx.Client,
    now: Callable[[], datetime],
) -> str:
    """One attempt at a claimed delivery (see the module docstring). Returns the outcome: sent, retry, dead,
    disable, dropped (destination no longer in the rules) or skipped (not ours to send)."""
    with uow_factory() as uow:
        row = uow.deliveries.take(delivery_id, token, now(), settings.relay_lease_s)
        if row is None:
            return "skipped"
        mine = str(row.lease_token)
        attempt, key, kind, rule_names = row.attempts, row.channel_key, row.kind, list(row.rules)
        outbox = uow.deliveries.outbox(row.outbox_id)
        disabled = uow.deliveries.endpoint_disabled(key)
        uow.commit()
    if outbox is None:
        return _finish(uow_factory, delivery_id, mine, attempt, "dropped", None, "outbox row gone", 0, now())
    if disabled:
        return _finish(
            uow_factory, delivery_id, mine, attempt, "disabled", None, "endpoint disabled", 0, now()
        )
    channel: Channel | None = (
        _operator_channel(settings) if key == OPERATOR_CHANNEL else find_channel(rules, key, rule_names)
    )
    if channel is None:
        return _finish(
            uow_factory, delivery_id, mine, attempt, "dropped", None, "destination removed", 0, now()
        )
    started = time.monotonic()
    sent_at = now()
    if key == OPERATOR_CHANNEL:
        assert isinstance(channel, WebhookChannel)
        payload: dict[str, Any] = {
            "type": outbox.type,
            "timestamp": sent_at.isoformat().replace("+00:00", "Z"),
            "data": {"outbox_id": outbox.id, **outbox.payload},
        }
        result = deliver_webhook(
            channel.webhook,
            channel.secrets,
            outbox.id,
            payload,
            client,
            sent_at,
            timeout=settings.webhook_timeout_s,
            user_agent=settings.user_agent,
        )
    else:
        result = channels.deliver(
            channel,
            record=outbox.payload,
            rules=rule_names,
            kind="new" if kind == "new" else "update",
            outbox_id=outbox.id,
            settings=settings,
            client=client,
            now=sent_at,
        )
    if settings.fault_relay_exit_after_send:
        # Fault injection (tests): die between the send and its record, as a killed relay would.
        os._exit(70)
    duration = int((time.monotonic() - started) * 1000)
    step = next_step(
        result,
        attempt,
        max_attempts=settings.webhook_max_attempts,
        max_client_error_attempts=settings.webhook_max_client_error_attempts,
    )
    finished = now()
    retry_at = next_attempt_at(finished, attempt, result.retry_after_s) if step == "retry" else None
    return _finish(
        uow_factory,
        delivery_id,
        mine,
        attempt,
        step,
        result.status,
        result.error,
        duration,
        finished,
        retry_at=retry_at,
        channel_key=key,
    )


def _finish(
    uow_factory: Callable[[], UnitOfWork],
    delivery_id: int,
    token: str,
    attempt: int,
    outcome: str,
    http_status: int | None,
    error: str | None,
    duration_ms: int,
    now: datetime,
    *,
    retry_at: datetime | None = None,
    channel_key: str | None = None,
) -> str:
    status = _OUTCOME_STATUS.get(outcome, outcome)
    with uow_factory() as uow:
        if not uow.deliveries.finish(
            delivery_id,
            token,
            status=status,
            next_attempt_at=retry_at,
            http_status=http_status,
            error=error,
            now=now,
        ):
            log.warning("delivery %s: lease lost before recording %s", delivery_id, outcome)
            return "skipped"
        uow.deliveries.log(delivery_id, attempt, http_status, outcome, error, duration_ms, now)
        if outcome == "disable" and channel_key:
            uow.deliveries.set_endpoint(channel_key, True, error or "410 Gone", now)
        if outcome == "dead":
            uow.dead_letters.add("notify.deliver", [delivery_id], error or "delivery failed", attempt, now)
        uow.commit()
    if outcome in ("dead", "disable"):
        log.warning("delivery %s: %s after %d attempt(s): %s", delivery_id, outcome, attempt, error)
    return outcome
