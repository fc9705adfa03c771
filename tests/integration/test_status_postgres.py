"""Operator visibility on real Postgres: ``communique status`` (text and ``--json``, the installed command in
a subprocess) and ``GET /api/status`` show the same summary — sources by state with the broken ones listed
(since, last error), the most recent dead letters (task, args, error, attempts, time), the backlog of
documents and alert deliveries — and the operator channel hears of broken sources and of dead letters by
itself, each event once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from services.core.db import session_factory
from services.core.settings import Settings
from services.core.stages import mark_source_broken
from services.fetcher.sources import SourceDef
from services.store.models import OutboxRow
from services.store.relay import deliver_claimed, relay_due
from services.store.uow import UnitOfWork
from tests.integration.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def _source(sid: str, enabled: bool = True) -> SourceDef:
    return SourceDef(
        id=sid,
        name=sid,
        country="KAZ",
        language="en",
        kind="rss",
        url=f"https://{sid}.example/rss",
        enabled=enabled,
    )


def seed(url: str) -> None:
    """Five sources (two ok, one failing, one broken, one switched off), three dead letters, documents
    waiting for each stage, and alert deliveries in every state."""
    sources = [
        _source("a-ok"),
        _source("b-ok"),
        _source("c-failing"),
        _source("d-broken"),
        _source("e-off", False),
    ]
    with UnitOfWork(session_factory(url)) as uow:
        uow.sources.sync([(s.id, s.model_dump(mode="json")) for s in sources], T0)
        failing = uow.sources.get("c-failing")
        assert failing is not None
        failing.state, failing.consecutive_errors, failing.last_error = "failing", 2, "HTTPStatusError: 503"
        broken_at = T0 + timedelta(minutes=30)
        row = uow.sources.get("d-broken")
        assert row is not None
        row.consecutive_errors = 8
        mark_source_broken(
            uow, "d-broken", "FeedError: XML refused: elements nested more than 512 deep", broken_at
        )
        for i, (task, args) in enumerate(
            [
                ("fetcher.poll_source", ["d-broken"]),
                ("parser.parse_document", [41]),
                ("store.store_claims", [42]),
            ]
        ):
            uow.dead_letters.add(task, args, f"ValueError: poison {i}", 5, T0 + timedelta(minutes=40 + i))
        for n, (status, parse, stored) in enumerate(
            [
                ("pending", "pending", False),
                ("fetched", "pending", False),
                ("fetched", "ok", False),
                ("fetched", "ok", True),
            ]
        ):
            doc_id = uow.documents.add_pending(
                source_id="a-ok",
                url=f"https://a-ok.example/{n}",
                canonical_url=f"https://a-ok.example/{n}",
                guid=None,
                title=None,
                published=None,
                now=T0,
            )
            assert doc_id is not None
            doc = uow.documents.get(doc_id)
            assert doc is not None
            doc.status, doc.parse_status = status, parse
            doc.stored_at = T0 if stored else None
        # deliveries: one due now, one retrying tomorrow, one dead, one held for a disabled endpoint
        states = [
            ("pending", 0, T0),
            ("pending", 2, T0 + timedelta(days=1)),
            ("dead", 6, T0),
            ("disabled", 1, T0),
        ]
        for n in range(len(states)):
            outbox_id = uow.outbox.add(f"m{n}", "meeting.created", {"id": f"m{n}"}, T0)
            assert uow.deliveries.add(outbox_id, f"webhook:https://hooks.example/{n}", "new", ["r"], T0)
        uow.session.flush()
        for d, (status, attempts, due) in zip(uow.deliveries.all(), states, strict=True):
            d.status, d.attempts, d.next_attempt_at = status, attempts, due
        uow.commit()


def run_cli(url: str, *args: str) -> str:
    """``communique status ARGS`` as installed (the console script of this virtualenv), on ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    env.update(COMMUNIQUE_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    command = [str(Path(sys.executable).parent / "communique"), "status", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _without_time(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "generated_at"}


def test_status_command_and_endpoint_show_the_same_summary(pg_clean: str) -> None:
    seed(pg_clean)
    summary = json.loads(run_cli(pg_clean, "--json", "--recent", "2"))

    src = summary["sources"]
    assert src["total"] == 5
    assert src["states"] == {"ok": 2, "failing": 1, "broken": 1, "disabled": 1}
    [broken] = src["broken"]
    assert broken["id"] == "d-broken"
    assert broken["since"] == iso(T0 + timedelta(minutes=30))
    assert broken["last_error"].startswith("FeedError: XML refused")
    assert broken["consecutive_errors"] == 8

    dead = summary["dead_letters"]
    assert dead["count"] == 3
    assert dead["deliveries_dead"] == 1
    assert [(d["task"], d["args"], d["attempts"]) for d in dead["recent"]] == [
        ("store.store_claims", [42], 5),
        ("parser.parse_document", [41], 5),
    ]
    assert dead["recent"][0]["error"] == "ValueError: poison 2"
    assert dead["recent"][0]["at"] == iso(T0 + timedelta(minutes=42))

    backlog = summary["backlog"]
    assert backlog["documents"] == {"fetch": 1, "parse": 1, "store": 1}
    deliveries = backlog["deliveries"]
    assert (deliveries["pending"], deliveries["due"], deliveries["retrying"], deliveries["held"]) == (
        2,
        1,
        1,
        1,
    )
    assert deliveries["oldest_pending_at"] == iso(T0)
    assert any("broken source" in a and "d-broken" in a for a in summary["attention"])
    assert any("3 dead letter" in a for a in summary["attention"])
    assert any("pending since" in a for a in summary["attention"])  # three hours old: stale

    # the endpoint serves the same data (one function behind both)
    with TestClient(create_app(Settings(database_url=pg_clean, api_rate_per_s=0.0))) as client:
        r = client.get("/api/status", params={"recent": 2})
        assert r.status_code == 200
        assert _without_time(r.json()) == _without_time(summary)
        assert client.get("/api/status", params={"recent": 1000}).status_code == 422
        assert len(client.get("/api/status").json()["dead_letters"]["recent"]) == 3

    text = run_cli(pg_clean)
    assert text.startswith("status: ATTENTION")
    assert "broken d-broken since" in text
    assert "FeedError: XML refused" in text
    assert "dead letters: 3" in text
    assert "store.store_claims[42] after 5 attempt(s): ValueError: poison 2" in text
    assert "to fetch 1, to parse 1, to store 1" in text


def test_an_empty_deployment_is_ok(pg_clean: str) -> None:
    text = run_cli(pg_clean)
    assert text.splitlines()[0] == "status: OK"
    summary = json.loads(run_cli(pg_clean, "--json"))
    assert summary["attention"] == []
    assert summary["sources"]["states"] == {"ok": 0, "failing": 0, "broken": 0, "disabled": 0}


def _relay(url: str, settings: Settings, client: httpx.Client) -> None:
    factory = session_factory(url)
    with UnitOfWork(factory) as uow:
        claimed: list[Any] = []
        uow._send = lambda name, args: claimed.append(args)  # type: ignore[method-assign]
        relay_due(uow, settings, datetime.now(UTC))
        uow.commit()
    for args in claimed:
        deliver_claimed(
            lambda: UnitOfWork(factory),
            *args,
            settings=settings,
            rules=[],
            client=client,
            now=lambda: datetime.now(UTC),
        )


def test_broken_sources_and_dead_letters_reach_the_operator_once(pg_clean: str) -> None:
    """A source turning broken is one ``source.broken`` event; dead letters are one ``operator.dead_letters``
    event each time their total reaches 1, 2, 4, 8, ...: a growing pile is noticed, a steady one is not
    repeated, and a second relay run sends nothing new."""
    with UnitOfWork(session_factory(pg_clean)) as uow:
        uow.sources.sync([("s1", _source("s1").model_dump(mode="json"))], T0)
        mark_source_broken(uow, "s1", "ListingEmpty: selector matched nothing 5 times", datetime.now(UTC))
        uow.commit()
    client = httpx.Client()
    with webhook_receiver() as rx:
        settings = Settings(database_url=pg_clean, operator_webhook=rx.url, operator_webhook_secret=rx.secret)
        seen: list[tuple[str, Any]] = []
        for new_letters in (1, 1, 1, 1, 0):
            with UnitOfWork(session_factory(pg_clean)) as uow:
                for _ in range(new_letters):
                    uow.dead_letters.add(
                        "parser.parse_document", [7], "ValueError: poison", 5, datetime.now(UTC)
                    )
                uow.commit()
            _relay(pg_clean, settings, client)
            seen = [(e["type"], e["data"].get("threshold")) for e in rx.processed]
        assert sorted(seen, key=str) == sorted(
            [
                ("source.broken", None),
                ("operator.dead_letters", 1),
                ("operator.dead_letters", 2),
                ("operator.dead_letters", 4),
            ],
            key=str,
        )
        dead_events = [e for e in rx.processed if e["type"] == "operator.dead_letters"]
        assert [e["data"]["dead_letters"] for e in dead_events] == [1, 2, 4]
    client.close()
    with UnitOfWork(session_factory(pg_clean)) as uow:
        types = list(uow.session.scalars(select(OutboxRow.type).where(OutboxRow.aggregate_id == "operator")))
        assert sorted(types) == ["operator.dead_letters"] * 3
