"""The dashboard's Jinja2 environment and ``render(name, context) -> str``.

Every template is autoescaped whatever its file name (meeting text, titles and errors come from third-party
pages and from the network), and an undefined variable is an error rather than an empty string, so that a
mistake in a template fails its test instead of showing a blank.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.web import views as V

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "environment", "render", "static_url"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "Meetings", "meetings"),
    ("/network", "Network", "network"),
    ("/person", "People", "person"),
    ("/sources", "Sources", "sources"),
    ("/alerts", "Alerts", "alerts"),
)


@lru_cache(maxsize=64)
def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: browsers may cache assets for long, a new release is re-read."""
    file = (STATIC_DIR / path).resolve()
    if STATIC_DIR not in file.parents or not file.is_file():
        raise ValueError(f"no static file {path!r}")
    return f"/static/{path}?v={hashlib.sha256(file.read_bytes()).hexdigest()[:10]}"


def _utc(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        static=static_url,
        nav=NAV,
        level_options=V.level_options(),
        mode_labels=V.MODE_LABELS,
        level_labels=V.LEVEL_LABELS,
    )
    env.filters.update(utc=_utc, iso=_iso, country_name=V.country_name, flag=V.flag)
    return env


def render(name: str, context: dict[str, Any]) -> str:
    """The template ``name`` rendered with ``context`` (plus the globals: nav, static, labels)."""
    return environment().get_template(name).render(**context)
