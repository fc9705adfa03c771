"""Embedded mode end to end: ``communique run --once`` on SQLite against two local ministry sites, then
``communique export``. No broker, no worker: the same task functions run in the CLI's process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"


def communique(args: list[str], db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    environ.update(
        COMMUNIQUE_DATABASE_URL=f"sqlite:///{db}",
        COMMUNIQUE_ALLOW_PRIVATE_NETWORKS="true",
        COMMUNIQUE_HOST_SPACING_S="0",
        **env,
    )
    exe = Path(sys.executable).parent / "communique"
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=240, check=False
    )


def by_parties(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for rec in records:
        parties = sorted({p.get("country") or p.get("org") for p in rec["participants"]} - {None})
        out["-".join(parties)] = rec
    return out


def test_run_once_stores_merged_meetings_and_exports_them(ministry_site: Any, tmp_path: Path) -> None:
    db = tmp_path / "embedded.db"
    sources = str(ministry_site.sources_file)

    first = communique(["run", "--once", "--sources", sources], db)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    counts = json.loads(first.stderr.strip().splitlines()[-1])
    # The feed lists talks-finland twice (tracking parameters, a fragment): one document.
    assert counts["documents"] == {"fetched": 4}
    assert counts["meetings"] == 2
    assert counts["dead_letters"] == 0

    exported = communique(["export", "--format", "ndjson"], db)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    schema = json.loads((SHARED / "schema" / "meeting-record.schema.json").read_text())
    for rec in records:
        jsonschema.validate(rec, schema)
    meetings = by_parties(records)
    assert set(meetings) == {"FIN-KAZ", "KAZ-UZB"}
    talks = meetings["FIN-KAZ"]
    assert talks["date"] == "2025-03-04"
    assert talks["mode"] == "in_person"
    # Both ministries reported the talks: one meeting, two sources, each with its own evidence.
    urls = sorted(s["url"] for s in talks["sources"])
    assert urls == [
        ministry_site.server.url("/fi/news/valtonen-kazakhstan.html"),
        ministry_site.server.url("/kz/press/talks-finland.html"),
    ]
    assert all(s["evidence"] for s in talks["sources"])
    assert meetings["KAZ-UZB"]["mode"] == "phone"
    assert all(rec["id"].startswith("m") for rec in records)

    # A second cycle right away: nothing is due, nothing is fetched, nothing changes.
    feed_hits = len(ministry_site.server.hits_for("/kz/feed.xml"))
    again = communique(["run", "--once", "--sources", sources], db)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stderr.strip().splitlines()[-1])["meetings"] == 2
    assert len(ministry_site.server.hits_for("/kz/feed.xml")) == feed_hits

    as_csv = communique(["export", "--format", "csv", "--held-since", "2025-03-04"], db)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["parties"], r["source_count"]) for r in rows] == [("FIN;KAZ", "2")]


def test_bad_input_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    bad = tmp_path / "sources.yaml"
    bad.write_text("- id: Not Valid\n  kind: gopher\n")
    result = communique(["run", "--once", "--sources", str(bad)], db)
    assert result.returncode == 2
    assert "invalid source registry" in result.stderr
    assert "Traceback" not in result.stderr

    missing = communique(["sources", "test", "no-such-source", "--sources", str(bad)], db)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr

    since = communique(["export", "--since", "yesterday"], db)
    assert since.returncode == 2
    assert "Traceback" not in since.stderr
