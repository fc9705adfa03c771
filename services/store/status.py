"""The operator's health summary: ``communique status`` and ``GET /api/status`` show the same data, built
here.

``health_summary`` reads, through the repositories (all SQL is there):

* **sources**: how many are in each state (``ok``, ``failing``, ``broken``, ``disabled``; a source switched
  off counts as disabled), and every broken one with ``since`` (when its ``source.broken`` event was written:
  the transition, so a source broken for a week shows that week), its last error and its counters;
* **dead letters**: the task dead letters (poison messages, retries exhausted) with the most recent ``recent``
  of them (task, arguments, error, attempts, time), and the alert deliveries given up (``dead``);
* **backlog**: the documents waiting for each stage, and the alert deliveries not yet sent (due now, retrying,
  held for a disabled endpoint) with the age of the oldest.

``attention`` lists, in words, what an operator should look at (broken sources, dead letters, deliveries
waiting longer than ``STALE_DELIVERY_S``); empty means healthy. The same events reach the operator channel by
themselves (``services.store.relay.operator_events``): this is the pull side. ``render_text`` is the CLI's
concise form.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.store.uow import UnitOfWork

__all__ = ["STALE_DELIVERY_S", "STATES", "as_json", "health_summary", "render_text"]

STATES = ("ok", "failing", "broken", "disabled")
STALE_DELIVERY_S = 3600
"""A pending alert delivery older than this is worth the operator's attention."""
_ERROR_CHARS = 1000


def _since(uow: UnitOfWork, source_ids: list[str]) -> dict[str, datetime]:
    from services.core.stages import _source_aggregate  # the poller's key of a source's health events

    keys = {_source_aggregate(s): s for s in source_ids}
    return {keys[k]: t for k, t in uow.outbox.latest("source.broken", list(keys)).items()}


def health_summary(uow: UnitOfWork, now: datetime, recent: int = 10) -> dict[str, Any]:
    """The summary (see the module docstring) as plain data: counts, lists, datetimes."""
    counts = uow.sources.state_counts()
    states = {s: counts.get(s, 0) for s in STATES}
    for other, n in counts.items():  # a state this module does not know yet still shows
        states.setdefault(other, n)
    broken_rows = uow.deliveries.broken_sources()
    since = _since(uow, [r.id for r in broken_rows])
    broken = [
        {
            "id": r.id,
            "url": (r.definition or {}).get("url"),
            "since": since.get(r.id),
            "last_error": (r.last_error or "")[:_ERROR_CHARS] or None,
            "consecutive_errors": r.consecutive_errors,
            "consecutive_empty": r.consecutive_empty,
            "last_success_at": r.last_success_at,
        }
        for r in broken_rows
        if r.enabled
    ]
    dead = uow.dead_letters.count()
    dead_deliveries = uow.deliveries.counts().get("dead", 0)
    latest = [
        {
            "id": d.id,
            "task": d.task_name,
            "args": list(d.args or []),
            "error": d.error[:_ERROR_CHARS],
            "attempts": d.attempts,
            "at": d.created_at,
        }
        for d in uow.dead_letters.recent(recent)
    ]
    deliveries = uow.deliveries.backlog(now)
    documents = uow.documents.backlog()
    attention: list[str] = []
    if broken:
        attention.append(f"{len(broken)} broken source(s): {', '.join(str(b['id']) for b in broken)}")
    if dead:
        attention.append(f"{dead} dead letter(s)")
    if dead_deliveries:
        attention.append(f"{dead_deliveries} alert delivery(ies) given up")
    oldest = deliveries["oldest_pending_at"]
    if oldest is not None and (now - oldest).total_seconds() > STALE_DELIVERY_S:
        attention.append(f"alert deliveries pending since {oldest.isoformat(timespec='seconds')}")
    return {
        "generated_at": now,
        "attention": attention,
        "sources": {"total": sum(counts.values()), "states": states, "broken": broken},
        "dead_letters": {"count": dead, "deliveries_dead": dead_deliveries, "recent": latest},
        "backlog": {"documents": documents, "deliveries": deliveries},
    }


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def as_json(summary: dict[str, Any]) -> str:
    """The summary as one JSON object, times in ISO 8601 with ``Z`` (as the HTTP API writes them)."""
    return json.dumps(summary, default=_iso, ensure_ascii=False)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else "-"


def _short(text: str | None, n: int = 160) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= n else line[: n - 1] + "…"


def render_text(summary: dict[str, Any]) -> str:
    """The summary as a few lines for a terminal."""
    src = summary["sources"]
    lines = [
        "status: " + ("OK" if not summary["attention"] else "ATTENTION: " + "; ".join(summary["attention"])),
        f"sources: {src['total']} ({', '.join(f'{n} {s}' for s, n in src['states'].items())})",
    ]
    for b in src["broken"]:
        lines.append(
            f"  broken {b['id']} since {_when(b['since'])} ({b['consecutive_errors']} errors, "
            f"{b['consecutive_empty']} empty in a row): {_short(b['last_error'])}"
        )
    dl = summary["dead_letters"]
    lines.append(f"dead letters: {dl['count']} (alert deliveries given up: {dl['deliveries_dead']})")
    for d in dl["recent"]:
        when, what = _when(d["at"]), f"{d['task']}{d['args']}"
        lines.append(f"  {when} {what} after {d['attempts']} attempt(s): {_short(d['error'])}")
    docs, dv = summary["backlog"]["documents"], summary["backlog"]["deliveries"]
    lines.append(
        f"backlog: documents to fetch {docs['fetch']}, to parse {docs['parse']}, to store {docs['store']}"
    )
    lines.append(
        f"  alert deliveries: {dv['pending']} pending ({dv['due']} due, {dv['retrying']} retrying), "
        f"{dv['held']} held for disabled endpoints, oldest pending {_when(dv['oldest_pending_at'])}"
    )
    return "\n".join(lines)
