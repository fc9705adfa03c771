"""Token buckets per client (services.api.ratelimit) on a fake clock."""

from __future__ import annotations

from services.api.ratelimit import Bucket, RateLimiter, take


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.check("a") for _ in range(4)] == [0, 0, 0, 1]
    assert limiter.check("b") == 0  # buckets are per client
    clock.now += 0.5  # one token back at 2/s
    assert limiter.check("a") == 0
    assert limiter.check("a") == 1


def test_retry_after_is_whole_seconds_until_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.1, burst=1, clock=clock)
    assert limiter.check("a") == 0
    assert limiter.check("a") == 10
    clock.now += 9.5
    assert limiter.check("a") == 1


def test_disabled_and_bounded() -> None:
    assert RateLimiter(rate=0, burst=1).check("a") == 0
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=2, clock=clock)
    for client in ("a", "b", "c"):
        limiter.check(client)
    assert limiter.check("a") == 0  # evicted: starts again with a full bucket
    assert len(limiter._buckets) == 2


def test_take_never_exceeds_burst() -> None:
    bucket = Bucket(tokens=0.0, stamp=0.0)
    assert take(bucket, 1e9, rate=5.0, burst=2) == 0.0
    assert bucket.tokens == 1.0
