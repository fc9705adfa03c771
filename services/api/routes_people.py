"""``/api/people``: the office-holder registry (services.parser.registry), filtered."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.api import filters as F
from services.api.schemas import PersonPage
from services.core.domain import Role
from services.parser.registry import Registry, Term

__all__ = ["router", "select_terms"]

router = APIRouter(tags=["people"])

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def select_terms(
    registry: Registry,
    *,
    country: str | None = None,
    org: str | None = None,
    role: str | None = None,
    on: date | None = None,
    q: str | None = None,
) -> list[Term]:
    """Terms matching every given filter: with ``q``, in the registry's name-match order (best first);
    otherwise in registry order. ``on`` keeps the terms that cover that day."""
    terms = registry.by_name(q, on) if q is not None else list(registry)
    out: list[Term] = []
    for t in terms:
        if country is not None and t.country != country:
            continue
        if org is not None and (t.org or "").casefold() != org.casefold():
            continue
        if role is not None and t.role != role:
            continue
        if on is not None and not t.active(on):
            continue
        out.append(t)
    return out


@router.get("/api/people", response_model=PersonPage, summary="Office holders (dated terms)")
def list_people(
    country: Annotated[
        str | None,
        Query(description="ISO 3166-1 alpha-3 code", json_schema_extra={"pattern": "^[A-Za-z]{3}$"}),
    ] = None,
    org: Annotated[str | None, Query(description="organisation short name")] = None,
    role: Annotated[Role | None, Query()] = None,
    on: Annotated[
        str | None,
        Query(description="in office on this day (YYYY-MM-DD)", json_schema_extra={"format": "date"}),
    ] = None,
    q: Annotated[str | None, Query(description="a name, in any script")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    day: date | None = None
    if on is not None:
        try:
            if not _DAY.match(on):
                raise ValueError
            day = date.fromisoformat(on)
        except ValueError:
            raise F.BadParameter("on", f"{on!r} is not a date (YYYY-MM-DD)") from None
    found = select_terms(
        Registry.default(),
        country=F.parse_iso3(country, "country") if country is not None else None,
        org=F.parse_org(org) if org is not None else None,
        role=role,
        on=day,
        q=F.check_text(q, "q") if q is not None else None,
    )
    page = found[offset : offset + limit]
    return {
        "items": [
            {
                "person_id": t.person_id,
                "name": t.name,
                "variants": list(t.variants),
                "country": t.country,
                "org": t.org,
                "role": t.role,
                "office": t.office,
                "start": t.start,
                "end": t.end,
            }
            for t in page
        ],
        "total": len(found),
        "next_offset": offset + limit if offset + limit < len(found) else None,
    }
