"""Core tasks: the scheduler's tick."""

from __future__ import annotations

from datetime import timedelta

from services.core import stages
from services.core.task_base import PipelineTask, pipeline_task

__all__ = ["dispatch_due"]


@pipeline_task("core.dispatch_due")
def dispatch_due(self: PipelineTask, force: bool = False) -> dict[str, int]:
    """Send a poll for every due source (once per slot) and re-send stalled documents; beat runs it every
    tick."""
    with self.uow() as uow:
        result = stages.dispatch_due(
            uow, self.now(), stale_after=timedelta(seconds=self.settings.stale_after_s), force=force
        )
        uow.commit()
    return {"polls": result.polls, "resent": result.resent}
