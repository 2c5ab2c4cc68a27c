"""The CLI through click's runner, plus one real subprocess of the console script."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiering.cli import main


@pytest.fixture
def store(tmp_path: Path, small: Path) -> Path:
    path = tmp_path / "t.duckdb"
    result = CliRunner().invoke(main, [
        "run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
        "--subscribers", str(small / "subscribers.csv"), "--overrides",
        str(small / "overrides.csv"), "--store", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_run_prints_a_summary(tmp_path: Path, small: Path):
    code, out = _invoke("run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
                        "--subscribers", str(small / "subscribers.csv"),
                        "--store", str(tmp_path / "s.duckdb"))
    assert code == 0
    assert "rated 22" in out and "unknown subscribers 3" in out
    # Each reason code on a line of its own, singular or plural, with what it means.
    assert "no_history         1 line: no billing row at all inside the ARPU window" in out
    assert "new               2 lines: tenure under 7 months" in out
    assert "because cut points are rounded to multiples of 10 points" in out
    assert "5-star from    260  (raw 263.90 at rank 2" in out


def test_run_json(tmp_path: Path, small: Path):
    code, out = _invoke("run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
                        "--subscribers", str(small / "subscribers.csv"),
                        "--store", str(tmp_path / "s.duckdb"), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["counts"]["rated"] == 22 and doc["unrated"]["new"] == 2


def test_lookup_json_contract(store: Path):
    code, out = _invoke("lookup", "13800000018", "--store", str(store), "--json",
                        "--at", "2026-11-15")
    assert code == 0
    doc = json.loads(out)
    for key in ("subscriber_id", "month", "tier", "effective_tier", "score", "arpu_yuan",
                "window_months", "tenure_months", "coefficient", "reason", "thresholds"):
        assert key in doc
    assert doc["subscriber_id"] == "13800000018" and doc["month"] == "2026-11"
    assert (doc["tier"], doc["effective_tier"]) == (1, 4)  # lifted by customer C100
    assert doc["score"] == "18.00" and doc["distance_to_next_tier"] == "22.00"
    assert doc["sla_targets"]["maintenance"] == {"target": 24, "unit": "h", "clock": "24x7"}


def test_lookup_keeps_leading_zero_ids(store: Path):
    code, out = _invoke("lookup", "01380000001", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["subscriber_id"] == "01380000001"
    code, out = _invoke("lookup", "1380000001", "--store", str(store))
    assert code == 1


def test_lookup_customer_lists_all_lines(store: Path):
    code, out = _invoke("lookup", "C100", "--customer", "--store", str(store), "--json",
                        "--at", "2026-11-15")
    assert code == 0
    doc = json.loads(out)
    assert {d["subscriber_id"] for d in doc} == {"13800000004", "13800000018", "13900000004"}
    assert {d["effective_tier"] for d in doc} == {4}


def test_lookup_names_the_ids_not_found(store: Path):
    result = CliRunner().invoke(main, ["lookup", "13800000018", "13800000099", "--store",
                                       str(store), "--json"])
    assert result.exit_code == 1
    assert "subscriber 138****0099" in result.stderr
    doc = json.loads(result.stdout)
    assert isinstance(doc, list) and [d["subscriber_id"] for d in doc] == ["13800000018"]
    result = CliRunner().invoke(main, ["lookup", "13800000018", "13800000009", "--store",
                                       str(store), "--json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 2


def test_export_creates_the_folder(store: Path, tmp_path: Path):
    out = tmp_path / "new" / "dir" / "x.csv"
    code, _ = _invoke("export", "--out", str(out), "--store", str(store))
    assert code == 0 and out.exists()
    code, out_text = _invoke("export", "--out", "/proc/none/x.csv", "--store", str(store))
    assert code == 2 and "cannot create the folder" in out_text


def test_month_is_checked_the_same_way_everywhere(store: Path):
    for args in (["lookup", "1"], ["thresholds"], ["export", "--out", "x.csv"], ["months"]):
        if args == ["months"]:
            continue  # takes no month
        code, out = _invoke(*args, "--month", "2026-13", "--store", str(store))
        assert code == 2 and "not a month (YYYY-MM): '2026-13'" in out
    code, out = _invoke("thresholds", "--month", "202611", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["month"] == "2026-11"


def test_lookup_help_shows_date():
    code, out = _invoke("lookup", "--help")
    assert "--at DATE" in out


def test_lookup_not_found_exits_1(store: Path):
    code, out = _invoke("lookup", "nope", "--store", str(store))
    assert code == 1 and "not in month 2026-11" in out


def test_lookup_without_store_is_a_clear_error(tmp_path: Path):
    code, out = _invoke("lookup", "1", "--store", str(tmp_path / "none.duckdb"))
    assert code == 2 and "no store at" in out


def test_thresholds_json_contract(store: Path):
    code, out = _invoke("thresholds", "--store", str(store), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["month"] == "2026-11"
    (part,) = doc["partitions"]
    assert part["partition"] == "all" and part["rated"] == 22
    assert part["thresholds"][0] == {"tier": 5, "cumulative_share": 5, "rank": 2,
                                     "raw": "263.90", "rounded": 260}
    assert [t["tier"] for t in part["tiers"]] == [5, 4, 3, 2, 1]
    assert part["tiers"][0] == {"tier": 5, "count": 3, "nominal_share": 5,
                                "realised_share": 13.64}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_has_exactly_the_spec_columns(store: Path, tmp_path: Path, suffix: str):
    out = tmp_path / f"tiers.{suffix}"
    code, _ = _invoke("export", "--month", "2026-11", "--out", str(out), "--store", str(store))
    assert code == 0
    columns = ["subscriber_id", "customer_id", "region", "tenure_months", "window_months",
               "arpu_yuan", "arpu_score", "coefficient", "score", "tier", "reason"]
    if suffix == "csv":
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == columns
        by_id = {r["subscriber_id"]: r for r in rows}
        assert by_id["13800000009"]["score"] == "137.50" and by_id["13800000009"]["tier"] == "2"
        assert by_id["13900000001"]["tier"] == "" and by_id["13900000001"]["reason"] == "new"
    else:
        import polars as pl

        frame = pl.read_parquet(out)
        assert frame.columns == columns and frame.height == 30


def test_rerunning_a_month_replaces_it(store: Path, small: Path, tmp_path: Path):
    # Same month again with a policy of fixed thresholds: the month is replaced, not doubled.
    policy = tmp_path / "fixed.toml"
    text = (Path(__file__).parent.parent / "tiering/data/default_policy.toml").read_text()
    policy.write_text(text.replace("# fixed_thresholds = [260, 140, 90, 30]",
                                   "fixed_thresholds = [260, 140, 90, 30]"))
    code, out = _invoke("run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
                        "--subscribers", str(small / "subscribers.csv"), "--policy", str(policy),
                        "--store", str(store))
    assert code == 0, out
    code, out = _invoke("thresholds", "--store", str(store), "--json")
    part = json.loads(out)["partitions"][0]
    assert [t["rounded"] for t in part["thresholds"]] == [260, 140, 90, 30]
    assert part["rated"] == 22


def test_console_script_in_a_real_process(tmp_path: Path, small: Path):
    exe = shutil.which("tiering", path=str(Path(sys.executable).parent)) or "tiering"
    store = tmp_path / "p.duckdb"
    run = subprocess.run([exe, "run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
                          "--subscribers", str(small / "subscribers.csv"), "--store", str(store)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    look = subprocess.run([exe, "lookup", "13800000009", "--store", str(store), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert look.returncode == 0, look.stderr
    assert json.loads(look.stdout)["arpu_yuan"] == 125
    bad = subprocess.run([exe, "lookup", "13800000009", "--store", str(store), "--month",
                          "2020-01"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "month 2020-01 is not in the store" in bad.stderr


def test_lookup_can_mask_the_id(store: Path):
    code, out = _invoke("lookup", "13800000018", "--store", str(store), "--json", "--mask")
    assert code == 0 and json.loads(out)["subscriber_id"] == "138****0018"
    assert "13800000018" not in out


def test_a_month_with_no_rated_line_succeeds_and_says_so(tmp_path: Path):
    # SPEC 4: N = 0 (here: every line is too new) gives no cut points, not an error.
    (tmp_path / "s.csv").write_text("subscriber_id,join_date,status\nA,2026-09-01,active\n"
                                    "B,2026-10-15,active\n")
    (tmp_path / "b.csv").write_text("subscriber_id,bill_month,amount\nA,2026-09,10.00\n"
                                    "B,2026-10,20.00\n")
    code, out = _invoke("run", "--month", "2026-11", "--billing", str(tmp_path / "b.csv"),
                        "--subscribers", str(tmp_path / "s.csv"),
                        "--store", str(tmp_path / "n.duckdb"))
    assert code == 0, out
    assert "rated 0" in out and "new               2 lines" in out and "no cut points" in out


def test_python_m_tiering_and_cli_py_without_a_dependency(tmp_path: Path):
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "tiering", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "tiering" in done.stdout
    # A duckdb that cannot be imported stands for a checkout without the dependencies: the
    # package and its engine module (the store's read path imports the engine alone).
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "duckdb" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'duckdb'\", name='duckdb')\n")
    (tmp_path / "_duckdb.py").write_text(
        "raise ImportError(\"No module named '_duckdb'\", name='_duckdb')\n")
    done = subprocess.run([sys.executable, str(root / "cli.py"), "run", "--month", "2026-11"],
                          capture_output=True, text=True, timeout=60, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2
    assert "needs the package duckdb" in done.stderr and "pip install -e ." in done.stderr


def test_export_with_month_and_effective_tier(store: Path, tmp_path: Path):
    exe = shutil.which("tiering", path=str(Path(sys.executable).parent)) or "tiering"
    out = tmp_path / "e.csv"
    done = subprocess.run([exe, "export", "--store", str(store), "--out", str(out), "--with",
                           "month", "--with", "effective_tier", "--at", "2026-11-15"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as f:
        rows = {r["subscriber_id"]: r for r in csv.DictReader(f)}
    first = next(iter(rows.values()))
    assert list(first)[0] == "month" and list(first)[-1] == "effective_tier"
    # HAND_CHECK.md: 13800000018 is one-star on its own, four-star through customer C100.
    assert (rows["13800000018"]["month"], rows["13800000018"]["tier"],
            rows["13800000018"]["effective_tier"]) == ("2026-11", "1", "4")
    outside = subprocess.run([exe, "export", "--store", str(store), "--out", str(out),
                              "--with", "effective_tier", "--at", "2026-12-01"],
                             capture_output=True, text=True, timeout=60)
    assert outside.returncode == 2 and "not in the exported month" in outside.stderr
