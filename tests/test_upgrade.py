"""A 0.1 store (every month in one DuckDB file) is refused with the way out, and
`tiering upgrade` turns it into this version's store with the same answers."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

import tiering
from tiering.store import Store

EXE = shutil.which("tiering", path=str(Path(sys.executable).parent)) or "tiering"
# The 0.1 store's tables, as 0.1 created them.
SCHEMA_0_1 = """
CREATE TABLE runs (month VARCHAR PRIMARY KEY, run_at TIMESTAMPTZ, version VARCHAR,
    policy_fingerprint VARCHAR, policy_toml VARCHAR, unrated_service_tier TINYINT,
    inputs JSON, counts JSON, unrated JSON, timings JSON);
CREATE TABLE lines (month VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, region VARCHAR,
    tenure_months INTEGER, window_months INTEGER, arpu_yuan BIGINT, arpu_score BIGINT,
    coefficient DECIMAL(6,2), score DECIMAL(18,2), tier TINYINT, reason VARCHAR,
    partition VARCHAR, customer_tier TINYINT);
CREATE TABLE thresholds (month VARCHAR, partition VARCHAR, rated BIGINT, tier TINYINT,
    cumulative_share DECIMAL(5,2), rank BIGINT, raw DECIMAL(18,2), rounded BIGINT);
CREATE TABLE tier_counts (month VARCHAR, partition VARCHAR, tier TINYINT, count BIGINT,
    nominal_share DECIMAL(5,2), realised_share DECIMAL(5,2));
CREATE TABLE overrides (month VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR,
    tier TINYINT, valid_from DATE, valid_to DATE, reason VARCHAR);
"""
OLD_LINES = ("subscriber_id, customer_id, region, tenure_months, window_months, arpu_yuan, "
             "arpu_score, coefficient, score, tier, reason, partition, customer_tier")


def _old_store(small: Path, tmp: Path) -> Path:
    """The 2026-11 fixture month as 0.1 stored it (taken from this version's store)."""
    new = tmp / "new.duckdb"
    Store(new).write_month(tiering.rate("2026-11", small / "billing.csv",
                                        small / "subscribers.csv",
                                        overrides=small / "overrides.csv"))
    old = tmp / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(SCHEMA_0_1)
    con.execute(f"ATTACH '{new}' AS n (READ_ONLY)")
    con.execute(f"INSERT INTO lines SELECT '2026-11', {OLD_LINES} FROM read_parquet("
                f"'{new}.d/month=2026-11/*/*.parquet')")
    for table in ("runs", "thresholds", "tier_counts", "overrides"):
        con.execute(f"INSERT INTO {table} SELECT * FROM n.{table}")
    con.close()
    return old


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def test_a_0_1_store_is_refused_then_upgraded_with_the_same_answers(small: Path,
                                                                    tmp_path: Path):
    old = _old_store(small, tmp_path)
    before = hashlib.sha256(old.read_bytes()).hexdigest()
    refused = _cli("lookup", "13800000018", "--store", str(old))
    assert refused.returncode == 2 and "tiering upgrade" in refused.stderr, refused.stderr
    assert hashlib.sha256(old.read_bytes()).hexdigest() == before

    done = _cli("upgrade", "--store", str(old), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["months"] == ["2026-11"]
    kept = Path(f"{old}.0.1")
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == before

    for args in (["thresholds", "--json"], ["lookup", "13800000018", "--at", "2026-11-15",
                                             "--json"]):
        upgraded = _cli(*args, "--store", str(old))
        fresh = _cli(*args, "--store", str(tmp_path / "new.duckdb"))
        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout == fresh.stdout
    again = _cli("upgrade", "--store", str(old))
    assert again.returncode == 2 and "already" in again.stderr
