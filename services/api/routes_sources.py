"""``/api/sources``: per-source health, and the operator's enable/disable switch (bearer token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from services.api.auth import require_token
from services.api.deps import Repo
from services.api.repository import SourceHealth
from services.api.schemas import SourceHealthOut, SourceList

__all__ = ["router"]

router = APIRouter(tags=["sources"])

State = Literal["ok", "failing", "broken", "disabled"]


def _out(s: SourceHealth) -> dict[str, Any]:
    d = s.definition
    return {
        "id": s.id,
        "name": d.get("name"),
        "country": d.get("country"),
        "language": d.get("language"),
        "kind": d.get("kind"),
        "url": d.get("url"),
        "enabled": s.enabled,
        "state": s.state,
        "last_success_at": s.last_success_at,
        "last_polled_at": s.last_polled_at,
        "next_check_at": s.next_check_at,
        "consecutive_errors": s.consecutive_errors,
        "consecutive_empty": s.consecutive_empty,
        "last_error": s.last_error,
        "items": sum(s.documents.values()),
        "documents": s.documents,
        "meetings": s.meetings,
    }


def _one(repo: Repo, source_id: str) -> SourceHealth:
    found = repo.sources(source_id) if len(source_id) <= 100 and "\x00" not in source_id else []
    if not found:
        raise HTTPException(404, f"no source {source_id[:100]!r}")
    return found[0]


@router.get("/api/sources", response_model=SourceList, summary="Every source with its health")
def list_sources(
    repo: Repo, state: Annotated[State | None, Query(description="only sources in this state")] = None
) -> dict[str, Any]:
    return {"items": [_out(s) for s in repo.sources() if state is None or s.state == state]}


@router.get(
    "/api/sources/{source_id}",
    response_model=SourceHealthOut,
    summary="One source with its health",
    responses={404: {"description": "no such source"}},
)
def get_source(source_id: str, repo: Repo) -> dict[str, Any]:
    return _out(_one(repo, source_id))


def _switch(repo: Repo, source_id: str, disabled: bool) -> dict[str, Any]:
    current = _one(repo, source_id)
    if not disabled and not current.enabled:
        raise HTTPException(
            409, f"source {source_id!r} is disabled in the source registry file: enable it there"
        )
    repo.set_source_hold(source_id, disabled=disabled, now=datetime.now(UTC))
    repo.session.commit()
    return _out(_one(repo, source_id))


_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or wrong bearer token"},
    404: {"description": "no such source"},
    409: {"description": "the source is disabled in the registry file"},
}


@router.post(
    "/api/sources/{source_id}/disable",
    summary="Stop polling a source (until enabled)",
    dependencies=[Depends(require_token)],
    response_model=SourceHealthOut,
    responses=_WRITE_RESPONSES,
)
def disable_source(source_id: str, repo: Repo) -> dict[str, Any]:
    return _switch(repo, source_id, disabled=True)


@router.post(
    "/api/sources/{source_id}/enable",
    summary="Poll a source again: clears its error counters, due at once",
    dependencies=[Depends(require_token)],
    response_model=SourceHealthOut,
    responses=_WRITE_RESPONSES,
)
def enable_source(source_id: str, repo: Repo) -> dict[str, Any]:
    return _switch(repo, source_id, disabled=False)
