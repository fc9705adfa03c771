"""Fetcher tasks: poll a source, fetch a document. Thin: the work is in ``services.core.stages``."""

from __future__ import annotations

from services.core import stages
from services.core.task_base import PipelineTask, pipeline_task

__all__ = ["fetch_document", "poll_source", "websub_subscribe"]


@pipeline_task("fetcher.poll_source", delivery="source")
def poll_source(self: PipelineTask, source_id: str) -> int:
    """Conditional GET of the source's feed or listing; its new items become documents sent to fetch."""
    with self.uow() as uow:
        sent = stages.poll_source(
            uow,
            source_id,
            self.http(),
            stages.default_poll,
            self.now(),
            unconditional_after_s=self.settings.unconditional_after_s,
            websub_poll_interval_s=self.settings.websub_poll_interval_s,
            websub_public_url=self.settings.public_url,
        )
        uow.commit()
    return sent


@pipeline_task("fetcher.fetch_document", delivery="document")
def fetch_document(self: PipelineTask, document_id: int) -> bool:
    """Guarded GET of one document; the raw body is stored and the document sent to parse."""
    with self.uow() as uow:
        stored = stages.fetch_document(uow, document_id, self.http(), self.now())
        uow.commit()
    return stored


@pipeline_task("fetcher.websub_subscribe")
def websub_subscribe(self: PipelineTask, source_id: str) -> bool:
    """(Re)subscribe to the WebSub hub the source's feed advertises (``services.fetcher.websub``)."""
    from services.fetcher.websub import subscribe

    public_url = self.settings.public_url
    if not public_url:
        return False
    with self.uow() as uow:
        sent = subscribe(
            uow,
            source_id,
            self.http(),  # type: ignore[arg-type]  # PoliteClient.post_form
            public_url=public_url,
            lease_s=self.settings.websub_lease_s,
            now=self.now(),
        )
        uow.commit()
    return sent
