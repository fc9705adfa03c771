"""``communique backfill``: walks a listing's pages politely, resumable, with a progress bar; and
``communique sources test ID --file PAGE`` on a saved listing page."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from services.core.cli import cli
from services.core.db import dispose_engines, session_factory
from services.core.settings import reset_settings
from services.store.models import DocumentRow, SourceRow
from services.store.uow import UnitOfWork
from tests.integration.fetcher_pipeline.server import Server, page, serve

pytestmark = pytest.mark.integration

ARTICLE = b"<html><body><h1>Note %d</h1><div class='text'><p>Nothing of note, part %d.</p></div></body>"


def listing(items: list[tuple[int, str]], next_href: str | None) -> bytes:
    rows = "".join(
        f'<li><a class="headline" href="/n/{i}.html">Note {i}</a> <span class="date">{day}</span></li>'
        for i, day in items
    )
    nxt = f'<a class="next" href="{next_href}">Older</a>' if next_href else ""
    return f'<html><body><ul class="news">{rows}</ul>{nxt}</body></html>'.encode()


@pytest.fixture
def site() -> Iterator[Server]:
    routes = {
        "/news/": page(listing([(1, "05.03.2025"), (2, "04.03.2025")], "/news/?p=2")),
        "/news/p2": page(listing([(3, "03.03.2025"), (4, "02.03.2025")], "/news/p3")),
        "/news/p3": page(listing([(5, "01.02.2025")], None)),
    }
    for i in range(1, 6):
        routes[f"/n/{i}.html"] = page(ARTICLE % (i, i))
    with serve(routes) as server:
        # The server routes by path: page 2 is /news/?p=2, answered here.
        first, second = server.routes["/news/"], server.routes["/news/p2"]

        def news(h: BaseHTTPRequestHandler) -> None:
            (second if "p=2" in h.path else first)(h)

        server.routes["/news/"] = news
        yield server


@pytest.fixture
def env(site: Server, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        yaml.safe_dump(
            [
                {
                    "id": "fi",
                    "name": "fi",
                    "country": "FIN",
                    "language": "en",
                    "kind": "html_list",
                    "url": site.url("/news/"),
                    "list": {"item": "ul.news li a.headline", "date": "span.date", "next_page": "a.next"},
                    "article": {"title": "h1", "body": "div.text"},
                }
            ]
        )
    )
    monkeypatch.setenv("COMMUNIQUE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMUNIQUE_ALLOW_PRIVATE_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("COMMUNIQUE_HOST_SPACING_S", "0")
    monkeypatch.delenv("COMMUNIQUE_BROKER_URL", raising=False)
    reset_settings()
    yield sources
    reset_settings()
    dispose_engines()


def _docs(db: str) -> list[str]:
    with UnitOfWork(session_factory(db)) as uow:
        return sorted(
            d.canonical_url.rsplit("/", 1)[-1] + ":" + d.status
            for d in uow.session.scalars(select(DocumentRow))
        )


def _cursor(db: str) -> dict[str, object]:
    with UnitOfWork(session_factory(db)) as uow:
        row = uow.session.get(SourceRow, "fi")
        assert row is not None
        return dict(row.backfill or {})


def test_backfill_walks_pages_resumes_and_shows_progress(site: Server, env: Path, sqlite_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["backfill", "fi", "--pages", "2", "--sources", str(env)])
    assert first.exit_code == 0, first.output
    assert "backfill fi" in first.stderr  # the progress bar, on stderr
    assert _docs(sqlite_url) == [f"{i}.html:fetched" for i in range(1, 5)]
    cursor = _cursor(sqlite_url)
    assert cursor["pages"] == 2
    assert cursor["done"] is False
    assert str(cursor["next"]).endswith("/news/p3")

    second = runner.invoke(cli, ["backfill", "fi", "--sources", str(env)])  # resumes at page 3
    assert second.exit_code == 0, second.output
    assert len(site.hits_for("/news/p3")) == 1
    assert len(site.hits_for("/news/")) == 2  # page 1 and page 2 (?p=2), once each: not walked again
    assert _docs(sqlite_url) == [f"{i}.html:fetched" for i in range(1, 6)]
    assert _cursor(sqlite_url)["done"] is True
    assert len(site.hits_for("/robots.txt")) == 1  # cached in the database across runs


def test_backfill_since_stops_at_older_items(site: Server, env: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["backfill", "fi", "--since", "2025-03-04", "--sources", str(env)])
    assert result.exit_code == 0, result.output
    # Page 1 (5 and 4 March) is new enough; page 2 (3 and 2 March) is older: read, then the walk stops.
    assert site.hits_for("/news/p3") == []
    cursor = _cursor(sqlite_url)
    assert cursor["pages"] == 2
    assert cursor["done"] is True


def test_backfill_refuses_a_feed(env: Path, tmp_path: Path) -> None:
    feed = tmp_path / "feed.yaml"
    feed.write_text(
        yaml.safe_dump(
            [
                {
                    "id": "kz",
                    "name": "kz",
                    "country": "KAZ",
                    "language": "en",
                    "kind": "rss",
                    "url": "https://example.org/feed.xml",
                }
            ]
        )
    )
    result = CliRunner().invoke(cli, ["backfill", "kz", "--sources", str(feed)])
    assert result.exit_code == 2
    assert "only paginated listings" in result.output


def test_sources_test_runs_the_definition_on_a_saved_listing(env: Path, tmp_path: Path) -> None:
    saved = tmp_path / "listing.html"
    saved.write_bytes(listing([(7, "05.03.2025"), (8, "04.03.2025")], "/news/p2"))
    result = CliRunner().invoke(cli, ["sources", "test", "fi", "--file", str(saved), "--sources", str(env)])
    assert result.exit_code == 0, result.output
    assert "2 item(s)" in result.stdout
    assert "/n/7.html" in result.stdout
    assert "2025-03-05" in result.stdout
    assert "next page:" in result.stdout
    assert "/news/p2" in result.stdout
