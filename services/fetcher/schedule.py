"""When to poll a source next, and what state it is in. Pure functions: no clock, no I/O (the caller passes
``now``; jitter comes from the ``random.Random`` the caller passes, or a fresh one).

The policy, in short:

* **Adaptive interval.** A source that publishes ``n`` items a week is polled every ``7 days / n``, clamped to
  the source's ``[min_interval, max_interval]``; with no history, the source's configured ``interval``.
  (Miniflux's entry-frequency scheduler, with per-source bounds.)
* **Server hints are a floor.** RSS ``<ttl>``, ``Cache-Control: max-age``, ``Expires`` and ``Retry-After`` are
  never undercut. A hint longer than ``HINT_CEILING_S`` (or the source's max_interval, if larger) is capped: a
  CMS that sends ``max-age=31536000`` on its news page must not silence it for a year.
* **Errors back off** exponentially (``interval * 2^(errors-1)``, capped at ``BACKOFF_CAP_S``) with "equal
  jitter" (half fixed, half random) so that failing sources do not retry in lock-step.
* **429/503 with Retry-After** is the server asking for a pause, not a failure: the *host* is held until then
  (``host_hold_until``) and the source's error counter does not rise.
* **States:** ``disabled`` (by configuration, or 410 Gone), ``broken`` (``BROKEN_AFTER_ERRORS`` consecutive
  errors, or ``BROKEN_AFTER_EMPTY`` listings in a row where the selector matched nothing), ``failing`` (at
  least one consecutive error), else ``ok``. A broken source is still polled, at the backoff cap, so it
  recovers by itself when the site does.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from services.fetcher.sources import SourceDef

__all__ = [
    "BACKOFF_CAP_S",
    "BROKEN_AFTER_EMPTY",
    "BROKEN_AFTER_ERRORS",
    "HINT_CEILING_S",
    "ErrorKind",
    "ServerHints",
    "SourceState",
    "adaptive_interval",
    "backoff_delay",
    "classify_error",
    "host_hold_until",
    "hints_from_headers",
    "items_per_week",
    "next_check_at",
    "source_state",
]

WEEK_S = 7 * 24 * 3600
HINT_CEILING_S = 24 * 3600
BACKOFF_CAP_S = 24 * 3600
BROKEN_AFTER_ERRORS = 10
BROKEN_AFTER_EMPTY = 6

SourceState = Literal["ok", "failing", "broken", "disabled"]
ErrorKind = Literal["hold", "gone", "failure"]


@dataclass(frozen=True, slots=True)
class ServerHints:
    """What the server (or the feed) said about how often to come back. All in seconds from the response."""

    ttl_s: float | None = None
    max_age_s: float | None = None
    expires_in_s: float | None = None
    retry_after_s: float | None = None

    def floor(self) -> float:
        """The longest of the hints (0 when there are none)."""
        values = [
            v for v in (self.ttl_s, self.max_age_s, self.expires_in_s, self.retry_after_s) if v is not None
        ]
        return max(values, default=0.0)


_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


def hints_from_headers(
    headers: dict[str, str], now: datetime, ttl_s: float | None = None, retry_after_s: float | None = None
) -> ServerHints:
    """Hints from response headers (lower-case keys): ``Cache-Control`` max-age (``no-cache``/``no-store``
    give none), ``Expires`` relative to ``now`` (``Date`` is ignored: clocks of ministry servers drift)."""
    max_age: float | None = None
    cc = headers.get("cache-control", "")
    if cc and not re.search(r"no-cache|no-store", cc, re.IGNORECASE):
        ages = [int(m[2]) for m in _MAX_AGE.finditer(cc)]
        if ages:
            max_age = float(max(ages))
    expires_in: float | None = None
    exp = headers.get("expires")
    if exp and max_age is None:
        try:
            when = parsedate_to_datetime(exp)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            expires_in = max(0.0, (when - now).total_seconds())
        except (TypeError, ValueError, IndexError):
            expires_in = None
    return ServerHints(ttl_s=ttl_s, max_age_s=max_age, expires_in_s=expires_in, retry_after_s=retry_after_s)


def items_per_week(
    published: list[datetime], now: datetime, window: timedelta = timedelta(days=28)
) -> float | None:
    """Publication rate from the dates of the items seen: items inside ``window`` before ``now``, per week.

    None when no item has a date in the window (the rate is unknown, not zero: the configured interval
    applies).
    """
    start = now - window
    n = sum(1 for p in published if start <= p <= now)
    if n == 0:
        return None
    return n / (window.total_seconds() / WEEK_S)


def adaptive_interval(rate_per_week: float | None, source: SourceDef) -> float:
    """``7 days / items per week`` clamped to the source's bounds; the configured interval when the rate is
    unknown; the maximum when the source is silent (rate 0)."""
    if rate_per_week is None:
        return float(source.interval)
    if rate_per_week <= 0:
        return float(source.max_interval)
    return float(min(max(WEEK_S / rate_per_week, source.min_interval), source.max_interval))


def backoff_delay(
    consecutive_errors: int, base_s: float, rng: random.Random, cap_s: float = BACKOFF_CAP_S
) -> float:
    """Delay after ``consecutive_errors`` failures: ``base * 2^(errors-1)`` capped at ``cap_s``, then equal
    jitter (a uniform value between half of it and all of it). Zero errors: zero."""
    if consecutive_errors <= 0:
        return 0.0
    raw = min(cap_s, base_s * 2.0 ** min(consecutive_errors - 1, 32))
    return raw / 2 + rng.uniform(0, raw / 2)


def next_check_at(
    now: datetime,
    source: SourceDef,
    *,
    rate_per_week: float | None = None,
    hints: ServerHints | None = None,
    consecutive_errors: int = 0,
    rng: random.Random | None = None,
) -> datetime:
    """When to poll ``source`` again (see the module docstring): adaptive interval or error backoff, never
    sooner than the server's hints (capped at ``max(HINT_CEILING_S, max_interval)``)."""
    rng = rng or random.Random()
    if consecutive_errors > 0:
        delay = backoff_delay(consecutive_errors, float(source.interval), rng)
    else:
        delay = adaptive_interval(rate_per_week, source)
    if hints is not None:
        delay = max(delay, min(hints.floor(), float(max(HINT_CEILING_S, source.max_interval))))
    return now + timedelta(seconds=delay)


def classify_error(status: int | None, retry_after_s: float | None) -> ErrorKind:
    """``gone`` for 410 (disable the source); ``hold`` for 429/503 that carry Retry-After (pause the host, do
    not count an error); ``failure`` for everything else (network errors have no status)."""
    if status == 410:
        return "gone"
    if status in (429, 503) and retry_after_s is not None:
        return "hold"
    return "failure"


def host_hold_until(now: datetime, retry_after_s: float, max_hold_s: float = BACKOFF_CAP_S) -> datetime:
    """Until when to leave a host alone after it sent Retry-After (capped: a hostile value must not ban
    forever)."""
    return now + timedelta(seconds=min(max(retry_after_s, 0.0), max_hold_s))


def source_state(
    *,
    enabled: bool = True,
    gone: bool = False,
    consecutive_errors: int = 0,
    consecutive_empty: int = 0,
) -> SourceState:
    """The visible health of a source (see the module docstring for the thresholds)."""
    if not enabled or gone:
        return "disabled"
    if consecutive_errors >= BROKEN_AFTER_ERRORS or consecutive_empty >= BROKEN_AFTER_EMPTY:
        return "broken"
    if consecutive_errors > 0 or consecutive_empty > 0:
        return "failing"
    return "ok"
