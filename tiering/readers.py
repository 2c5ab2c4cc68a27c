"""Opening the inputs and reading subscriber lists and overrides into checked polars frames.

Readers sit at the edge: they turn files (CSV, Parquet, globs), DuckDB relations, Arrow
tables and polars frames into frames with one meaning per column, and reject bad values with
the file, row, column and value named. Text is read as text (an id like ``0138...`` is never
turned into a number); rows are numbered from 1 after the header. The large inputs
(subscribers, billing) are parsed by DuckDB (``sql.py``, ``billing.py``); the small override
list by polars here.
"""

from __future__ import annotations

import glob as globlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tiering.errors import InputError
from tiering.privacy import mask_id

EXAMPLES = 5
# Values of these columns are personal data: error messages show them masked.
PERSONAL_COLUMNS = ("subscriber_id",)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

Source = str | Path | Sequence[str | Path] | pl.DataFrame | pl.LazyFrame | Any


@dataclass(frozen=True, slots=True)
class Table:
    """One input: its name in messages, the files behind it (none for an in-memory frame),
    the frame itself when it was given in memory, and the column map (ours -> theirs)."""

    name: str
    files: tuple[str, ...]
    given: pl.LazyFrame | None
    columns: Mapping[str, str]

    @property
    def frame(self) -> pl.LazyFrame:
        """The table as a lazy polars frame with our column names."""
        frame = self.given if self.given is not None else pl.concat(
            [_scan(f) for f in self.files], how="vertical_relaxed")
        if self.columns:
            present = frame.collect_schema().names()
            frame = frame.rename({theirs: ours for ours, theirs in self.columns.items()
                                  if theirs in present})
        return frame


def open_table(source: Source, what: str, columns: Mapping[str, str] | None = None) -> Table:
    """Open a path, glob, list of paths, DuckDB relation, Arrow table or polars frame.

    ``columns`` maps our column names to the names in the source (``{"subscriber_id": "msisdn"}``).
    """
    if isinstance(source, (str, Path)) or (
        isinstance(source, Sequence) and not isinstance(source, (str, bytes))
        and all(isinstance(s, (str, Path)) for s in source)
    ):
        files = _expand(source, what)
        for f in files:
            _check_format(f)
        name = files[0] if len(files) == 1 else f"{what} ({len(files)} files)"
        return Table(name, tuple(files), None, dict(columns or {}))
    return Table(what, (), _from_object(source, what), dict(columns or {}))


def _expand(source: str | Path | Sequence[str | Path], what: str) -> list[str]:
    patterns = [source] if isinstance(source, (str, Path)) else list(source)
    files: list[str] = []
    for pattern in patterns:
        matched = sorted(globlib.glob(str(pattern))) if globlib.has_magic(str(pattern)) else [
            str(pattern)]
        for f in matched:
            if not Path(f).is_file():
                raise InputError(f"{f}: no such {what} file")
        if not matched:
            raise InputError(f"{pattern}: no {what} file matches")
        files.extend(matched)
    return files


def _check_format(path: str) -> None:
    if Path(path).suffix.lower() not in (".parquet", ".pq", ".csv", ".txt"):
        raise InputError(f"{path}: unknown format {Path(path).suffix!r} "
                         "(expected .csv or .parquet)")


def _scan(path: str) -> pl.LazyFrame:
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        return pl.scan_parquet(path)
    return pl.scan_csv(path, infer_schema=False, encoding="utf8", has_header=True)


def _from_object(source: Any, what: str) -> pl.LazyFrame:
    if isinstance(source, pl.LazyFrame):
        return source
    if isinstance(source, pl.DataFrame):
        return source.lazy()
    if hasattr(source, "pl") and hasattr(source, "arrow"):  # a DuckDB relation
        return source.pl().lazy()
    try:
        return pl.from_arrow(source).lazy()  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"{what}: cannot read a {type(source).__name__}") from None


def collect(table: Table, query: pl.LazyFrame) -> pl.DataFrame:
    """Run a query over a table, turning a reader failure into an InputError naming the file."""
    try:
        return query.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise read_error(table, exc) from None


def read_error(table: Table, exc: BaseException) -> InputError:
    """Name the file and, for a malformed CSV, the first bad row (found on this error path
    only, so the fast path never pays for it). Ctrl-C inside DuckDB surfaces as one of its
    errors: that is an interruption, not bad input."""
    text = str(exc)
    if "interrupt" in type(exc).__name__.lower() or "KeyboardInterrupt" in text:
        raise KeyboardInterrupt
    for path in table.files:
        if Path(path).suffix.lower() in (".csv", ".txt"):
            problem = _diagnose_csv(path)
            if problem:
                return InputError(f"{path}: {problem}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{table.name}: cannot read: {first}")


def _diagnose_csv(path: str) -> str | None:
    import csv

    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[max(exc.start - 10, 0):exc.end + 10]
                return f"line {line_no}: not UTF-8 text near {bad!r}"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return "empty file (no header)"
        for row_no, row in enumerate(reader, start=1):
            if len(row) != len(header):
                return (f"row {row_no}: {len(row)} fields where the header has {len(header)}: "
                        f"{','.join(row)!r}")
    return None


def require(table: Table, needed: Sequence[str]) -> pl.Schema:
    try:
        schema = table.frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{table.name}: cannot read: {exc}") from None
    missing = [c for c in needed if c not in schema]
    if missing:
        raise InputError(
            f"{table.name}: missing column {', '.join(map(repr, missing))} "
            f"(found: {', '.join(schema.names()) or 'none'})"
        )
    return schema


# --- parsers: each returns an expression that is null where the value is bad ---------------


def text(col: str) -> pl.Expr:
    """Trimmed text; empty means absent (null)."""
    t = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(t == "").then(None).otherwise(t)


def date_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    c = pl.col(col)
    if dtype == pl.Date:
        return c
    if dtype.is_temporal():
        return c.dt.date()
    return text(col).str.to_date("%Y-%m-%d", strict=False)


def reject_bad(
    table: Table, frame: pl.DataFrame, checks: Mapping[str, tuple[pl.Expr, str]]
) -> None:
    """Raise one InputError listing, per column, the count and first rows whose value is bad.

    ``checks`` maps a column to (an expression true on bad rows, what is wrong).
    ``frame`` must hold the raw columns and a 1-based ``_row``.
    """
    problems = []
    for column, (bad, problem) in checks.items():
        rows = frame.filter(bad).select("_row", pl.col(column).cast(pl.String))
        if rows.height:
            problems.append(bad_rows_message(table.name, column, problem, rows.height,
                                             rows.head(EXAMPLES).rows()))
    if problems:
        raise InputError("\n".join(problems))


def bad_rows_message(source: str, column: str, problem: str, count: int,
                     first: Sequence[tuple[int, Any]]) -> str:
    """One line naming file, row(s), column and value(s); personal values masked."""
    shown = [(r, mask_id(v) if column in PERSONAL_COLUMNS and v is not None else v)
             for r, v in first]
    if count == 1:
        (row, value), = shown
        return InputError(source=source, row=row, column=column, problem=problem,
                          value=value).message
    examples = ", ".join(f"row {r} {v!r}" for r, v in shown)
    return f"{source}: {count} rows, column {column!r}: {problem}; first: {examples}"


def with_row_numbers(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_row_index("_row", offset=1)


def checked(
    table: Table, needed: Sequence[str], build: Callable[[pl.Schema], dict[str, pl.Expr]],
    problems: Mapping[str, str],
) -> pl.DataFrame:
    """Read a small table fully, parse each column, and reject the rows that do not parse.

    ``build`` returns our parsed columns by name; a parsed value that is null where the raw
    value was present is bad, described by ``problems[column]``.
    """
    schema = require(table, needed)
    parsed = build(schema)
    raw = collect(table, with_row_numbers(table.frame).with_columns(
        **{f"_p_{k}": v for k, v in parsed.items()}))
    if raw.height == 0:
        raise InputError(f"{table.name}: no rows (empty input)")
    checks = {
        col: (pl.col(f"_p_{col}").is_null() & text(col).is_not_null(), problems[col])
        for col in problems if col in schema
    }
    reject_bad(table, raw, checks)
    return raw.select("_row", *[pl.col(f"_p_{k}").alias(k) for k in parsed])


# --- the three inputs ----------------------------------------------------------------------

SUBSCRIBER_COLUMNS = ("subscriber_id", "join_date", "status")
OPTIONAL_SUBSCRIBER_COLUMNS = ("customer_id", "line_type", "region", "billed_in_month")
OVERRIDE_COLUMNS = ("tier", "valid_from")


def count_subscribers(table: Table) -> int:
    """The subscriber rows, counted before the long billing pass (free from Parquet
    metadata; a scan of a CSV); raises InputError now if the file is unreadable or lacks
    a column."""
    from tiering import sql

    con = sql.connect()
    try:
        rel = sql.relation(con, table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS)
        return int(rel.aggregate("count(*)").fetchall()[0][0])
    except sql.duckdb.Error as exc:
        raise read_error(table, exc) from None
    finally:
        con.close()


def read_subscribers(table: Table) -> pl.DataFrame:
    """One row per subscriber: the id as given, its join ``key``, customer, region, join
    date and the eligibility flags (``active``; ``personal`` and ``billed`` null when the
    column is absent), parsed by DuckDB in parallel; bad rows are named (file, row, column,
    value)."""
    from tiering import sql

    con = sql.connect()
    try:
        rel = sql.relation(con, table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS)
        parsed = sql.subscribers_sql(con, rel)
        # One pass: the rows come back with a flag for any failed check, and only a
        # flagged row sends us down the slow path that names them.
        bad = " OR ".join(f"({cond})" for cond, _ in sql.SUBSCRIBER_CHECKS.values())
        subs = sql.fetch(con, f"SELECT subscriber_id, int_key, customer_id, region, join_date, "
                              f"active, personal, billed, {bad} AS bad FROM ({parsed})")
        if subs.height == 0:
            raise InputError(f"{table.name}: no rows (empty input)")
        if subs["bad"].any():
            raise sql.reject(table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS,
                             sql.subscribers_sql, sql.SUBSCRIBER_CHECKS)
    except sql.duckdb.Error as exc:
        raise read_error(table, exc) from None
    finally:
        con.close()
    # Join on int64 keys when every id is a canonical integer: hashing an int is several
    # times cheaper than hashing text. Unique ids are unique keys either way. Otherwise the
    # key is the id's text (an integer column beyond int64 too), as billing.summarise's.
    integer = subs["int_key"].null_count() == 0
    subs = subs.with_columns(key=pl.col("int_key") if integer
                             else pl.col("subscriber_id").cast(pl.String)).drop("int_key", "bad")
    if subs["key"].is_duplicated().any():
        raise sql.reject(table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS,
                         sql.subscribers_sql, sql.DUPLICATES)
    return subs


def read_overrides(table: Table) -> pl.DataFrame:
    """Manual tiers (VIP lists): by subscriber_id or customer_id, valid_from..valid_to inclusive."""

    def build(schema: pl.Schema) -> dict[str, pl.Expr]:
        def opt_text(c: str) -> pl.Expr:
            return text(c) if c in schema else pl.lit(None, dtype=pl.String)

        return {
            "subscriber_id": opt_text("subscriber_id"),
            "customer_id": opt_text("customer_id"),
            "tier": text("tier").cast(pl.Int8, strict=False),
            "valid_from": date_expr("valid_from", schema["valid_from"]),
            "valid_to": date_expr("valid_to", schema["valid_to"]) if "valid_to" in schema
            else pl.lit(None, dtype=pl.Date),
            "reason": opt_text("reason"),
        }

    rows = checked(table, OVERRIDE_COLUMNS, build, {
        "tier": "not a tier (a whole number of stars)",
        "valid_from": "not a date (YYYY-MM-DD)",
        "valid_to": "not a date (YYYY-MM-DD)",
    })
    neither = pl.col("subscriber_id").is_null() & pl.col("customer_id").is_null()
    both = pl.col("subscriber_id").is_not_null() & pl.col("customer_id").is_not_null()
    reject_bad(table, rows, {
        "subscriber_id": (neither | both, "give exactly one of subscriber_id and customer_id"),
        "valid_from": (pl.col("valid_from").is_null(), "empty value"),
        "tier": (pl.col("tier").is_null(), "empty value"),
        "valid_to": (pl.col("valid_to") < pl.col("valid_from"), "ends before valid_from"),
    })
    return rows.drop("_row")
