"""The billing extract, parsed and summed per subscriber by DuckDB.

An extract has a row per line, month and charge: a hundred million rows for ten million
lines. DuckDB reads it in parallel, parses ids, months and amounts, keeps the rows of
M-12..M-1 and sums them per line in one pass, within a memory limit (spilling to disk past
it). Only that per-line summary, a row per line, comes back to polars for the rules.

The SQL here is built only from our own column names and constants; user values (paths,
column names) reach DuckDB through its Python API and parameters, never as SQL text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from tiering.errors import InputError
from tiering.readers import EXAMPLES, MONTH_RE, Table, bad_rows_message, read_error

COLUMNS = ("subscriber_id", "bill_month", "amount")
# Leaves room under 2 GB for the per-line frames polars holds beside DuckDB.
MEMORY_LIMIT = os.environ.get("TIERING_DUCKDB_MEMORY", "1GB")
AMOUNT_TEXT = r"\s*[+-]?\d{1,16}(\.\d{0,2}0*)?\s*"
PROBLEMS = {
    "subscriber_id": "empty value",
    "bill_month": "not a month (YYYY-MM, YYYYMM or a date)",
}


@dataclass(frozen=True, slots=True)
class Summary:
    """Per key billed inside M-12..M-1: ``fen``, ``window_rows``, ``first_month``; and the
    number of rows in the whole extract."""

    per_key: pl.DataFrame
    rows: int


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{_memory_limit()}'")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _memory_limit() -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", MEMORY_LIMIT):
        raise InputError(f"TIERING_DUCKDB_MEMORY: not a size like 1GB: {MEMORY_LIMIT!r}")
    return MEMORY_LIMIT


def relation(con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[str] | None = None
             ) -> duckdb.DuckDBPyRelation:
    """The table as a DuckDB relation with our column names (CSV is read as text, so ids
    keep their leading zeros)."""
    files = list(table.files if files is None else files)
    try:
        if files and all(f.lower().endswith((".parquet", ".pq")) for f in files):
            rel = con.read_parquet(files)
        elif files:
            rel = con.read_csv(files, header=True, all_varchar=True, sep=",", quotechar='"',
                               strict_mode=True)
        else:
            rel = con.from_arrow(table.frame.collect().to_arrow())
        names = {theirs: ours for ours, theirs in table.columns.items()}
        missing = [c for c in COLUMNS if c not in {names.get(c2, c2) for c2 in rel.columns}]
        if missing:
            raise InputError(f"{table.name}: missing column {', '.join(map(repr, missing))} "
                             f"(found: {', '.join(rel.columns) or 'none'})")
        return rel.select(*[duckdb.ColumnExpression(c).alias(names.get(c, c))
                            for c in rel.columns if names.get(c, c) in COLUMNS])
    except duckdb.Error as exc:
        raise read_error(table, exc) from None


def _types(rel: duckdb.DuckDBPyRelation) -> dict[str, str]:
    return {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}


def key_sql(dtype: str, integer_keys: bool) -> str:
    """The join key: an int64 for ids written as canonical integers (the text round-trips,
    so ``0138...``, ``+138`` or `` 138`` never match ``138...``), else the text as given."""
    if _is_integer(dtype):
        return "CAST(subscriber_id AS BIGINT)" if integer_keys else "CAST(subscriber_id AS VARCHAR)"
    if not integer_keys:
        return "NULLIF(CAST(subscriber_id AS VARCHAR), '')"
    return ("CASE WHEN CAST(TRY_CAST(subscriber_id AS BIGINT) AS VARCHAR) = subscriber_id "
            "THEN TRY_CAST(subscriber_id AS BIGINT) END")


def _is_integer(dtype: str) -> bool:
    return dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "HUGEINT")


def month_sql(dtype: str) -> str:
    """A month index (year * 12 + month - 1); text months come from the ``month_map`` table."""
    if dtype.startswith(("DATE", "TIMESTAMP")):
        return "year(bill_month) * 12 + month(bill_month) - 1"
    if _is_integer(dtype):
        return ("CASE WHEN bill_month % 100 BETWEEN 1 AND 12 AND bill_month BETWEEN 190001 "
                "AND 999912 THEN CAST(bill_month / 100 AS BIGINT) * 12 + bill_month % 100 - 1 END")
    return "month_map.month"


def fen_sql(dtype: str, unit: str) -> str:
    """An amount as exact integer fen, null when it is not one."""
    if _is_integer(dtype):
        return "CAST(amount AS BIGINT)" + ("" if unit == "fen" else " * 100")
    if dtype.startswith("DECIMAL"):
        scale = int(re.findall(r"\d+", dtype)[1])
        if scale <= 2:
            return "CAST(amount * 100 AS BIGINT)"
        return ("CASE WHEN amount * 100 = CAST(amount * 100 AS BIGINT) "
                "THEN CAST(amount * 100 AS BIGINT) END")
    if dtype in ("DOUBLE", "FLOAT", "REAL"):
        # A float is accepted when it sits on the fen within 1e-6 yuan.
        return ("CASE WHEN isfinite(amount) AND abs(amount) < 1e15 AND "
                "abs(amount * 100 - round(amount * 100)) <= 1e-4 "
                "THEN CAST(round(amount * 100) AS BIGINT) END")
    if unit == "fen":
        return ("CASE WHEN regexp_full_match(amount, '\\s*[+-]?\\d{1,18}\\s*') "
                "THEN TRY_CAST(trim(amount) AS BIGINT) END")
    return (f"CASE WHEN regexp_full_match(amount, '{AMOUNT_TEXT}') "
            "THEN CAST(TRY_CAST(trim(amount) AS DECIMAL(18, 2)) * 100 AS BIGINT) END")


def _parsed(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, unit: str,
            integer_keys: bool, row_numbers: bool = False) -> str:
    """Register the relation (and the month map) and return the SQL of its parsed rows."""
    types = _types(rel)
    con.register("billing_raw", rel)
    join = ""
    if month_sql(types["bill_month"]) == "month_map.month":
        texts = [r[0] for r in con.execute(
            "SELECT DISTINCT bill_month FROM billing_raw WHERE bill_month IS NOT NULL").fetchall()]
        con.register("month_map_src", pl.DataFrame(
            {"text": texts, "month": [_month_of_text(t) for t in texts]},
            schema={"text": pl.String, "month": pl.Int32}))
        join = "LEFT JOIN month_map_src AS month_map ON month_map.text = billing_raw.bill_month"
    missing_id = "subscriber_id IS NULL" + (
        " OR CAST(subscriber_id AS VARCHAR) = ''" if not _is_integer(types["subscriber_id"]) else "")
    row = "row_number() OVER () AS _row, " if row_numbers else ""
    return (f"SELECT {row}{key_sql(types['subscriber_id'], integer_keys)} AS key, "
            f"{month_sql(types['bill_month'])} AS month, "
            f"{fen_sql(types['amount'], unit)} AS fen, ({missing_id}) AS missing_id, "
            f"subscriber_id, bill_month, amount FROM billing_raw {join}")


def _month_of_text(text: str) -> int | None:
    m = re.fullmatch(MONTH_RE, text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def summarise(table: Table, month: int, unit: str, integer_keys: bool, window: int
              ) -> Summary:
    """Sum each line's fen over M-window .. M-1; reject the extract if any row is bad."""
    con = connect()
    try:
        parsed = _parsed(con, relation(con, table), unit, integer_keys)
        bad = "missing_id OR month IS NULL OR fen IS NULL"
        (total, n_bad), = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {bad}) FROM ({parsed})").fetchall()
        if total == 0:
            raise InputError(f"{table.name}: no rows (empty input)")
        if n_bad:
            raise reject(table, unit, integer_keys)
        per_key = con.sql(
            f"SELECT key, sum(fen)::BIGINT AS fen, count(*)::INTEGER AS window_rows, "
            f"min(month)::INTEGER AS first_month FROM ({parsed}) "
            f"WHERE month BETWEEN $lo AND $hi GROUP BY key",
            params={"lo": month - window, "hi": month - 1}).pl()
        return Summary(per_key, int(total))
    except duckdb.Error as exc:
        raise read_error(table, exc) from None
    finally:
        con.close()


def window_sums(table: Table, starts: pl.DataFrame, month: int, unit: str, integer_keys: bool
                ) -> pl.DataFrame:
    """Fen and rows per key from its own window start (``starts``: key, window_start) to
    M-1: the second look for the few lines billed before they joined."""
    con = connect()
    try:
        parsed = _parsed(con, relation(con, table), unit, integer_keys)
        con.register("starts", starts)
        return con.sql(
            f"SELECT p.key, sum(p.fen)::BIGINT AS fen, count(*)::INTEGER AS window_rows "
            f"FROM ({parsed}) p JOIN starts s ON s.key = p.key "
            f"WHERE p.month BETWEEN s.window_start AND $hi GROUP BY p.key",
            params={"hi": month - 1}).pl()
    finally:
        con.close()


def reject(table: Table, unit: str, integer_keys: bool) -> InputError:
    """Name the bad rows: per column the count and the first rows, file by file. Only taken
    once a run has seen bad rows; one thread keeps the rows in file order."""
    problems = PROBLEMS | {"amount": "not an amount in yuan with at most 2 decimals"
                           if unit == "yuan" else "not an integer amount in fen"}
    checks = {"subscriber_id": "missing_id", "bill_month": "month IS NULL",
              "amount": "fen IS NULL AND NOT missing_id"}
    messages: list[str] = []
    for name, files in ([(f, [f]) for f in table.files] or [(table.name, None)]):
        con = connect(threads=1)
        try:
            parsed = _parsed(con, relation(con, table, files), unit, integer_keys,
                             row_numbers=True)
            for column, condition in checks.items():
                (count,), = con.execute(
                    f"SELECT count(*) FROM ({parsed}) WHERE {condition}").fetchall()
                if count:
                    first: list[tuple[int, Any]] = con.execute(
                        f"SELECT _row, CAST({column} AS VARCHAR) FROM ({parsed}) "
                        f"WHERE {condition} ORDER BY _row LIMIT {EXAMPLES}").fetchall()
                    messages.append(bad_rows_message(name, column, problems[column], count,
                                                     first))
        finally:
            con.close()
    return InputError("\n".join(messages))
