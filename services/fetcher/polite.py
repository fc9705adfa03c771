"""Politeness around the guarded client: every fetch of the pipeline goes through ``PoliteClient.get``.

Per request, in this order:

1. **Hold.** A host that answered 429/503 with ``Retry-After`` is on hold until then (capped at
   ``schedule.BACKOFF_CAP_S``): nothing is sent, ``HostHeld`` is raised, and the caller reschedules instead of
   counting a failure.
2. **robots.txt** (``settings.respect_robots``), RFC 9309 (``services.fetcher.robots``): fetched through the
   guarded client, cached 24 h in ``fetch_host`` (shared by every worker; an unreachable or 5xx robots.txt is
   re-tried after ``ROBOTS_RETRY_S``, and means "disallow everything" meanwhile). A disallowed URL raises
   ``RobotsDisallowed``: the document or source records it as its visible error.
3. **Spacing.** One request at a time per host, spaced by the source's ``host_spacing`` or
   ``settings.host_spacing_s`` (widened by a robots ``Crawl-delay``, at most ``MAX_CRAWL_DELAY_S``). Workers
   reserve the next slot atomically in ``fetch_host.next_at`` and sleep until it; when the slot is further
   away than ``settings.host_max_wait_s`` nothing is reserved and ``HostHeld`` is raised (the task must not
   sleep for minutes). After the answer the next slot moves to ``done + spacing``, so a slow answer widens the
   gap. Spacing 0 skips the reservation (the benchmark's local sources); the hold is then re-read from the
   shared state at most every ``HOLD_RECHECK_S``.

The host state lives behind ``Hosts``: ``DbHosts`` (the ``fetch_host`` table: shared by the Celery workers of
one database, and by successive embedded runs) or ``MemoryHosts`` (one process: dry runs and tools without a
database). Redirect hops are followed inside the guarded client, which calls back before each hop
(``on_hop``): the hop's URL is checked against its own host's robots.txt, and a host not yet visited in this
fetch gets its own spacing slot (held until the fetch ends), so a redirect to another host is as polite as a
direct request to it. The SSRF guard applies to every hop as well.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from services.core.domain import FetchedDoc
from services.core.settings import Settings
from services.fetcher import schedule
from services.fetcher.http import FetchError, HTTPStatusError, TooManyRedirects
from services.fetcher.robots import RobotsPolicy, parse_robots

if TYPE_CHECKING:
    from services.store.repository import HostRepository

__all__ = [
    "MAX_CRAWL_DELAY_S",
    "ROBOTS_TTL_S",
    "ROBOTS_RETRY_S",
    "DbHosts",
    "HostHeld",
    "Hosts",
    "MemoryHosts",
    "PoliteClient",
    "RobotsDisallowed",
    "host_key",
]

ROBOTS_TTL_S = 24 * 3600
ROBOTS_RETRY_S = 3600
MAX_CRAWL_DELAY_S = 60.0
HOLD_RECHECK_S = 1.0


class HostHeld(FetchError):
    """Nothing was sent: the host is on hold (Retry-After) or its next free slot is too far away."""

    def __init__(self, host: str, until: datetime, reason: str) -> None:
        super().__init__(f"host {host} held until {until.isoformat(timespec='seconds')}: {reason}")
        self.host = host
        self.until = until
        self.reason = reason


class RobotsDisallowed(FetchError):
    """robots.txt of the host does not allow this URL for our user agent (nothing was sent)."""


def host_key(url: str) -> str:
    """``host[:port]`` in lower case, default ports dropped: the unit of spacing, holds and robots."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme.lower() == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return shown if port in (None, default) else f"{shown}:{port}"


@dataclass(frozen=True, slots=True)
class RobotsRecord:
    status: int | None
    body: str | None
    expires_at: datetime


class Hosts(Protocol):
    """Shared per-host state (see the module docstring)."""

    def hold_until(self, host: str, now: datetime) -> datetime | None: ...
    def reserve(
        self, host: str, now: datetime, spacing_s: float, max_wait_s: float
    ) -> tuple[float | None, datetime | None]: ...
    def release(self, host: str, done: datetime, spacing_s: float) -> None: ...
    def hold(self, host: str, until: datetime, reason: str, now: datetime) -> None: ...
    def robots(self, host: str) -> RobotsRecord | None: ...
    def save_robots(self, host: str, record: RobotsRecord, now: datetime) -> None: ...


class MemoryHosts:
    """Host state of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, datetime] = {}
        self._holds: dict[str, datetime] = {}
        self._robots: dict[str, RobotsRecord] = {}

    def hold_until(self, host: str, now: datetime) -> datetime | None:
        until = self._holds.get(host)
        return until if until is not None and until > now else None

    def reserve(
        self, host: str, now: datetime, spacing_s: float, max_wait_s: float
    ) -> tuple[float | None, datetime | None]:
        with self._lock:
            held = self.hold_until(host, now)
            if held is not None:
                return None, held
            start = max(self._next.get(host, now), now)
            wait = (start - now).total_seconds()
            if wait > max_wait_s:
                return None, start
            self._next[host] = start + timedelta(seconds=spacing_s)
            return wait, None

    def release(self, host: str, done: datetime, spacing_s: float) -> None:
        with self._lock:
            later = done + timedelta(seconds=spacing_s)
            if self._next.get(host, later) <= later:
                self._next[host] = later

    def hold(self, host: str, until: datetime, reason: str, now: datetime) -> None:
        with self._lock:
            if self._holds.get(host, until) <= until:
                self._holds[host] = until

    def robots(self, host: str) -> RobotsRecord | None:
        return self._robots.get(host)

    def save_robots(self, host: str, record: RobotsRecord, now: datetime) -> None:
        self._robots[host] = record


class DbHosts:
    """Host state in the ``fetch_host`` table; every call is a short transaction of its own."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def _repo(self, session: Session) -> HostRepository:
        from services.store.repository import HostRepository

        return HostRepository(session)

    def hold_until(self, host: str, now: datetime) -> datetime | None:
        with self._sessions() as session:
            row = self._repo(session).get(host)
            if row is None or row.hold_until is None or row.hold_until <= now:
                return None
            return row.hold_until

    def reserve(
        self, host: str, now: datetime, spacing_s: float, max_wait_s: float
    ) -> tuple[float | None, datetime | None]:
        with self._sessions() as session, session.begin():
            return self._repo(session).reserve(host, now, spacing_s, max_wait_s)

    def release(self, host: str, done: datetime, spacing_s: float) -> None:
        with self._sessions() as session, session.begin():
            self._repo(session).release(host, done, spacing_s)

    def hold(self, host: str, until: datetime, reason: str, now: datetime) -> None:
        with self._sessions() as session, session.begin():
            self._repo(session).hold(host, until, reason, now)

    def robots(self, host: str) -> RobotsRecord | None:
        with self._sessions() as session:
            row = self._repo(session).get(host)
            if row is None or row.robots_expires_at is None:
                return None
            return RobotsRecord(row.robots_status, row.robots_body, row.robots_expires_at)

    def save_robots(self, host: str, record: RobotsRecord, now: datetime) -> None:
        with self._sessions() as session, session.begin():
            self._repo(session).save_robots(host, record.status, record.body, now, record.expires_at)


class Client(Protocol):
    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc: ...
    def close(self) -> None: ...


@dataclass
class _ProcessState:
    """What the views of one ``PoliteClient`` share in this process: parsed robots policies, recently read
    holds (host -> (monotonic time read, hold until or None)) and per-host robots.txt fetch locks."""

    policies: dict[str, tuple[RobotsPolicy, datetime]] = field(default_factory=dict)
    holds: dict[str, tuple[float, datetime | None]] = field(default_factory=dict)
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def robots_lock(self, host: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(host, threading.Lock())


class PoliteClient:
    """``GuardedClient`` plus holds, robots.txt and host spacing (module docstring). Thread-safe as long as
    the inner client is; ``for_source`` gives a view with the source's spacing override."""

    def __init__(
        self,
        inner: Client,
        settings: Settings,
        hosts: Hosts | None = None,
        *,
        spacing_s: float | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        _shared: _ProcessState | None = None,
    ) -> None:
        self.inner = inner
        self.settings = settings
        self.hosts: Hosts = hosts if hosts is not None else MemoryHosts()
        self.spacing_s = settings.host_spacing_s if spacing_s is None else spacing_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._shared = _shared or _ProcessState()
        self._policies = self._shared.policies
        self._holds = self._shared.holds

    def for_source(self, host_spacing: float | None) -> PoliteClient:
        """The same client and shared state, spaced by a source's own ``host_spacing`` when it has one."""
        if host_spacing is None or host_spacing == self.spacing_s:
            return self
        return PoliteClient(
            self.inner,
            self.settings,
            self.hosts,
            spacing_s=host_spacing,
            clock=self._clock,
            sleep=self._sleep,
            _shared=self._shared,
        )

    def close(self) -> None:
        self.inner.close()

    # -- robots.txt

    def policy(self, url: str) -> RobotsPolicy:
        """The robots.txt policy of ``url``'s host (memory, then ``hosts``, then a fetch)."""
        host = host_key(url)
        now = self._clock()
        cached = self._policies.get(host)
        if cached is not None and cached[1] > now:
            return cached[0]
        # One fetch per host and process: the other threads wait for it (workers of other processes find it
        # in ``hosts`` unless they asked at the same moment).
        with self._shared.robots_lock(host):
            cached = self._policies.get(host)
            if cached is not None and cached[1] > now:
                return cached[0]
            record = self.hosts.robots(host)
            if record is None or record.expires_at <= now:
                record = self._fetch_robots(url, host)
                self.hosts.save_robots(host, record, now)
            policy = parse_robots(record.status, record.body, self.settings.user_agent)
            self._policies[host] = (policy, record.expires_at)
        return policy

    def _fetch_robots(self, url: str, host: str) -> RobotsRecord:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        now = self._clock()
        status: int | None
        body: str | None = None
        try:
            doc = self._spaced(host, self.spacing_s, lambda: self.inner.get(robots_url))
            status = doc.status
            body = doc.body[: 500 * 1024].decode("utf-8", errors="replace")
        except HTTPStatusError as exc:
            status = exc.status
        except TooManyRedirects:
            status = 404  # RFC 9309 2.3.1.2: more than five redirects may be taken as "unavailable"
        except HostHeld:
            raise
        except FetchError:
            status = None  # unreachable: disallow, and try again sooner than a day
        ttl = ROBOTS_RETRY_S if status is None or status >= 500 else ROBOTS_TTL_S
        return RobotsRecord(status, body, now + timedelta(seconds=ttl))

    # -- fetching

    def _hold_until(self, host: str, now: datetime) -> datetime | None:
        """The host's hold, as read at most ``HOLD_RECHECK_S`` ago (a hold set by another worker is seen
        within that time; one set by this process at once)."""
        seen = self._holds.get(host)
        if seen is None or time.monotonic() - seen[0] > HOLD_RECHECK_S:
            seen = (time.monotonic(), self.hosts.hold_until(host, now))
            self._holds[host] = seen
        until = seen[1]
        return until if until is not None and until > now else None

    def _spaced(self, host: str, spacing: float, request: Callable[[], FetchedDoc]) -> FetchedDoc:
        now = self._clock()
        if spacing <= 0:
            held = self._hold_until(host, now)
            if held is not None:
                raise HostHeld(host, held, "Retry-After")
            return self._send(host, request)
        wait, until = self.hosts.reserve(host, now, spacing, self.settings.host_max_wait_s)
        if wait is None:
            assert until is not None
            raise HostHeld(host, until, "Retry-After" if self.hosts.hold_until(host, now) else "spacing")
        if wait > 0:
            self._sleep(wait)
        try:
            return self._send(host, request)
        finally:
            self.hosts.release(host, self._clock(), spacing)

    def _send(self, host: str, request: Callable[[], FetchedDoc]) -> FetchedDoc:
        from services.core import metrics

        started = time.monotonic()
        try:
            doc = request()
        except HTTPStatusError as exc:
            metrics.observe_fetch(host, "error", 0, time.monotonic() - started, error=f"http_{exc.status}")
            kind = schedule.classify_error(exc.status, exc.retry_after)
            if kind == "hold" and exc.retry_after is not None:
                now = self._clock()
                until = schedule.host_hold_until(now, exc.retry_after)
                # The host that asked for the pause: after a redirect, the hop's, not the first URL's.
                asking = host_key(exc.url) if exc.url else host
                self.hosts.hold(asking, until, f"HTTP {exc.status} Retry-After {exc.retry_after:g}s", now)
                self._holds[asking] = (time.monotonic(), until)
            raise
        except FetchError as exc:
            metrics.observe_fetch(host, "error", 0, time.monotonic() - started, error=type(exc).__name__)
            raise
        outcome = "not_modified" if doc.status == 304 else "ok"
        metrics.observe_fetch(host, outcome, len(doc.body), time.monotonic() - started)
        return doc

    def post_form(self, url: str, data: dict[str, str]) -> FetchedDoc:
        """A form POST (WebSub hub requests): spaced and held like a GET; robots.txt governs crawling, not
        this."""
        post: Callable[[str, dict[str, str]], FetchedDoc] = self.inner.post_form  # type: ignore[attr-defined]
        return self._spaced(host_key(url), self.spacing_s, lambda: post(url, data))

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc:
        """GET ``url`` politely (module docstring); raises ``HostHeld`` / ``RobotsDisallowed`` without
        sending, else whatever the guarded client raises."""
        host = host_key(url)
        spacing = self._allowed_spacing(url, host)
        hops = _Hops(self, host)

        def request() -> FetchedDoc:
            if getattr(self.inner, "hop_hook", False):
                return self.inner.get(  # type: ignore[call-arg]
                    url, etag=etag, last_modified=last_modified, on_hop=hops.enter
                )
            return self.inner.get(url, etag=etag, last_modified=last_modified)

        try:
            return self._spaced(host, spacing, request)
        finally:
            hops.release()

    def _allowed_spacing(self, url: str, host: str) -> float:
        """Raise ``RobotsDisallowed`` when robots.txt of ``host`` disallows ``url``; else the spacing for the
        host (ours, widened by its ``Crawl-delay``)."""
        spacing = self.spacing_s
        if self.settings.respect_robots:
            policy = self.policy(url)
            if not policy.allowed(url):
                raise RobotsDisallowed(f"robots.txt of {host} disallows {url}")
            if policy.crawl_delay:
                spacing = max(spacing, min(policy.crawl_delay, MAX_CRAWL_DELAY_S))
        return spacing


class _Hops:
    """The redirect hops of one ``PoliteClient.get``: robots.txt for every hop's URL, and one spacing slot per
    further host, reserved when the chain first reaches it and released when the fetch ends (a chain that
    bounces between hosts is one visit to each, not one per hop)."""

    def __init__(self, client: PoliteClient, first_host: str) -> None:
        self._client = client
        self._seen = {first_host}
        self._reserved: list[tuple[str, float]] = []

    def enter(self, url: str) -> None:
        client = self._client
        host = host_key(url)
        spacing = client._allowed_spacing(url, host)
        if host in self._seen:
            return
        self._seen.add(host)
        now = client._clock()
        if spacing <= 0:
            held = client._hold_until(host, now)
            if held is not None:
                raise HostHeld(host, held, "Retry-After")
            return
        wait, until = client.hosts.reserve(host, now, spacing, client.settings.host_max_wait_s)
        if wait is None:
            assert until is not None
            reason = "Retry-After" if client.hosts.hold_until(host, now) else "spacing"
            raise HostHeld(host, until, reason)
        self._reserved.append((host, spacing))
        if wait > 0:
            client._sleep(wait)

    def release(self) -> None:
        for host, spacing in self._reserved:
            self._client.hosts.release(host, self._client._clock(), spacing)
        self._reserved.clear()
