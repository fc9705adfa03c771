"""Paging with post-filters (services.api.query) over a fake repository: budget and cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from services.api.filters import Cursor, MeetingFilter
from services.api.query import page_meetings
from services.api.repository import ApiRepository, MeetingView

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class FakeRepo:
    def __init__(self, n: int, match_every: int) -> None:
        self.views = [
            MeetingView(
                {
                    "id": f"m{i:03d}",
                    "date": (date(2025, 1, 1) - timedelta(days=i)).isoformat(),
                    "participants": [{"name": "Hit" if i % match_every == 0 else "Miss", "role": "official"}],
                },
                T0,
                T0,
            )
            for i in range(n)
        ]
        self.calls = 0

    def meetings(self, f: MeetingFilter, after: Cursor | None, limit: int) -> list[MeetingView]:
        self.calls += 1
        start = 0
        if after is not None:
            start = next(i for i, v in enumerate(self.views) if v.record["id"] == after.id) + 1
        return self.views[start : start + limit]


def follow(repo: Any, **kw: Any) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor = None
    for pages in range(1, 1000):
        page = page_meetings(cast(ApiRepository, repo), MeetingFilter(), after=cursor, **kw)
        seen += [v.record["id"] for v in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages
    raise AssertionError("no end")


def test_plain_paging_has_no_empty_last_page() -> None:
    seen, pages = follow(FakeRepo(10, 1), limit=5)
    assert len(seen) == 10
    assert pages == 2


def test_post_filter_finds_every_match_under_a_small_budget() -> None:
    repo = FakeRepo(100, 7)
    seen, pages = follow(repo, limit=3, person="hit", scan_limit=10)
    assert seen == [f"m{i:03d}" for i in range(0, 100, 7)]
    assert pages >= 10  # the budget cut requests short; the cursors carried on


def test_budget_bounds_the_rows_one_request_reads() -> None:
    repo = FakeRepo(1000, 1000)
    page = page_meetings(
        cast(ApiRepository, repo), MeetingFilter(), after=None, limit=5, q="nothing", scan_limit=250
    )
    assert page.items == []
    assert page.scanned == 250
    assert page.next_cursor is not None
