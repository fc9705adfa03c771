from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.fetcher.schedule import (
    BACKOFF_CAP_S,
    BROKEN_AFTER_EMPTY,
    BROKEN_AFTER_ERRORS,
    HINT_CEILING_S,
    ServerHints,
    adaptive_interval,
    backoff_delay,
    classify_error,
    hints_from_headers,
    host_hold_until,
    items_per_week,
    next_check_at,
    source_state,
)
from services.fetcher.sources import SourceDef

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _source(**kw: object) -> SourceDef:
    base: dict[str, object] = {
        "id": "x",
        "name": "X",
        "country": "KAZ",
        "language": "ru",
        "kind": "rss",
        "url": "https://mfa.example/rss",
        "interval": 900,
        "min_interval": 300,
        "max_interval": 86400,
    }
    base.update(kw)
    return SourceDef.model_validate(base)


def test_items_per_week() -> None:
    dates = [NOW - timedelta(days=d) for d in range(0, 28, 2)]  # 14 items in four weeks
    assert items_per_week(dates, NOW) == pytest.approx(3.5)
    assert items_per_week([], NOW) is None
    assert items_per_week([NOW - timedelta(days=60)], NOW) is None
    assert items_per_week([NOW + timedelta(days=3)], NOW) is None  # future dates are not evidence


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (None, 900.0),  # unknown: configured interval
        (0.0, 86400.0),  # silent source: the maximum
        (7.0, 86400.0),  # one a day -> 24 h
        (14.0, 43200.0),
        (100.0, 6048.0),
        (10_000.0, 300.0),  # clamped to min_interval
        (0.5, 86400.0),  # clamped to max_interval
    ],
)
def test_adaptive_interval(rate: float | None, expected: float) -> None:
    assert adaptive_interval(rate, _source()) == pytest.approx(expected)


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    assert backoff_delay(0, 900, rng) == 0
    for errors in range(1, 12):
        raw = min(BACKOFF_CAP_S, 900 * 2 ** (errors - 1))
        values = [backoff_delay(errors, 900, rng) for _ in range(50)]
        assert all(raw / 2 <= v <= raw for v in values)
        assert len(set(values)) > 1  # jittered
    assert backoff_delay(1000, 900, rng) <= BACKOFF_CAP_S


def test_next_check_at_uses_rate_and_hints() -> None:
    src = _source()
    assert next_check_at(NOW, src) == NOW + timedelta(seconds=900)
    assert next_check_at(NOW, src, rate_per_week=14) == NOW + timedelta(hours=12)
    # never below a server hint
    hinted = next_check_at(NOW, src, rate_per_week=10_000, hints=ServerHints(ttl_s=3600))
    assert hinted == NOW + timedelta(hours=1)
    assert next_check_at(NOW, src, hints=ServerHints(max_age_s=60)) == NOW + timedelta(seconds=900)
    # an absurd hint is capped
    capped = next_check_at(NOW, src, hints=ServerHints(max_age_s=365 * 86400))
    assert capped == NOW + timedelta(seconds=max(HINT_CEILING_S, src.max_interval))


def test_next_check_at_backs_off_on_errors() -> None:
    src = _source()
    rng = random.Random(7)
    first = next_check_at(NOW, src, consecutive_errors=1, rng=rng) - NOW
    third = next_check_at(NOW, src, consecutive_errors=3, rng=rng) - NOW
    assert timedelta(seconds=450) <= first <= timedelta(seconds=900)
    assert timedelta(seconds=1800) <= third <= timedelta(seconds=3600)
    held = next_check_at(NOW, src, consecutive_errors=1, hints=ServerHints(retry_after_s=7200), rng=rng)
    assert held == NOW + timedelta(seconds=7200)


def test_hints_from_headers() -> None:
    h = hints_from_headers({"cache-control": "public, max-age=600, s-maxage=1200"}, NOW)
    assert h.max_age_s == 1200
    assert hints_from_headers({"cache-control": "no-cache, max-age=600"}, NOW).max_age_s is None
    exp = hints_from_headers({"expires": "Thu, 01 Jan 2026 13:00:00 GMT"}, NOW)
    assert exp.expires_in_s == 3600
    past = hints_from_headers({"expires": "0"}, NOW)
    assert past.expires_in_s is None
    both = hints_from_headers(
        {"cache-control": "max-age=60", "expires": "Thu, 01 Jan 2026 13:00:00 GMT"}, NOW, ttl_s=1800
    )
    assert both.expires_in_s is None  # max-age wins over Expires (RFC 9111)
    assert both.floor() == 1800
    assert ServerHints().floor() == 0


@pytest.mark.parametrize(
    ("status", "retry_after", "kind"),
    [
        (410, None, "gone"),
        (429, 60.0, "hold"),
        (503, 0.0, "hold"),
        (429, None, "failure"),
        (503, None, "failure"),
        (500, 60.0, "failure"),
        (404, None, "failure"),
        (None, None, "failure"),
    ],
)
def test_classify_error(status: int | None, retry_after: float | None, kind: str) -> None:
    assert classify_error(status, retry_after) == kind


def test_host_hold_until() -> None:
    assert host_hold_until(NOW, 120) == NOW + timedelta(seconds=120)
    assert host_hold_until(NOW, -5) == NOW
    assert host_hold_until(NOW, 10**9) == NOW + timedelta(seconds=BACKOFF_CAP_S)


def test_source_state() -> None:
    assert source_state() == "ok"
    assert source_state(consecutive_errors=1) == "failing"
    assert source_state(consecutive_empty=1) == "failing"
    assert source_state(consecutive_errors=BROKEN_AFTER_ERRORS) == "broken"
    assert source_state(consecutive_empty=BROKEN_AFTER_EMPTY) == "broken"
    assert source_state(gone=True) == "disabled"
    assert source_state(enabled=False, consecutive_errors=50) == "disabled"
