"""``/healthz`` (database and broker reachable), ``/metrics`` (Prometheus text format) and ``/api/status``
(the operator's summary, the data of ``communique status``: ``services.store.status``)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from services.api.repository import ApiRepository
from services.api.schemas import Health, StatusOut
from services.core.db import session_factory
from services.core.settings import Settings
from services.store.status import health_summary
from services.store.uow import UnitOfWork

__all__ = ["check_broker", "render", "router", "status"]

router = APIRouter(tags=["operations"])
BROKER_TIMEOUT_S = 2.0


def check_broker(url: str) -> None:
    """Raises when the broker does not answer within ``BROKER_TIMEOUT_S``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=BROKER_TIMEOUT_S, socket_timeout=BROKER_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    # Other brokers (AMQP): a TCP connect to the broker's address is the reachability check.
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"cannot tell the broker's address from {parts.scheme}:// URL")
    socket.create_connection((parts.hostname, parts.port), timeout=BROKER_TIMEOUT_S).close()


def _short(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


@router.get(
    "/healthz",
    response_model=Health,
    summary="Database and broker reachability (503 when one is down)",
    responses={503: {"model": Health, "description": "the database or the broker is unreachable"}},
)
def healthz(request: Request) -> Any:
    settings: Settings = request.app.state.settings
    details: dict[str, Any] = {}
    database = broker = "ok"
    try:
        with session_factory(settings.database_url)() as session:
            ApiRepository(session).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"; the reason is reported
        database = "error"
        details["database"] = _short(exc)
    if not settings.broker_url:
        broker = "not configured"
    else:
        try:
            check_broker(settings.broker_url)
        except Exception as exc:  # noqa: BLE001 - as above
            broker = "error"
            details["broker"] = _short(exc)
    ok = database == "ok" and broker != "error"
    body = Health(status="ok" if ok else "degraded", database=database, broker=broker, details=details)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def render(database_url: str) -> tuple[bytes, str]:
    """The project's exposition (``services.core.metrics.render_metrics``: the counters of every process
    and the source states read from the database); the counters alone when the database is down."""
    try:
        from services.core.metrics import render_metrics
    except ImportError:  # metrics not part of this build
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    try:
        return render_metrics(database_url)
    except SQLAlchemyError:
        return render_metrics(None)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
)
def metrics(request: Request) -> Response:
    body, content_type = render(request.app.state.settings.database_url)
    return Response(body, media_type=content_type)


@router.get(
    "/api/status",
    response_model=StatusOut,
    summary="Operator summary: sources by state, broken sources, dead letters, backlog",
)
def status(
    request: Request,
    recent: Annotated[int, Query(ge=0, le=100, description="dead letters to list")] = 10,
) -> Any:
    settings: Settings = request.app.state.settings
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        return health_summary(uow, datetime.now(UTC), recent=recent)
