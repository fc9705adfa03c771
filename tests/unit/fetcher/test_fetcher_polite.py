"""``services.fetcher.polite``: holds, robots.txt outcomes, host spacing (fake clock and client), and the two
host-state stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.db import session_factory
from services.core.domain import FetchedDoc
from services.core.metrics import render_metrics
from services.core.settings import Settings
from services.fetcher.http import FetchError, HTTPStatusError, TooManyRedirects
from services.fetcher.polite import (
    DbHosts,
    HostHeld,
    Hosts,
    MemoryHosts,
    PoliteClient,
    RobotsDisallowed,
    host_key,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class FakeClient:
    """Answers by path: bytes (200), an int status (raised as HTTPStatusError), or an exception."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc:
        self.requests.append(url)
        path = "/" + url.split("/", 3)[3]
        answer = self.answers.get(path, 404)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            code, retry_after = answer
            raise HTTPStatusError(code, retry_after, url=url)
        if isinstance(answer, int):
            raise HTTPStatusError(answer, None, url=url)
        assert isinstance(answer, bytes)
        return FetchedDoc(url=url, final_url=url, status=200, headers={}, body=answer, fetched_at=T0)

    def close(self) -> None:
        pass


def polite(
    answers: dict[str, object], hosts: Hosts | None = None, **settings: object
) -> tuple[PoliteClient, FakeClient, Clock]:
    clock = Clock()
    fake = FakeClient(answers)
    client = PoliteClient(
        fake, Settings(**settings), hosts or MemoryHosts(), clock=clock, sleep=clock.sleep  # type: ignore[arg-type]
    )
    return client, fake, clock


def test_host_key() -> None:
    assert host_key("https://MFA.gov.kz:443/a") == "mfa.gov.kz"
    assert host_key("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert host_key("http://[::1]:80/") == "[::1]"


@pytest.mark.parametrize(
    ("robots", "allowed"),
    [
        (b"User-agent: *\nDisallow: /private/\n", True),
        (404, True),  # RFC 9309: 4xx = no restrictions
        (403, True),
        (500, False),  # 5xx = complete disallow
        (FetchError("connection refused"), False),  # unreachable = complete disallow
        (TooManyRedirects("x"), True),  # more than five redirects: unavailable
    ],
)
def test_robots_outcomes(robots: object, allowed: bool) -> None:
    client, fake, _ = polite({"/robots.txt": robots, "/news/": b"ok"}, host_spacing_s=0)
    if allowed:
        assert client.get("https://mfa.example/news/").body == b"ok"
    else:
        with pytest.raises(RobotsDisallowed):
            client.get("https://mfa.example/news/")
        assert fake.requests == ["https://mfa.example/robots.txt"]


def test_robots_disallowed_path_is_not_requested_and_robots_is_cached() -> None:
    client, fake, clock = polite({"/robots.txt": b"User-agent: *\nDisallow: /private/\n"}, host_spacing_s=0)
    with pytest.raises(RobotsDisallowed):
        client.get("https://mfa.example/private/x")
    with pytest.raises(RobotsDisallowed):
        client.get("https://mfa.example/private/y")
    assert fake.requests == ["https://mfa.example/robots.txt"]
    clock.now += timedelta(hours=25)  # past the 24 h cache
    with pytest.raises(RobotsDisallowed):
        client.get("https://mfa.example/private/z")
    assert fake.requests.count("https://mfa.example/robots.txt") == 2


def test_crawl_delay_widens_spacing() -> None:
    client, _, clock = polite(
        {"/robots.txt": b"User-agent: *\nCrawl-delay: 5\n", "/a": b"a", "/b": b"b"}, host_spacing_s=1
    )
    client.get("https://mfa.example/a")
    client.get("https://mfa.example/b")
    assert clock.slept[-1] == pytest.approx(5.0)


def test_spacing_serialises_requests_per_host_only() -> None:
    client, _, clock = polite({"/a": b"a", "/b": b"b"}, host_spacing_s=2, respect_robots=False)
    client.get("https://one.example/a")
    client.get("https://two.example/a")  # another host: no wait
    assert clock.slept == []
    client.get("https://one.example/b")
    assert clock.slept == [pytest.approx(2.0)]


def test_source_spacing_override() -> None:
    client, _, clock = polite({"/a": b"a"}, host_spacing_s=2, respect_robots=False)
    slow = client.for_source(10.0)
    slow.get("https://one.example/a")
    slow.get("https://one.example/a")
    assert clock.slept == [pytest.approx(10.0)]
    assert client.for_source(None) is client


def test_slot_too_far_away_is_not_waited_for() -> None:
    client, fake, _ = polite({"/a": b"a"}, host_spacing_s=100, host_max_wait_s=60, respect_robots=False)
    client.get("https://one.example/a")
    with pytest.raises(HostHeld) as held:
        client.get("https://one.example/a")
    assert held.value.reason == "spacing"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("spacing", [0.0, 2.0])
def test_retry_after_holds_the_host(spacing: float) -> None:
    client, fake, clock = polite(
        {"/a": (429, 120.0), "/b": b"b"}, host_spacing_s=spacing, respect_robots=False
    )
    with pytest.raises(HTTPStatusError):
        client.get("https://one.example/a")
    with pytest.raises(HostHeld) as held:
        client.get("https://one.example/b")
    assert held.value.until == T0 + timedelta(seconds=120)
    assert len(fake.requests) == 1
    clock.now += timedelta(seconds=121)
    assert client.get("https://one.example/b").body == b"b"


def test_retry_after_hold_is_capped() -> None:
    client, _, _ = polite({"/a": (503, 10**9)}, host_spacing_s=0, respect_robots=False)
    with pytest.raises(HTTPStatusError):
        client.get("https://one.example/a")
    with pytest.raises(HostHeld) as held:
        client.get("https://one.example/a")
    assert held.value.until <= T0 + timedelta(days=1)


def test_429_without_retry_after_is_no_hold() -> None:
    client, fake, _ = polite({"/a": 429}, host_spacing_s=0, respect_robots=False)
    for _ in range(2):
        with pytest.raises(HTTPStatusError):
            client.get("https://one.example/a")
    assert len(fake.requests) == 2


def test_db_hosts_share_state_between_clients(sqlite_url: str) -> None:
    hosts = DbHosts(session_factory(sqlite_url))
    robots = b"User-agent: *\nDisallow: /x\n"
    a, fake_a, clock = polite({"/robots.txt": robots, "/a": b"a"}, hosts, host_spacing_s=3)
    other = DbHosts(session_factory(sqlite_url))
    b = PoliteClient(
        FakeClient({"/a": b"a"}), Settings(host_spacing_s=3), other, clock=clock, sleep=clock.sleep
    )
    a.get("https://one.example/a")
    b.get("https://one.example/a")  # another worker: robots.txt from the table, and the slot after a's
    assert fake_a.requests == ["https://one.example/robots.txt", "https://one.example/a"]
    assert clock.slept[-1:] == [pytest.approx(3.0)]
    with pytest.raises(RobotsDisallowed):
        b.get("https://one.example/x")
    hosts.hold("one.example", T0 + timedelta(hours=1), "test", T0)
    with pytest.raises(HostHeld):
        b.get("https://one.example/a")


def test_metrics_count_requests() -> None:
    client, _, _ = polite({"/m": b"12345"}, host_spacing_s=0, respect_robots=False)
    client.get("https://metrics.example/m")
    text = render_metrics()[0].decode()
    assert 'communique_fetch_requests_total{host="metrics.example",outcome="ok"}' in text
    assert 'communique_fetch_bytes_total{host="metrics.example"}' in text
    assert "communique_fetch_seconds_bucket" in text


def test_metrics_source_states(sqlite_url: str) -> None:
    from services.core import pipeline
    from services.fetcher.sources import SourceDef

    pipeline.sync_sources(
        Settings(database_url=sqlite_url),
        [SourceDef(id="s1", name="s", country="KAZ", language="en", kind="rss", url="https://a.example/f")],
    )
    text = render_metrics(sqlite_url)[0].decode()
    assert 'communique_source_state{source="s1",state="ok"} 1.0' in text
    assert 'communique_source_state{source="s1",state="broken"} 0.0' in text


class RedirectingClient(FakeClient):
    """A fake guarded client following ``redirects`` (url -> next url), calling ``on_hop`` too."""

    hop_hook = True

    def __init__(self, answers: dict[str, object], redirects: dict[str, str]) -> None:
        super().__init__(answers)
        self.redirects = redirects

    def get(  # type: ignore[override]
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, on_hop: object = None
    ) -> FetchedDoc:
        while url in self.redirects:
            self.requests.append(url)
            url = self.redirects[url]
            if callable(on_hop):
                on_hop(url)
        return super().get(url)


def test_every_redirect_hop_gets_its_hosts_robots_and_spacing() -> None:
    clock = Clock()
    answers: dict[str, object] = {"/robots.txt": b"User-agent: *\nDisallow: /private/\n", "/public/a": b"a"}
    fake = RedirectingClient(
        answers,
        {
            "https://one.example/x": "https://two.example/private/x",
            "https://one.example/y": "https://two.example/public/a",
            "https://one.example/z": "https://two.example/public/a",
        },
    )
    client = PoliteClient(fake, Settings(host_spacing_s=3), MemoryHosts(), clock=clock, sleep=clock.sleep)
    with pytest.raises(RobotsDisallowed, match="two.example"):
        client.get("https://one.example/x")
    assert "https://two.example/private/x" not in fake.requests
    assert "https://two.example/robots.txt" in fake.requests
    clock.slept.clear()
    client.get("https://one.example/y")
    client.get("https://one.example/z")
    # The second hop to two.example waits for that host's slot, though one.example's own slot was free.
    assert fake.requests.count("https://two.example/public/a") == 2
    assert clock.slept
    assert max(clock.slept) == pytest.approx(3.0)
