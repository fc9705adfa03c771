"""Store task: a parsed document's claims -> meetings, sources, outbox. Thin: the work is in
``core.stages``."""

from __future__ import annotations

from services.core import stages
from services.core.task_base import PipelineTask, pipeline_task

__all__ = ["store_claims"]


@pipeline_task("store.store_claims", delivery="document")
def store_claims(self: PipelineTask, document_id: int) -> int:
    """Merge the document's claims into meetings (upsert), link the report, write outbox rows: one
    transaction."""
    with self.uow() as uow:
        events = stages.store_claims(uow, document_id, self.now())
        uow.commit()
    return events
