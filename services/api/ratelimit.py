"""Rate limiting of the read endpoints: one token bucket per client IP, in process.

Heuristic: a client may send ``burst`` requests at once and ``rate`` per second on average; a request that
finds its bucket empty gets 429 with ``Retry-After`` (whole seconds until a token is back). Buckets live in
an LRU of bounded size, so a flood of distinct addresses costs bounded memory (an evicted client starts
again with a full bucket, which only errs on the side of serving). Per process: behind several workers the
effective limit is the sum; a deployment that needs one global limit puts it in the reverse proxy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Bucket", "RateLimiter", "take"]


@dataclass(slots=True)
class Bucket:
    tokens: float
    stamp: float


def take(bucket: Bucket, now: float, rate: float, burst: int) -> float:
    """Refill ``bucket`` for the time since its stamp, then take one token.

    Returns 0.0 when a token was taken, else the seconds until one will be available (nothing taken).
    """
    elapsed = max(0.0, now - bucket.stamp)
    bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
    bucket.stamp = now
    if bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        return 0.0
    return (1.0 - bucket.tokens) / rate


class RateLimiter:
    """Token buckets keyed by client; ``rate <= 0`` turns limiting off."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, client: str) -> int:
        """0 when ``client`` may proceed; else the Retry-After seconds (at least 1)."""
        if not self.enabled:
            return 0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = Bucket(float(self.burst), now)
                self._buckets[client] = bucket
                while len(self._buckets) > self.max_clients:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(client)
            wait = take(bucket, now, self.rate, self.burst)
        return 0 if wait == 0.0 else max(1, math.ceil(wait))
