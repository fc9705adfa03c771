"""A short, bounded run of ``bench/fuzz.py`` (atheris) over each target, so that the harness keeps working
and the readers survive a few hundred mutated inputs on every build: no crash, no input over its CPU budget,
and each target actually ran. Longer runs: docs/fuzzing.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 5


def test_each_target_runs_without_a_crash(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fuzz.py"),
            "--target",
            "all",
            "--seconds",
            str(SECONDS),
            "--artifacts",
            str(tmp_path / "artifacts"),
            "--json",
            str(summary),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert summary.is_file(), done.stdout + done.stderr
    results = {r["target"]: r for r in json.loads(summary.read_text())}
    assert set(results) == {"feed", "listing", "extract"}
    for target, r in results.items():
        assert r["crashes"] == [], (target, Path(r["log"]).read_text()[-3000:])
        assert r["exit_status"] == 0, (target, Path(r["log"]).read_text()[-3000:])
        assert r["seeds"] >= 5, target
        assert r["runs"] >= r["seeds"], target  # every seed ran, then mutations
    assert done.returncode == 0, done.stderr
