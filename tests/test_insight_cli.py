"""explain, diff, simulate, report, months, runs show and delete through a real process,
on the two bundled fixture months. The expected migration 2026-10 -> 2026-11 was worked
out by hand (fixtures/small-2026-10/HAND_CHECK.md), not by the code under test."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

OCTOBER = FIXTURES / "small-2026-10"
SMALL = FIXTURES / "small"


def tiering(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiering", *args], capture_output=True,
                          text=True, timeout=180, input=stdin if stdin is not None else "")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("insight") / "s.duckdb")
    for month, folder in (("2026-10", OCTOBER), ("2026-11", SMALL)):
        done = tiering("run", "--month", month, "--billing", str(folder / "billing.csv"),
                       "--subscribers", str(folder / "subscribers.csv"),
                       "--overrides", str(SMALL / "overrides.csv"), "--store", path)
        assert done.returncode == 0, done.stderr
    return path


# Hand-worked (HAND_CHECK.md of fixtures/small-2026-10): October tier -> November tier for
# the 29 lines in both months. None = unrated.
EXPECTED_MATRIX = {
    (5, 5): 1, (4, 5): 2, (3, 4): 2, (2, 3): 1, (2, 2): 6, (2, 1): 2, (2, None): 1,
    (1, 2): 1, (1, 1): 6, (None, 2): 1, (None, None): 6,
}
EXPECTED_MOVED = {
    "13800000002": "cut_point", "13800000003": "cut_point", "13800000004": "cut_point",
    "13800000005": "cut_point", "13800000015": "cut_point", "13800000016": "cut_point",
    "13800000006": "tenure_band", "13800000010": "arpu", "13800000007": "eligibility",
    "13900000005": "eligibility", "13800000017": "override", "13900000001": "override",
}


def test_diff_matrix_is_the_hand_worked_one(store: str, tmp_path: Path):
    out = tmp_path / "deep" / "moved.csv"
    done = tiering("diff", "--from", "2026-10", "--to", "2026-11", "--store", store, "--json",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["from"], doc["to"]) == ("2026-10", "2026-11")
    cells = {(c["from_tier"], c["to_tier"]): c["count"] for c in doc["matrix"]}
    assert len(cells) == 36  # every cell, zeros included: 5 tiers + unrated, squared
    assert {k: v for k, v in cells.items() if v} == EXPECTED_MATRIX
    assert (doc["new"], doc["gone"], doc["lines_in_both"]) == (1, 1, 29)
    assert doc["moves"] == {"up": 6, "down": 2, "unchanged": 19, "rated": 1, "unrated": 1}
    assert doc["reasons"] == {"arpu": 1, "tenure_band": 1, "cut_point": 6, "eligibility": 2,
                              "override": 2}
    october = doc["thresholds"]["from"]["partitions"][0]["thresholds"]
    assert [t["rounded"] for t in october] == [360, 240, 190, 20]
    assert [t["raw"] for t in october] == ["364.00", "240.00", "188.50", "18.00"]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["subscriber_id"]: r["move_reason"] for r in rows} == EXPECTED_MOVED
    by_id = {r["subscriber_id"]: r for r in rows}
    assert (by_id["13800000017"]["from_effective_tier"],
            by_id["13800000017"]["to_effective_tier"]) == ("5", "1")


def test_diff_text_and_bad_month(store: str):
    done = tiering("diff", "--from", "2026-10", "--to", "2026-11", "--store", store)
    assert done.returncode == 0 and "29 lines in both, 1 new, 1 gone" in done.stdout
    missing = tiering("diff", "--from", "2026-09", "--to", "2026-11", "--store", store)
    assert missing.returncode == 1
    assert "months stored: 2026-10, 2026-11" in missing.stderr
    bad = tiering("diff", "--from", "2026-13", "--to", "2026-11", "--store", store)
    assert bad.returncode == 2 and "not a month" in bad.stderr


def test_explain_shows_the_arithmetic(store: str):
    done = tiering("explain", "13800000009", "--store", store, "--json", "--at", "2026-11-15",
                   "--billing", str(SMALL / "billing.csv"))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["window"] == {"first": "2025-11", "last": "2026-10", "months": 12, "rows": 12,
                             "sum_fen": 149400}
    assert doc["arpu"]["exact"] == "124.5" and doc["arpu"]["rounded"] == 125
    assert doc["tenure_band"] == {"from": 13, "to": 24, "coefficient": "1.10"}
    assert doc["score"]["score"] == "137.50" and doc["tier"] == 2
    # 3-star needs 150 points: ceil(15000 / 110) = 137 yuan of ARPU, 12 more than 125.
    assert doc["next_tier"] == {"tier": 3, "cut_point": 150, "arpu_needed": 137,
                                "arpu_increase": 12}
    assert doc["previous"]["month"] == "2026-10" and doc["previous"]["move_reason"] is None
    assert [b["sum_fen"] for b in doc["bills"]] == [12400] * 11 + [13000]


def test_explain_negative_half_and_reason(store: str):
    done = tiering("explain", "13800000021", "--store", store, "--json")
    doc = json.loads(done.stdout)
    assert doc["arpu"]["exact"] == "-2.5" and doc["arpu"]["rounded"] == -3
    # 2-star needs 40 points at 1.30: ceil(4000 / 130) = 31 yuan, 34 above -3.
    assert doc["next_tier"]["arpu_needed"] == 31 and doc["next_tier"]["arpu_increase"] == 34
    done = tiering("explain", "13800000006", "--store", store)
    assert done.returncode == 0 and "moved because of tenure_band" in done.stdout
    unrated = json.loads(tiering("explain", "13900000007", "--store", store, "--json").stdout)
    assert unrated["reason"] == "new" and unrated["previous"]["then"] is None
    missing = tiering("explain", "13700000001", "--store", store)
    assert missing.returncode == 1 and "not in month 2026-11" in missing.stderr


def test_simulate_under_the_same_policy_changes_nothing(store: str):
    done = tiering("simulate", "--month", "2026-11", "--policy",
                   str(FIXTURES.parent / "tiering/data/default_policy.toml"), "--store", store,
                   "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["thresholds"]["simulated"] == doc["thresholds"]["current"]
    assert doc["moves"]["unchanged"] == 30


def test_simulate_new_coefficients(store: str, tmp_path: Path):
    text = (FIXTURES.parent / "tiering/data/default_policy.toml").read_text()
    policy = tmp_path / "p.toml"
    # Every band at 1.0: the score is the ARPU score.
    policy.write_text(text.replace("coefficient = 1.1", "coefficient = 1.0")
                      .replace("coefficient = 1.2", "coefficient = 1.0")
                      .replace("coefficient = 1.3", "coefficient = 1.0")
                      .replace("coefficient = 1.4", "coefficient = 1.0")
                      .replace("coefficient = 1.5", "coefficient = 1.0"))
    before = Path(store).stat().st_mtime_ns
    done = tiering("simulate", "--policy", str(policy), "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    assert Path(store).stat().st_mtime_ns == before  # nothing written
    doc = json.loads(done.stdout)
    sim = doc["thresholds"]["simulated"]["partitions"][0]["thresholds"]
    # By hand: ARPUs 260 203 200 186 200 165 145 100 125 100 64 60 50 58 35 32 25 18 10 0 0 0;
    # sorted: rank 2 = 203 -> 200, rank 4 = 200 -> 200, rank 7 = 145 -> 150, rank 16 = 32 -> 30.
    assert [(t["rank"], t["raw"], t["rounded"]) for t in sim] == [
        (2, "203.00", 200), (4, "200.00", 200), (7, "145.00", 150), (16, "32.00", 30)]
    maintenance = next(w for w in doc["workload"] if w["class"] == "maintenance")
    assert sum(t["lines_now"] for t in maintenance["tiers"]) == 30


def test_report_writes_a_self_contained_page(store: str, tmp_path: Path):
    out = tmp_path / "new" / "r.html"
    done = tiering("report", "--month", "2026-11", "--compare", "2026-10", "--out", str(out),
                   "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    # No script or style fetched from elsewhere (the browser test also sees no request).
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert page.count("Plotly.newPlot") == 4
    bad = tiering("report", "--out", str(tmp_path / "r.pdf"), "--store", store)
    assert bad.returncode == 2 and ".html" in bad.stderr


def test_months_and_runs_show(store: str):
    doc = json.loads(tiering("months", "--store", store, "--json").stdout)
    assert [m["month"] for m in doc] == ["2026-10", "2026-11"]
    assert (doc[0]["lines"], doc[0]["rated"]) == (30, 23)
    assert set(doc[1]["inputs"]) == {"billing", "subscribers", "overrides"}
    run = json.loads(tiering("runs", "show", "2026-11", "--store", store, "--json").stdout)
    assert run["month"] == "2026-11" and run["counts"]["rated"] == 22
    missing = tiering("runs", "show", "2025-01", "--store", store)
    assert missing.returncode == 1 and "months stored: 2026-10, 2026-11" in missing.stderr


def test_delete_needs_yes_without_a_terminal(tmp_path: Path):
    path = str(tmp_path / "d.duckdb")
    assert tiering("run", "--month", "2026-11", "--billing", str(SMALL / "billing.csv"),
                   "--subscribers", str(SMALL / "subscribers.csv"),
                   "--store", path).returncode == 0
    refused = tiering("delete", "--month", "2026-11", "--store", path, stdin="y\n")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = tiering("delete", "--month", "2026-11", "--yes", "--store", path)
    assert done.returncode == 0, done.stderr
    assert json.loads(tiering("months", "--store", path, "--json").stdout) == []
    again = tiering("delete", "--month", "2026-11", "--yes", "--store", path)
    assert again.returncode == 1
