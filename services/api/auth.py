"""Bearer-token authentication of the write endpoints.

Heuristic: writes are refused unless ``COMMUNIQUE_API_TOKEN`` is set and the request carries it as
``Authorization: Bearer <token>``. No token configured means no writes at all (401), so a fresh deployment is
read-only until an operator chooses a token. The comparison is constant-time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["require_token", "token_ok"]

_bearer = HTTPBearer(auto_error=False, description="COMMUNIQUE_API_TOKEN")


def token_ok(configured: str | None, presented: str | None) -> bool:
    """True only when a token is configured and the presented one equals it."""
    if not configured or presented is None:
        return False
    return hmac.compare_digest(configured.encode(), presented.encode())


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """FastAPI dependency of every write endpoint."""
    configured: str | None = request.app.state.settings.api_token
    if not configured:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "writes are disabled: the server has no COMMUNIQUE_API_TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    presented = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    if not token_ok(configured, presented):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
