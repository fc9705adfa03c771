"""Issue 5 end to end (embedded, SQLite): two ministries report the same talks — Kazakhstan in Russian, China
in Chinese, published hours apart — and a news agency republishes the Kazakh release under its own URL
(tracking parameters in the feed link). After ``communique run --once`` twice: one meeting with three sources,
one signed webhook delivery, verified by a local receiver with ``services.alerts.verify``, and the
export, the HTTP API and the Atom feed show it. Then reparse (no change, no alert) and a split of a wrong
merge (the report stays split)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from services.core.db import dispose_engines, session_factory
from services.core.settings import Settings
from services.store.models import ChangeLogRow, DeliveryRow, DocumentRow
from services.store.uow import UnitOfWork
from tests.e2e.test_embedded import communique
from tests.integration.harness import SourceServer
from tests.integration.webhook_receiver import rules_yaml, webhook_receiver

pytestmark = pytest.mark.e2e

SITE = Path(__file__).resolve().parent / "two_ministries"
PAGES = {
    "/kz/feed.xml": ("kz/feed.xml", "application/rss+xml; charset=utf-8"),
    "/kz/press/koshrebaev-wang-yi.html": ("kz/koshrebaev-wang-yi.html", "text/html; charset=utf-8"),
    "/cn/feed.xml": ("cn/feed.xml", "application/rss+xml; charset=utf-8"),
    "/cn/wjbxw/202611/t20261120_01.shtml": ("cn/t20261120_01.shtml", "text/html; charset=utf-8"),
    "/agency/feed.xml": ("agency/feed.xml", "application/rss+xml; charset=utf-8"),
    "/agency/politics/kosherbaev-wang-yi-20261120": (
        "agency/kosherbaev-wang-yi-20261120.html",
        "text/html; charset=utf-8",
    ),
}


def serve_two_ministries(
    source_server: Callable[[dict[str, tuple[bytes, str]]], SourceServer], tmp_path: Path
) -> tuple[SourceServer, Path]:
    server = source_server({path: ((SITE / f).read_bytes(), ct) for path, (f, ct) in PAGES.items()})
    sources = tmp_path / "sources.yaml"
    sources.write_text((SITE / "sources.yaml").read_text(encoding="utf-8").replace("{base}", server.base))
    return server, sources


def assert_api_and_feed_show_one_meeting(database_url: str, meeting_id: str, urls: set[str]) -> None:
    """The HTTP API and the Atom feed, on the same database, show the one KAZ–CHN meeting with its three
    sources and the merge explanation."""
    with TestClient(create_app(Settings(database_url=database_url, api_rate_per_s=0.0))) as api:
        listed = api.get("/api/meetings", params={"pair": "KAZ,CHN"})
        assert listed.status_code == 200, listed.text
        assert [m["id"] for m in listed.json()["items"]] == [meeting_id]
        assert listed.json()["next_cursor"] is None

        detail = api.get(f"/api/meetings/{meeting_id}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert {s["url"] for s in body["sources"]} == urls
        assert all(s.get("evidence") for s in body["sources"])
        links = body["merge"]["links"]
        assert {link["url"] for link in links} == urls
        # Which rule attaches the agency copy depends on arrival order (the export test pins it, embedded).
        assert len([link for link in links if link["merge_rule"] == "new"]) == 1
        assert all(link["rule_explained"] for link in links)
        assert body["merge"]["summary"].startswith("3 report(s); 2 merged")

        atom = api.get("/feeds/meetings.atom", params={"pair": "KAZ,CHN"})
        assert atom.status_code == 200, atom.text
        assert atom.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(atom.content)
        assert not feed.bozo, feed.get("bozo_exception")
        (entry,) = feed.entries
        assert entry.id.endswith("meeting/" + meeting_id)
        assert {link.href for link in entry.links if link.rel == "related"} == urls
        # Another pair's feed is empty: the filter, not luck, picks the meeting.
        other = feedparser.parse(api.get("/feeds/meetings.atom", params={"pair": "KAZ,RUS"}).content)
        assert other.entries == []


def test_one_meeting_three_sources_one_verified_webhook(
    source_server: Callable[[dict[str, tuple[bytes, str]]], SourceServer], tmp_path: Path
) -> None:
    server, sources = serve_two_ministries(source_server, tmp_path)
    db = tmp_path / "two.db"
    with webhook_receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(rx))
        for _ in range(2):
            run = communique(["run", "--once", "--sources", str(sources), "--rules", str(rules)], db)
            assert run.returncode == 0, run.stderr
            assert "Traceback" not in run.stderr
        counts: dict[str, Any] = json.loads(run.stderr.strip().splitlines()[-1])

        assert counts["meetings"] == 1
        assert counts["dead_letters"] == 0
        assert counts["deliveries"] == {"sent": 1}
        # One alert, verified by the receiver's helper (signature, timestamp, replay); nothing rejected.
        assert len(rx.processed) == 1, rx.ids
        assert rx.rejected == []
        assert rx.duplicates == []
        event = rx.processed[0]
        assert event["type"] == "meeting.created"
        assert event["data"]["rules"] == ["kaz-chn-ministers"]

    exported = communique(["export", "--format", "ndjson"], db)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(records) == 1
    meeting = records[0]
    assert meeting["id"] == event["data"]["meeting"]["id"]
    assert meeting["date"] == "2026-11-20"
    assert {p["country"] for p in meeting["participants"]} == {"KAZ", "CHN"}
    urls = {s["url"] for s in meeting["sources"]}
    assert urls == {
        server.url("/kz/press/koshrebaev-wang-yi.html"),
        server.url("/cn/wjbxw/202611/t20261120_01.shtml"),
        # The feed's tracking parameters are not part of the report's address.
        server.url("/agency/politics/kosherbaev-wang-yi-20261120"),
    }
    rules_by_url = {s["url"].split("/")[3]: s["merge_rule"] for s in meeting["sources"]}
    assert rules_by_url["agency"] == "syndicated_copy"
    # The Chinese report names the Kazakh minister; the unified participant keeps his registry id.
    kaz = [p for p in meeting["participants"] if p["country"] == "KAZ"]
    assert len(kaz) == 1
    assert kaz[0]["person_id"] == "yermek-kosherbayev"
    assert_api_and_feed_show_one_meeting(f"sqlite:///{db}", meeting["id"], urls)

    with UnitOfWork(session_factory(f"sqlite:///{db}")) as uow:
        changes = list(uow.session.scalars(select(ChangeLogRow).order_by(ChangeLogRow.id)))
        deliveries = list(uow.session.scalars(select(DeliveryRow)))
        assert [c.type for c in changes][0] == "meeting.created"
        assert len({c.document_id for c in changes}) == 3  # each report is in the version history
        assert len(deliveries) == 1
        assert deliveries[0].attempts == 1
        cn_doc = uow.session.scalar(select(DocumentRow.id).where(DocumentRow.url.contains("/cn/")))
    dispose_engines()

    # Reparse: the same extraction again updates nothing and alerts nobody.
    with webhook_receiver(rx.secret) as rx2:
        rules.write_text(rules_yaml(rx2))
        reparse = communique(["reparse", "--rules", str(rules)], db)
        assert reparse.returncode == 0, reparse.stderr
        assert json.loads(reparse.stderr.strip().splitlines()[-1]) == {
            "documents": 3,
            "errors": 0,
            "events": 0,
            "changes": 0,
        }
        # A wrong merge is split: the Chinese report moves to a pinned meeting of its own and stays there.
        split = communique(["meetings", "split", meeting["id"], "--source", str(cn_doc)], db)
        assert split.returncode == 0, split.stderr
        again = communique(["reparse", "--rules", str(rules)], db)
        assert again.returncode == 0, again.stderr
        relay = communique(["relay", "--rules", str(rules)], db)
        assert relay.returncode == 0, relay.stderr
        assert rx2.ids == []  # nothing new to alert: no duplicate after reparse
        after = communique(["export", "--format", "ndjson"], db)
        by_id = {r["id"]: r for r in map(json.loads, after.stdout.splitlines())}
        assert len(by_id) == 2
        assert len(by_id[meeting["id"]]["sources"]) == 2
        assert [s["merge_rule"] for s in by_id[split.stdout.strip()]["sources"]] == ["split"]
