"""DuckDB's side of reading the inputs: relations over the files, and the SQL that parses
their columns.

Extracts are large (a hundred million billing rows, ten million subscribers); DuckDB reads
and parses them in parallel within a memory limit, and hands polars only what the rules
need. The SQL is built from our own column names and constants; paths and the user's column
names reach DuckDB through its Python API, never as SQL text. Rows are numbered only on
the error path (one thread keeps file order), so the fast path never pays for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import polars as pl

from tiering.errors import InputError
from tiering.readers import (DATE_RE, EXAMPLES, FALSE_WORDS, MAX_LINE_BYTES, TRUE_WORDS,
                             Table, bad_rows_message, read_error)

# Grouping a hundred million billing rows by ten million ids needs ~2.2 GB to run in
# memory; below that DuckDB spills and takes twice as long, or runs out and the billing
# pass is split (billing.summarise). So the default is 4 GB, or half the usable memory.
MEMORY_LIMIT_ENV = "TIERING_DUCKDB_MEMORY"
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT])(i?)B")
Checks = Mapping[str, tuple[str, str]]  # column -> (SQL condition true on bad rows, problem)
Builder = Callable[..., str]


# DuckDB's share of a run's memory budget (tiering.rate(memory=...)), for every connection
# the run opens.
_SHARE: contextvars.ContextVar[str | None] = contextvars.ContextVar("duckdb_share",
                                                                    default=None)


@contextlib.contextmanager
def memory_share(limit: str) -> Iterator[None]:
    """DuckDB's memory limit for the connections opened inside the block (unless
    TIERING_DUCKDB_MEMORY sets one)."""
    token = _SHARE.set(limit)
    try:
        yield
    finally:
        _SHARE.reset(token)


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # our progress is the caller's to show
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def memory_limit() -> str:
    """DuckDB's memory limit: TIERING_DUCKDB_MEMORY, else the run's share of its budget,
    else the default below."""
    limit = os.environ.get(MEMORY_LIMIT_ENV) or _SHARE.get() or _default_limit()
    if not SIZE.fullmatch(limit):
        raise InputError(f"{MEMORY_LIMIT_ENV}: not a size like 1GB: {limit!r}")
    return limit


def size_bytes(size: str) -> int:
    """Bytes in a size like ``1GB`` (10^9) or ``512MiB`` (2^29), as DuckDB reads them."""
    number, unit, binary = SIZE.fullmatch(size).groups()  # type: ignore[union-attr]
    return int(float(number) * (1024 if binary else 1000) ** ("KMGT".index(unit) + 1))


def usable_memory() -> int:
    """Bytes this process may use: the machine's, or a container's (cgroup v2), where going
    over is a kill by the kernel, not a spill."""
    usable = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            usable = min(usable, int(f.read()))
    except (OSError, ValueError):  # no cgroup v2, or "max" (no limit)
        pass
    return usable


def _default_limit() -> str:
    """4 GB, or half the usable memory if that is less."""
    return f"{min(4 << 30, usable_memory() // 2) >> 20}MiB"


def relation(con: duckdb.DuckDBPyConnection, table: Table, needed: Sequence[str],
             optional: Sequence[str] = (), files: Sequence[str] | None = None
             ) -> duckdb.DuckDBPyRelation:
    """The table as a relation holding our column names (CSV is read as text, so ids keep
    their leading zeros). Raises InputError for a missing column or an unreadable file."""
    files = list(table.files if files is None else files)
    try:
        if files and all(f.lower().endswith((".parquet", ".pq")) for f in files):
            rel = con.read_parquet(files)
        elif files:
            rel = con.read_csv([table.readable(f) for f in files], header=True,
                               all_varchar=True, sep=table.delimiter, quotechar='"',
                               strict_mode=True, max_line_size=MAX_LINE_BYTES)
        else:
            rel = con.from_arrow(table.frame.collect().to_arrow())
        ours = {theirs: mine for mine, theirs in table.columns.items()}
        present = {ours.get(c, c): c for c in rel.columns}
        missing = [c for c in needed if c not in present]
        if missing:
            raise InputError(f"{table.name}: missing column {', '.join(map(repr, missing))} "
                             f"(found: {', '.join(rel.columns) or 'none'})")
        return rel.select(*[duckdb.ColumnExpression(present[c]).alias(c)
                            for c in (*needed, *optional) if c in present])
    except duckdb.Error as exc:
        raise read_error(table, exc) from None


def fetch(con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | None = None
          ) -> pl.DataFrame:
    """A query's result as a polars frame, moved over in batches so DuckDB never holds a
    second full copy of ten million rows beside polars."""
    reader = con.sql(query, params=params).to_arrow_reader(1 << 20)
    frames = [pl.from_arrow(batch) for batch in reader]
    if not frames:
        return pl.from_arrow(reader.schema.empty_table())  # type: ignore[return-value]
    return pl.concat(frames, rechunk=False)  # type: ignore[arg-type]


def types(rel: duckdb.DuckDBPyRelation) -> dict[str, str]:
    return {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}


def is_integer(dtype: str) -> bool:
    return dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "HUGEINT")


def id_sql(dtype: str) -> str:
    """The id as given: an integer stays an integer, text stays text (an empty text is a
    missing id)."""
    return "subscriber_id" if is_integer(dtype) else "NULLIF(CAST(subscriber_id AS VARCHAR), '')"


def int_key_sql(dtype: str) -> str:
    """An int64 for ids written as canonical integers: the text must round-trip, so
    ``0138...``, ``+138`` or `` 138`` never meet ``138...``. Null for any other id, and for
    an integer outside the int64 range (a uint64 column): such ids join as text."""
    if is_integer(dtype):
        return "TRY_CAST(subscriber_id AS BIGINT)"
    return ("CASE WHEN CAST(TRY_CAST(subscriber_id AS BIGINT) AS VARCHAR) = subscriber_id "
            "THEN TRY_CAST(subscriber_id AS BIGINT) END")


def key_sql(dtype: str, integer_keys: bool) -> str:
    """The join key: int64 when every subscriber id is a canonical integer (hashing an int
    is several times cheaper than hashing text), else the id's text."""
    return int_key_sql(dtype) if integer_keys else f"CAST({id_sql(dtype)} AS VARCHAR)"


def text_sql(col: str) -> str:
    return f"NULLIF(trim(CAST({col} AS VARCHAR)), '')"


def date_sql(col: str, dtype: str) -> str:
    if dtype == "DATE":
        return col
    if dtype.startswith("TIMESTAMP"):
        return f"CAST({col} AS DATE)"
    # The documented form only: strptime alone takes 2026-2-3 too (it rejects 2026-02-30).
    t = f"trim(CAST({col} AS VARCHAR))"
    return (f"CASE WHEN regexp_full_match({t}, '{DATE_RE}') "
            f"THEN CAST(try_strptime({t}, '%Y-%m-%d') AS DATE) END")


def bool_sql(col: str, dtype: str) -> str:
    """true/false, t/f, yes/no, y/n, 1/0 in any case; empty is absent (null)."""
    if dtype == "BOOLEAN":
        return col
    t = f"lower(trim(CAST({col} AS VARCHAR)))"
    return (f"CASE WHEN {t} IN {tuple(TRUE_WORDS)} THEN true "
            f"WHEN {t} IN {tuple(FALSE_WORDS)} THEN false END")


SUBSCRIBER_CHECKS: dict[str, tuple[str, str]] = {
    "subscriber_id": ("subscriber_id IS NULL", "empty value"),
    "join_date": ("join_date IS NULL", "not a date (YYYY-MM-DD)"),
    "status": ("status IS NULL", "empty value"),
    "billed_in_month": ("billed IS NULL AND billed_raw IS NOT NULL",
                        "not a boolean (true/false, yes/no, 1/0)"),
}
DUPLICATES: dict[str, tuple[str, str]] = {
    "subscriber_id": ("count(*) OVER (PARTITION BY subscriber_id) > 1", "duplicate subscriber"),
}


def subscribers_sql(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation,
                    row_numbers: bool = False) -> str:
    """Register the subscribers relation; return the SQL of its parsed rows."""
    t = types(rel)
    con.register("subscribers_raw", rel)

    def optional(col: str, expr: str, kind: str = "VARCHAR") -> str:
        return expr if col in t else f"CAST(NULL AS {kind})"

    row = "row_number() OVER () AS _row, " if row_numbers else ""
    line_type = text_sql("line_type")
    return (
        f"SELECT {row}{id_sql(t['subscriber_id'])} AS subscriber_id, "
        f"{int_key_sql(t['subscriber_id'])} AS int_key, "
        f"{date_sql('join_date', t['join_date'])} AS join_date, "
        f"{text_sql('status')} AS status, "
        f"lower({text_sql('status')}) = 'active' AS active, "
        f"{optional('customer_id', text_sql('customer_id'))} AS customer_id, "
        f"{optional('region', text_sql('region'))} AS region, "
        f"{optional('line_type', f'lower({line_type}) = ' + repr('personal'), 'BOOLEAN')} "
        f"AS personal, "
        f"{optional('billed_in_month', bool_sql('billed_in_month', t.get('billed_in_month', '')), 'BOOLEAN')} AS billed, "  # noqa: E501
        f"{optional('billed_in_month', text_sql('billed_in_month'))} AS billed_raw, "
        f"CAST(subscriber_id AS VARCHAR) AS subscriber_id_raw, "
        f"CAST(join_date AS VARCHAR) AS join_date_raw, CAST(status AS VARCHAR) AS status_raw, "
        f"{optional('billed_in_month', 'CAST(billed_in_month AS VARCHAR)')} "
        f"AS billed_in_month_raw "
        f"FROM subscribers_raw"
    )


def reject(table: Table, needed: Sequence[str], optional: Sequence[str], builder: Builder,
           checks: Checks) -> InputError:
    """Name the bad rows: per column, the count and the first rows, file by file."""
    messages: list[str] = []
    for name, files in ([(f, [f]) for f in table.files] or [(table.name, None)]):
        con = connect(threads=1)
        try:
            parsed = builder(con, relation(con, table, needed, optional, files),
                             row_numbers=True)
            for column, (condition, problem) in checks.items():
                keep = "QUALIFY" if "OVER" in condition else "WHERE"
                found: list[tuple[int, Any, int]] = con.execute(
                    f"SELECT _row, {column}_raw, count(*) OVER () FROM (SELECT * FROM "
                    f"({parsed}) {keep} {condition}) ORDER BY _row LIMIT {EXAMPLES}").fetchall()
                if found:
                    messages.append(bad_rows_message(name, column, problem, found[0][2],
                                                     [(r, v) for r, v, _ in found]))
        finally:
            con.close()
    return InputError("\n".join(messages) or f"{table.name}: bad rows")
