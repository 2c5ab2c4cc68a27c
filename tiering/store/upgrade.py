"""Upgrading a 0.1 store (every month in one DuckDB file) to the month-partitioned store.

Each month's lines are copied by DuckDB straight from the old file to the month's Parquet
file (one month in memory at a time at most, DuckDB streams the COPY); the old file is kept
beside the new catalog as ``STORE.0.1`` until the user removes it. 0.1 did not keep the
rating facts, so upgraded months have them empty: ``tiering simulate`` needs a re-run of
such a month, every other command reads it as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from tiering.engine import FACT_COLUMNS
from tiering.errors import StoreError
from tiering.store.catalog import LINE_TYPES, sql_text
from tiering.store.writer import publishing

# What 0.1 lacked, derived or left empty.
DERIVED = {"coefficient_x100": "CAST(coefficient * 100 AS BIGINT)",
           "score_x100": "CAST(score * 100 AS BIGINT)"}
OLD_TABLES = ("runs", "thresholds", "tier_counts", "overrides")


def upgrade(path: Path) -> tuple[list[str], Path]:
    """Upgrade the 0.1 store at ``path`` in place; returns its months and the kept old file."""
    kept = path.with_name(path.name + ".0.1")
    try:
        old = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"{path} is not a DuckDB file: {exc}") from None
    try:
        tables = {r[0] for r in old.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        old.close()
    if "store_format" in tables:
        raise StoreError(f"{path} is already a store of this format")
    if not {"runs", "lines"} <= tables:
        raise StoreError(f"{path} is not a tiering 0.1 store")
    columns = ", ".join(f"{DERIVED.get(c, c if c not in FACT_COLUMNS else 'NULL')}::{t} AS {c}"
                        for c, t in LINE_TYPES)
    os.link(path, kept)  # the old file stays reachable whatever happens next
    try:
        with publishing(path, replace=True) as pub:
            con = pub.con
            con.execute(f"ATTACH {sql_text(str(kept))} AS tiering_0_1 (READ_ONLY)")
            months = [m for (m,) in con.execute(
                "SELECT month FROM tiering_0_1.runs ORDER BY month").fetchall()]
            for month in months:
                folder = pub.new_month_dir(month)
                target = folder / "part-0.parquet"
                con.execute(f"COPY (SELECT {columns} FROM tiering_0_1.lines WHERE month = "
                            f"{sql_text(month)} ORDER BY subscriber_id) TO "
                            f"{sql_text(str(target))} (FORMAT parquet, COMPRESSION lz4_raw)")
                pub.replace_month(month, [target])
            for table in OLD_TABLES:
                con.execute(f"INSERT INTO {table} SELECT * FROM tiering_0_1.{table}")
            con.execute("DETACH tiering_0_1")
    except BaseException:
        kept.unlink(missing_ok=True)  # the store is still the old file itself
        raise
    return months, kept

