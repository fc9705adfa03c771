"""Store task: a parsed document's claims -> meetings, sources, change log, outbox and alert deliveries. Thin:
the work is in ``core.stages`` / ``store.ingest``."""

from __future__ import annotations

import httpx

from services.alerts.delivery import webhook_client
from services.core import stages
from services.core.db import session_factory
from services.core.settings import Settings
from services.core.task_base import PipelineTask, pipeline_task
from services.store.ingest import active_rules
from services.store.relay import deliver_claimed, relay_due
from services.store.uow import UnitOfWork

__all__ = ["deliver", "relay", "store_claims"]


@pipeline_task("store.store_claims", delivery="document")
def store_claims(self: PipelineTask, document_id: int) -> int:
    """Merge the document's claims into meetings (upsert), link the report, write outbox rows and their
    deliveries: one transaction."""
    rules = active_rules(self.settings.rules)
    with self.uow() as uow:
        events = stages.store_claims(uow, document_id, self.now(), rules)
        uow.commit()
    return events


# One guarded client per process and network policy (settings can differ between embedded runs).
_webhook_client: dict[str, httpx.Client] = {}


def _client(settings: Settings) -> httpx.Client:
    key = settings.allow_private_networks
    if key not in _webhook_client:
        _webhook_client[key] = webhook_client(settings)
    return _webhook_client[key]


@pipeline_task("notify.relay")
def relay(self: PipelineTask) -> int:
    """Claim due alert deliveries and send ``notify.deliver`` for each (beat runs it every few seconds)."""
    with self.uow() as uow:
        claimed = relay_due(uow, self.settings, self.now())
        uow.commit()
    return len(claimed)


@pipeline_task("notify.deliver")
def deliver(self: PipelineTask, delivery_id: int, token: str) -> str:
    """One attempt at one claimed delivery (``services.store.relay.deliver_claimed``)."""
    settings = self.settings
    return deliver_claimed(
        lambda: UnitOfWork(session_factory(settings.database_url)),
        delivery_id,
        token,
        settings=settings,
        rules=active_rules(settings.rules),
        client=_client(settings),
        now=self.now,
    )
