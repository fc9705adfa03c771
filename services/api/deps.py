"""Per-request dependencies: the settings the app was built with, a read session, the repository."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.api.repository import ApiRepository
from services.core.db import session_factory
from services.core.settings import Settings

__all__ = ["Repo", "get_repository", "get_settings_of_app"]


def get_settings_of_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_repository(request: Request) -> Iterator[ApiRepository]:
    """A session per request, closed (rolled back unless the route committed) when the response is built."""
    session: Session = session_factory(get_settings_of_app(request).database_url)()
    try:
        yield ApiRepository(session)
    finally:
        session.rollback()
        session.close()


Repo = Annotated[ApiRepository, Depends(get_repository)]
