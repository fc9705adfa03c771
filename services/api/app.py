"""The FastAPI application: ``create_app(settings)``; ``communique serve`` runs it under uvicorn.

Errors are JSON with a ``detail`` list in FastAPI's validation shape (``loc``, ``msg``, ``type``) plus a
one-line ``message``: a bad parameter is a 422 that names it, an unreachable database is a 503, never a
500 with a traceback. Read endpoints (``/api/*`` and ``/feeds/*`` with GET or HEAD) pass the per-client rate
limiter first; ``/healthz``, ``/metrics`` and the OpenAPI pages do not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from services.api import routes_meetings, routes_ops, routes_people, routes_rules, routes_sources
from services.api.filters import BadParameter
from services.api.ratelimit import RateLimiter
from services.core.settings import Settings, get_settings
from services.fetcher import websub
from services.web import routes as web_routes

__all__ = ["create_app"]

DESCRIPTION = """Diplomatic meetings extracted from the official news of foreign ministries.

* Meeting records follow `meeting-record.schema.json`; one meeting reported by several sources is one record
  with every source attached, each with its evidence sentence and the merge rule that attached it.
* Lists are newest first and paged by an opaque `cursor` (`next_cursor` of the previous page).
* Write endpoints need `Authorization: Bearer <COMMUNIQUE_API_TOKEN>`; without a configured token the server
  refuses every write. `PUT /api/rules` validates the alert rules and replaces the YAML file named by
  `COMMUNIQUE_RULES`; the store and the relay use the new rules on their next run.
* Read endpoints are rate limited per client address (429 with `Retry-After`).
"""


def _validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    parts = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg')}")
    return {"detail": errors, "message": "; ".join(parts)}


def _is_read(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and request.url.path.startswith(("/api/", "/feeds/"))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Communiqué",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "meetings", "description": "merged meeting records"},
            {"name": "feeds", "description": "Atom feeds for feed readers"},
            {"name": "sources", "description": "the polled sources and their health"},
            {"name": "people", "description": "the office-holder registry"},
            {"name": "rules", "description": "the alert rules (secrets redacted)"},
            {"name": "operations", "description": "health and metrics"},
        ],
    )
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.api_rate_per_s, settings.api_rate_burst)

    @app.middleware("http")
    async def rate_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if _is_read(request):
            client = request.client.host if request.client else "unknown"
            wait = request.app.state.limiter.check(client)
            if wait:
                return JSONResponse(
                    {"detail": f"rate limit exceeded: retry in {wait} s"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type", "input")} for e in exc.errors()]
        return JSONResponse(jsonable_encoder(_validation_body(errors)), status_code=422)

    @app.exception_handler(BadParameter)
    async def on_bad_parameter(request: Request, exc: BadParameter) -> JSONResponse:
        errors = [{"loc": ["query", exc.param], "msg": exc.message, "type": "value_error"}]
        return JSONResponse(_validation_body(errors), status_code=422)

    @app.exception_handler(SQLAlchemyError)
    async def on_database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"database unavailable: {type(exc).__name__}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.include_router(routes_meetings.router)
    app.include_router(routes_sources.router)
    app.include_router(routes_people.router)
    app.include_router(routes_rules.router)
    app.include_router(routes_ops.router)
    # The WebSub callback (GET verification, POST content): services.fetcher.websub.
    app.include_router(websub.router_for(settings))
    # The dashboard (services.web): pages at /, /network, /person, /sources, /alerts; assets under /static.
    web_routes.install(app)
    return app
