from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from services.core.domain import FetchedDoc
from services.core.settings import Settings
from services.fetcher.feeds import FeedError
from services.fetcher.http import GuardedClient, HTTPStatusError
from services.fetcher.listing import ListingEmpty
from services.fetcher.poll import poll_source
from services.fetcher.sources import SourceDef

NOW = datetime(2026, 1, 1, tzinfo=UTC)

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><ttl>60</ttl>
<item><title>A</title><link>https://mfa.example/a</link><guid>a</guid></item>
<item><title>B</title><link>https://mfa.example/b?utm_source=rss</link><guid>b</guid></item>
</channel></rss>"""

LISTING = b"""<html><body><ul class="news">
<li><a href="/n/1">One</a> <span>2025-10-01</span></li><li><a href="/n/2">Two</a> <span>2025-10-02</span></li>
</ul><a class="next" href="?page=2">next</a></body></html>"""


class FakeClient:
    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.calls: list[tuple[str, str | None, str | None]] = []

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc:
        self.calls.append((url, etag, last_modified))
        return FetchedDoc(url, url, self.status, dict(self.headers), self.body, NOW)


def _rss() -> SourceDef:
    return SourceDef(
        id="r", name="R", country="KAZ", language="en", kind="rss", url="https://mfa.example/rss"
    )


def _html() -> SourceDef:
    return SourceDef.model_validate(
        {
            "id": "h",
            "name": "H",
            "country": "KAZ",
            "language": "en",
            "kind": "html_list",
            "url": "https://mfa.example/news",
            "list": {"item": "ul.news li > a", "next_page": "a.next"},
        }
    )


def test_feed_poll() -> None:
    client = FakeClient(200, RSS, {"etag": '"e2"', "last-modified": "Wed, 31 Dec 2025 10:00:00 GMT"})
    result = poll_source(_rss(), client, etag='"e1"', last_modified=None, now=NOW)
    assert client.calls == [("https://mfa.example/rss", '"e1"', None)]
    assert not result.not_modified
    assert result.status == 200
    assert [i.url for i in result.items] == ["https://mfa.example/a", "https://mfa.example/b"]
    assert result.etag == '"e2"'
    assert result.last_modified == "Wed, 31 Dec 2025 10:00:00 GMT"
    assert result.hints.ttl_s == 3600


def test_not_modified_keeps_validators() -> None:
    client = FakeClient(304, headers={"cache-control": "max-age=300"})
    result = poll_source(_rss(), client, etag='"e1"', last_modified="Mon, 01 Dec 2025 00:00:00 GMT", now=NOW)
    assert result.not_modified
    assert result.items == []
    assert result.status == 304
    assert result.etag == '"e1"'
    assert result.last_modified == "Mon, 01 Dec 2025 00:00:00 GMT"
    assert result.hints.max_age_s == 300


def test_listing_poll() -> None:
    result = poll_source(_html(), FakeClient(200, LISTING), None, None, now=NOW)
    assert [i.url for i in result.items] == ["https://mfa.example/n/1", "https://mfa.example/n/2"]
    assert result.items[0].published == datetime(2025, 10, 1, tzinfo=UTC)
    assert result.next_page == "https://mfa.example/news?page=2"


def test_errors_propagate() -> None:
    with pytest.raises(ListingEmpty):
        poll_source(_html(), FakeClient(200, b"<html>maintenance</html>"), None, None)
    with pytest.raises(FeedError):
        poll_source(_rss(), FakeClient(200, b"<html>WAF challenge</html>"), None, None)


def test_with_guarded_client_and_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/gone":
            return httpx.Response(410)
        if request.headers.get("if-none-match") == '"v"':
            return httpx.Response(304)
        return httpx.Response(200, content=RSS, headers={"ETag": '"v"'})

    settings = Settings(allow_private_networks="false")
    with GuardedClient(settings, transport=httpx.MockTransport(handler)) as client:
        first = poll_source(_rss(), client, None, None)
        assert len(first.items) == 2
        assert first.etag == '"v"'
        second = poll_source(_rss(), client, first.etag, first.last_modified)
        assert second.not_modified
        gone = _rss().model_copy(update={"url": "https://mfa.example/gone"})
        with pytest.raises(HTTPStatusError) as info:
            poll_source(gone, client, None, None)
        assert info.value.status == 410
