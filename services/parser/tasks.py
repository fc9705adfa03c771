"""Parser task: a fetched document -> meeting claims on its row. Thin: the work is in
``services.core.stages``."""

from __future__ import annotations

from services.core import stages
from services.core.task_base import PipelineTask, pipeline_task

__all__ = ["parse_document"]


@pipeline_task("parser.parse_document", delivery="document")
def parse_document(self: PipelineTask, document_id: int) -> int:
    """Extract the article and its meeting claims; a parse error is recorded on the document."""
    with self.uow() as uow:
        claims = stages.parse_document(uow, document_id, stages.default_extract, self.now())
        uow.commit()
    return claims
