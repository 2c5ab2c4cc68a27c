"""The store's shape: a small DuckDB catalog file and one set of Parquet files per month.

    tiering.duckdb                          the catalog: runs, thresholds, tier counts,
                                            overrides, which files hold each month's lines,
                                            and a ``lines`` view over them for analysts
    tiering.duckdb.d/month=2026-11/RUN/     the month's lines, Parquet (LZ4), in id order

A run writes its month's files into a new RUN folder, then publishes them by swapping in a
new catalog (a copy of a few kilobytes per month, never the lines of other months), then
removes the month's previous folder. Its cost therefore does not grow with the history kept,
and re-running a month gives the old month's space back. Measured against the 0.1 store (one
DuckDB file holding every month, copied whole by each run): at 1M lines a month, month 12
wrote 254 MB there, 12.1x month 1 (issue 11).
"""

from __future__ import annotations

from pathlib import Path

from tiering.errors import StoreError
from tiering.store.engine import duckdb

DEFAULT_STORE = "tiering.duckdb"
FORMAT = 2
DATA_SUFFIX = ".d"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS store_format (version INTEGER);
INSERT INTO store_format SELECT {FORMAT} WHERE NOT EXISTS (SELECT * FROM store_format);
CREATE TABLE IF NOT EXISTS runs (
    month VARCHAR PRIMARY KEY, run_at TIMESTAMPTZ, version VARCHAR,
    policy_fingerprint VARCHAR, policy_toml VARCHAR, unrated_service_tier TINYINT,
    inputs JSON, counts JSON, unrated JSON, timings JSON);
CREATE TABLE IF NOT EXISTS month_files (month VARCHAR, file VARCHAR);
CREATE TABLE IF NOT EXISTS thresholds (
    month VARCHAR, partition VARCHAR, rated BIGINT, tier TINYINT, cumulative_share DECIMAL(5,2),
    rank BIGINT, raw DECIMAL(18,2), rounded BIGINT);
CREATE TABLE IF NOT EXISTS tier_counts (
    month VARCHAR, partition VARCHAR, tier TINYINT, count BIGINT, nominal_share DECIMAL(5,2),
    realised_share DECIMAL(5,2));
CREATE TABLE IF NOT EXISTS overrides (
    month VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, tier TINYINT, valid_from DATE,
    valid_to DATE, reason VARCHAR);
"""
# The tables holding rows of a month (month_files and runs included).
MONTH_TABLES = ("month_files", "thresholds", "tier_counts", "overrides", "runs")

# A month's Parquet files hold these columns, in this order, with these types (any engine
# that writes a month, the embedded one or Spark, casts to them).
LINE_TYPES = (
    ("subscriber_id", "VARCHAR"), ("customer_id", "VARCHAR"), ("region", "VARCHAR"),
    ("tenure_months", "INTEGER"), ("window_months", "INTEGER"), ("arpu_yuan", "BIGINT"),
    ("arpu_score", "BIGINT"), ("coefficient", "DECIMAL(6,2)"), ("score", "DECIMAL(18,2)"),
    ("tier", "TINYINT"), ("reason", "VARCHAR"), ("coefficient_x100", "BIGINT"),
    ("score_x100", "BIGINT"), ("partition", "VARCHAR"), ("customer_tier", "TINYINT"),
    ("window_fen", "BIGINT"), ("window_rows", "INTEGER"), ("active", "BOOLEAN"),
    ("personal", "BOOLEAN"), ("billed", "BOOLEAN"),
)


def data_dir(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + DATA_SUFFIX)


def month_dir(catalog: Path, month: str) -> Path:
    return data_dir(catalog) / f"month={month}"


def sql_text(value: str) -> str:
    """A string literal (our own file paths only: DuckDB table functions in a view take no
    parameters)."""
    return "'" + value.replace("'", "''") + "'"


def lines_view(files: dict[str, list[Path]]) -> str:
    """The ``lines`` relation: every month's files, with the month as a column. A filter on
    the month prunes the other months' scans at planning (measured: a look-up reads one
    row group of one file)."""
    if not files:
        columns = ", ".join(f"NULL::{t} AS {c}" for c, t in LINE_TYPES)
        return f"SELECT NULL::VARCHAR AS month, {columns} WHERE false"
    return "\nUNION ALL\n".join(
        f"SELECT {sql_text(month)} AS month, * FROM read_parquet([{', '.join(sql_text(str(p)) for p in paths)}])"
        for month, paths in sorted(files.items()))


def month_files(con: duckdb.DuckDBPyConnection, catalog: Path) -> dict[str, list[Path]]:
    """Each stored month's line files, resolved against where the catalog is now."""
    root = data_dir(catalog)
    files: dict[str, list[Path]] = {}
    for month, file in con.execute("SELECT month, file FROM month_files ORDER BY month, file"
                                   ).fetchall():
        files.setdefault(month, []).append(root / file)
    return files


def check_format(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a DuckDB file that is not a store of this format, naming what it is.

    A store of this format is recognised by one query of its ``store_format`` table; only
    another file is told apart by listing its tables (measured: information_schema costs a
    look-up 5-10 ms of planning, ``store_format`` under 1 ms)."""
    try:
        version = con.execute("SELECT max(version) FROM store_format").fetchone()
    except duckdb.CatalogException:
        version = None  # no such table: say below what the file is
    if version is not None and version[0] == FORMAT:
        return
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
        "current_database()").fetchall()}
    if "store_format" in tables:
        version = con.execute("SELECT max(version) FROM store_format").fetchone()
        if version is not None and version[0] == FORMAT:
            return
        raise StoreError(f"{path} is a tiering store of format {version and version[0]}, "
                         f"this tiering reads format {FORMAT}")
    if "runs" in tables and "lines" in tables:
        raise StoreError(f"{path} is a tiering 0.1 store (every month in one file); upgrade it "
                         f"with `tiering upgrade --store {path}`")
    raise StoreError(f"{path} is a DuckDB file but not a tiering store")
