"""``communique backfill SOURCE``: walk a listing back in time, page by page, through the polite client.

Each page is fetched (robots.txt, host spacing and holds apply as for any poll), its items become pending
documents exactly as in a poll (``stages.add_items``: one document per canonical URL, a known GUID is not
new), their fetches are sent to the queue, and the cursor is committed with them: ``source.backfill`` =
``{"next": url|None, "pages": n, "items": n, "new": n, "done": bool, "since": "YYYY-MM-DD"|None}``. An
interrupted backfill resumes from ``next``; a finished one starts again from the first page only with
``restart``.

Stops after ``pages`` pages, when a page has no ``next_page`` link, or (``since``) after a page whose dated
items are all older than ``since``. Feeds have no pages to walk: only ``html_list`` sources with a
``list.next_page`` selector can be backfilled (``BackfillError`` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.core.stages import Http, add_items
from services.fetcher.http import decode_text
from services.fetcher.listing import next_page_url, parse_listing
from services.fetcher.sources import SourceDef
from services.store.uow import UnitOfWork

__all__ = ["BackfillError", "BackfillPage", "backfill"]


class BackfillError(Exception):
    """The source cannot be backfilled (not a paginated listing, or not in the database)."""


@dataclass(frozen=True, slots=True)
class BackfillPage:
    url: str
    items: int
    new: int
    oldest: date | None
    cursor: dict[str, Any]


def backfill(
    uow_factory: Callable[[], UnitOfWork],
    source: SourceDef,
    client: Http,
    *,
    pages: int | None = None,
    since: date | None = None,
    restart: bool = False,
) -> Iterator[BackfillPage]:
    """Walk ``source``'s listing pages (module docstring), yielding after each committed page.
    ``uow_factory()`` gives a ``UnitOfWork`` whose ``send`` hands fetches to the queue."""
    if source.kind != "html_list" or source.list is None:
        raise BackfillError(f"{source.id} is a {source.kind} feed: only paginated listings can be backfilled")
    if not source.list.next_page:
        raise BackfillError(f"{source.id} has no list.next_page selector: there is only one page to read")
    with uow_factory() as uow:
        row = uow.sources.get(source.id)
        if row is None:
            raise BackfillError(f"source {source.id} is not in the database (run `communique run` once)")
        cursor: dict[str, Any] = dict(row.backfill or {})
    if restart or not cursor or cursor.get("done") or not cursor.get("next"):
        cursor = {"next": source.url, "pages": 0, "items": 0, "new": 0, "done": False}
    cursor["since"] = since.isoformat() if since else None
    walked = 0
    while cursor.get("next") and (pages is None or walked < pages):
        url = str(cursor["next"])
        doc = client.get(url)
        html = decode_text(doc.body, doc.headers.get("content-type"))
        base = doc.final_url or url
        items = parse_listing(html, base, source.list)
        following = next_page_url(html, base, source.list)
        dated = [i.published.date() for i in items if i.published is not None]
        oldest = min(dated) if dated else None
        now = datetime.now(UTC)
        with uow_factory() as uow:
            new, _ = add_items(uow, source.id, items, now)
            too_old = since is not None and oldest is not None and max(dated) < since
            loops = following is None or following == url
            cursor.update(
                next=None if loops or too_old else following,
                pages=int(cursor["pages"]) + 1,
                items=int(cursor["items"]) + len(items),
                new=int(cursor["new"]) + new,
                updated_at=now.isoformat(),
            )
            cursor["done"] = cursor["next"] is None
            row = uow.sources.get(source.id)
            assert row is not None
            row.backfill = dict(cursor)
            uow.commit()
        walked += 1
        yield BackfillPage(url=url, items=len(items), new=new, oldest=oldest, cursor=dict(cursor))
