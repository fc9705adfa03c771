"""Prometheus metrics of the fetcher: polls, 304s, bytes, fetch latency, errors by kind, items found, and the
state of every source.

Counters and the latency histogram are updated where the work happens (``services.fetcher.polite`` for every
request, ``services.core.stages.poll_source`` for polls). ``render_metrics`` is what the API serves at
``/metrics``.

**Celery workers** run in other processes than the API. The choice: prometheus-client's *multiprocess mode*.
Set ``PROMETHEUS_MULTIPROC_DIR`` to one directory shared by the API and the workers (same machine or a shared
volume; wipe it when the deployment starts): every process then writes its samples to memory-mapped files
there, and ``render_metrics`` aggregates them with ``MultiProcessCollector``. Without the variable (embedded
mode, one process) the in-process registry is served. The per-source state gauge is not kept by any process:
it is read from the ``source`` table at scrape time, so it is right whichever worker polled last, and after a
restart.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = [
    "FETCH_BYTES",
    "FETCH_ERRORS",
    "FETCH_REQUESTS",
    "FETCH_SECONDS",
    "ITEMS_FOUND",
    "POLLS",
    "SourceStateCollector",
    "observe_fetch",
    "observe_poll",
    "render_metrics",
]

STATES = ("ok", "failing", "broken", "disabled")

FETCH_REQUESTS = Counter(
    "communique_fetch_requests", "HTTP requests sent by the fetcher, by host and outcome", ["host", "outcome"]
)
FETCH_BYTES = Counter("communique_fetch_bytes", "Decoded response body bytes received, by host", ["host"])
FETCH_SECONDS = Histogram(
    "communique_fetch_seconds",
    "Wall time of one fetch (all redirect hops, body read)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FETCH_ERRORS = Counter("communique_fetch_errors", "Failed fetches by error kind", ["kind"])
POLLS = Counter(
    "communique_polls", "Source polls by outcome (ok, not_modified, error, held)", ["source", "outcome"]
)
ITEMS_FOUND = Counter("communique_items_found", "Items listed by a source's feed or listing", ["source"])
NEW_ITEMS = Counter("communique_items_new", "Items not seen before (new documents)", ["source"])


def observe_fetch(host: str, outcome: str, size: int, seconds: float, error: str | None = None) -> None:
    """One request: ``outcome`` is ok, not_modified or error (``error`` names its kind)."""
    FETCH_REQUESTS.labels(host, outcome).inc()
    FETCH_SECONDS.observe(seconds)
    if size:
        FETCH_BYTES.labels(host).inc(size)
    if error is not None:
        FETCH_ERRORS.labels(error).inc()


def observe_poll(source: str, outcome: str, items: int = 0, new: int = 0) -> None:
    POLLS.labels(source, outcome).inc()
    if items:
        ITEMS_FOUND.labels(source).inc(items)
    if new:
        NEW_ITEMS.labels(source).inc(new)


class SourceStateCollector(Collector):
    """``communique_source_state{source, state}`` = 1 for the source's current state (0 for the others),
    ``communique_source_consecutive_errors`` and ``communique_source_last_success_timestamp``: read from the
    database at scrape time."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Any:
        from services.core.db import session_factory
        from services.store.uow import UnitOfWork

        state = GaugeMetricFamily(
            "communique_source_state", "Health of each source", labels=["source", "state"]
        )
        errors = GaugeMetricFamily(
            "communique_source_consecutive_errors", "Failed polls in a row", labels=["source"]
        )
        success = GaugeMetricFamily(
            "communique_source_last_success_timestamp", "Unix time of the last good poll", labels=["source"]
        )
        with UnitOfWork(session_factory(self.database_url)) as uow:
            for row in uow.sources.all():
                for s in STATES:
                    state.add_metric([row.id, s], 1.0 if row.state == s else 0.0)
                errors.add_metric([row.id], float(row.consecutive_errors))
                if row.last_success_at is not None:
                    success.add_metric([row.id], row.last_success_at.timestamp())
        yield state
        yield errors
        yield success


def render_metrics(database_url: str | None = None) -> tuple[bytes, str]:
    """The exposition text and its content type: the process's (or, in multiprocess mode, every process's)
    counters, plus the source states when ``database_url`` is given."""
    from prometheus_client import REGISTRY

    parts: list[bytes] = []
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        parts.append(generate_latest(registry))
    else:
        parts.append(generate_latest(REGISTRY))
    if database_url is not None:
        states = CollectorRegistry()
        states.register(SourceStateCollector(database_url))
        parts.append(generate_latest(states))
    return b"".join(parts), CONTENT_TYPE_LATEST
