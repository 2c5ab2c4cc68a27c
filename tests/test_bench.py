"""The benchmark harness must not rot: a tiny run checks agreement (never time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is not installed: it runs from the checkout

from bench.agreement import Cut, Rating, differences  # noqa: E402

CONTENDERS = {"floor", "anchor", "tiering run", "tiering.rate"}


def test_tiny_bench_run_agrees_and_has_every_contender(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--subscribers", "10000", "--repeat", "1",
         "--data-dir", str(tmp_path), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["agreement"]["ok"], doc["agreement"]["differences"]
    assert doc["agreement"]["rated"] > 0
    assert {r["contender"] for r in doc["results"]} == CONTENDERS
    for r in doc["results"]:
        assert r["wall_s"] > 0 and r["peak_rss_bytes"] > 0


def test_a_disagreement_is_reported() -> None:
    anchor = Rating(rated=10, tiers={5: 1, 1: 9}, cuts={5: Cut(1, 12_345, 120)})
    engine = Rating(rated=10, tiers={5: 2, 1: 8}, cuts={5: Cut(1, 12_345, 130)})
    found = differences(anchor, engine, "engine")
    assert len(found) == 3
    assert "5-star cut point" in found[0] and "rounded 130" in found[0]
    assert differences(anchor, anchor, "engine") == []
