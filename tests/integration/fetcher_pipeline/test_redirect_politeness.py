"""robots.txt and host spacing apply to every redirect hop, not only to the first URL's host: a redirect to a
second local host (127.0.0.2, allowed by the network policy here) is checked against that host's own
robots.txt and spaced on that host's own slot."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.core.db import session_factory
from services.store.models import FetchHostRow
from services.store.uow import UnitOfWork
from tests.integration.fetcher_pipeline.server import Server, page, serve, status
from tests.integration.fetcher_pipeline.test_fetcher_pipeline import (
    ARTICLE,
    documents,
    feed_source,
    make_settings,
    rss,
    run,
    site,
)

pytestmark = pytest.mark.integration

__all__ = ["site"]  # the fixture, re-used

BOTH = "127.0.0.1/32,127.0.0.2/32"


def test_redirect_to_a_host_whose_robots_disallows_the_path_is_not_fetched(
    site: Server, sqlite_url: str
) -> None:
    with serve({}, host="127.0.0.2") as other:
        other.routes["/robots.txt"] = page(b"User-agent: *\nDisallow: /private/\n", "text/plain")
        other.routes["/private/x.html"] = page(ARTICLE)
        other.routes["/public/y.html"] = page(ARTICLE.replace(b"today", b"tomorrow"))
        site.routes["/x.html"] = status(302, {"Location": other.url("/private/x.html")})
        site.routes["/y.html"] = status(302, {"Location": other.url("/public/y.html")})
        site.routes["/feed.xml"] = page(rss(site.base, ["/x.html", "/y.html"]), "application/rss+xml")
        settings = make_settings(sqlite_url, allow_private_networks=BOTH)
        run(settings, [feed_source("kz", site.url("/feed.xml"))])
        assert other.hits_for("/private/x.html") == []
        assert len(other.hits_for("/public/y.html")) == 1
        assert len(other.hits_for("/robots.txt")) == 1  # the hop host's own robots.txt, fetched once
    docs = {d.canonical_url.rsplit("/", 1)[-1]: d for d in documents(sqlite_url)}
    assert docs["x.html"].status == "failed"
    assert "RobotsDisallowed" in (docs["x.html"].fetch_error or "")
    assert "127.0.0.2" in (docs["x.html"].fetch_error or "")
    assert docs["y.html"].status == "fetched"


def test_redirect_hops_to_another_host_are_spaced_on_that_host(site: Server, sqlite_url: str) -> None:
    with serve({}, host="127.0.0.2") as other:
        paths = [f"/n{i}.html" for i in range(3)]
        for i, p in enumerate(paths):
            # Each item lives on the first host but redirects to the second: only the second host's slot
            # keeps the hops to it apart.
            site.routes[p] = status(302, {"Location": other.url(p)})
            other.routes[p] = page(ARTICLE.replace(b"today", f"day {i}".encode()))
        site.routes["/feed.xml"] = page(rss(site.base, paths), "application/rss+xml")
        src = feed_source("kz", site.url("/feed.xml"))
        run(make_settings(sqlite_url, allow_private_networks=BOTH, host_spacing_s=0.4), [src])
        times = [h.at for h in other.hits]
        assert [h.path for h in other.hits][0] == "/robots.txt"
        assert len(times) == 4  # robots.txt, three items
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.38, gaps
    with UnitOfWork(session_factory(sqlite_url)) as uow:
        hosts = {r.host for r in uow.session.scalars(select(FetchHostRow))}
    assert any(h.startswith("127.0.0.2:") for h in hosts)
