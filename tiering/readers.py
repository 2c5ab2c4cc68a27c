"""Reading billing extracts, subscriber lists and overrides into checked polars frames.

Readers sit at the edge: they turn files (CSV, Parquet, globs), DuckDB relations, Arrow
tables and polars frames into frames with one meaning per column, and reject bad values with
the file, row, column and value named. Text is read as text (an id like ``0138...`` is never
turned into a number); rows are numbered from 1 after the header.
"""

from __future__ import annotations

import glob as globlib
import re
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
AMOUNT_RE = r"^\s*([+-]?)(\d+)(?:\.(\d{0,2})0*)?\s*$"
MONTH_RE = r"\s*(\d{4})[-/]?(\d{2})(?:[-/]\d{2})?\s*"

Source = str | Path | Sequence[str | Path] | pl.DataFrame | pl.LazyFrame | Any


@dataclass(frozen=True, slots=True)
class Table:
    """One input, lazily read: its frame (columns renamed to ours) and the files behind it."""

    name: str
    frame: pl.LazyFrame
    files: tuple[str, ...]


def open_table(source: Source, what: str, columns: Mapping[str, str] | None = None) -> Table:
    """Open a path, glob, list of paths, DuckDB relation, Arrow table or polars frame.

    ``columns`` maps our column names to the names in the source (``{"subscriber_id": "msisdn"}``).
    """
    if isinstance(source, (str, Path)) or (
        isinstance(source, Sequence) and not isinstance(source, (str, bytes))
        and all(isinstance(s, (str, Path)) for s in source)
    ):
        files = _expand(source, what)
        frame = pl.concat([_scan(f) for f in files], how="vertical_relaxed")
        name = files[0] if len(files) == 1 else f"{what} ({len(files)} files)"
    else:
        frame, name, files = _from_object(source, what), what, ()
    if columns:
        present = frame.collect_schema().names()
        frame = frame.rename({theirs: ours for ours, theirs in columns.items() if theirs in present})
    return Table(name, frame, files)


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


def _scan(path: str) -> pl.LazyFrame:
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.scan_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pl.scan_csv(path, infer_schema=False, encoding="utf8", has_header=True)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    raise InputError(f"{path}: unknown format {suffix!r} (expected .csv or .parquet)")


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
    only, so the fast path never pays for it)."""
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


def month_expr(col: str, dtype: pl.DataType, distinct: Sequence[Any] = ()) -> pl.Expr:
    """A bill month as a month index; accepts YYYY-MM, YYYYMM, dates, and 202611 integers.

    Text months are parsed once per ``distinct`` value and mapped, not parsed per row: an
    extract has tens of millions of rows but a dozen months.
    """
    c = pl.col(col)
    if dtype.is_temporal():
        return (c.dt.year().cast(pl.Int32) * 12 + c.dt.month().cast(pl.Int32) - 1)
    if dtype.is_integer():
        year, month = c // 100, c % 100
        ok = month.is_between(1, 12) & year.is_between(1900, 9999)
        return pl.when(ok).then(year.cast(pl.Int32) * 12 + month.cast(pl.Int32) - 1)
    mapping = {v: _parse_month_text(v) for v in distinct if v is not None}
    return c.replace_strict(mapping, default=None, return_dtype=pl.Int32)


def _parse_month_text(value: str) -> int | None:
    m = re.fullmatch(MONTH_RE, value)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def distinct_months(table: Table, schema: pl.Schema) -> list[Any]:
    if schema["bill_month"].is_temporal() or schema["bill_month"].is_integer():
        return []
    return collect(table, table.frame.select(pl.col("bill_month").unique()))["bill_month"].to_list()


def date_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    c = pl.col(col)
    if dtype == pl.Date:
        return c
    if dtype.is_temporal():
        return c.dt.date()
    return text(col).str.to_date("%Y-%m-%d", strict=False)


def amount_fen_expr(col: str, dtype: pl.DataType, unit: str) -> pl.Expr:
    """An amount as exact integer fen. Floats must sit on the fen within 1e-6 yuan."""
    c = pl.col(col)
    if dtype.is_integer():
        return c.cast(pl.Int64) * (1 if unit == "fen" else 100)
    if dtype.is_float():
        scaled = c.cast(pl.Float64) * 100
        fen = scaled.round(0)
        ok = scaled.is_finite() & ((scaled - fen).abs() <= 1e-4)
        return pl.when(ok).then(fen.cast(pl.Int64))
    if isinstance(dtype, pl.Decimal):
        scaled = c * 100
        fen = scaled.cast(pl.Int64)
        return pl.when((scaled - fen) == 0).then(fen)
    parts = c.cast(pl.String).str.extract_groups(AMOUNT_RE)
    whole = parts.struct.field("2").cast(pl.Int64, strict=False)
    frac = parts.struct.field("3").fill_null("").str.pad_end(2, "0").cast(pl.Int64, strict=False)
    magnitude = whole * 100 + frac
    return pl.when(parts.struct.field("1") == "-").then(-magnitude).otherwise(magnitude)


def bool_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    """Booleans as true/false, t/f, yes/no, y/n, 1/0 (any case); empty is absent."""
    if dtype == pl.Boolean:
        return pl.col(col)
    t = text(col).str.to_lowercase()
    return pl.when(t.is_in(TRUE_WORDS)).then(True).when(t.is_in(FALSE_WORDS)).then(False)


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
        if rows.height == 0:
            continue
        if column in PERSONAL_COLUMNS:
            rows = pl.DataFrame([rows["_row"], rows[column].map_elements(
                mask_id, return_dtype=pl.String)])
        if rows.height == 1 and not problems:
            row, value = rows.row(0)
            problems.append(InputError(source=table.name, row=row, column=column,
                                       problem=problem, value=value).message)
            continue
        examples = ", ".join(f"row {r} {v!r}" for r, v in rows.head(EXAMPLES).iter_rows())
        problems.append(f"{table.name}: {rows.height} rows, column {column!r}: {problem}; "
                        f"first: {examples}")
    if problems:
        raise InputError("\n".join(problems))


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
BILLING_COLUMNS = ("subscriber_id", "bill_month", "amount")
OVERRIDE_COLUMNS = ("tier", "valid_from")


def _id_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    """Ids are opaque keys, compared exactly as given: text is never trimmed or reformatted
    (``0138...`` stays text), and an empty id is a missing one."""
    c = pl.col(col)
    return pl.when(c != "").then(c) if dtype == pl.String else c


def read_subscribers(table: Table) -> pl.DataFrame:
    """One row per subscriber: id, customer, region, join_date, and the eligibility flags."""

    def build(schema: pl.Schema) -> dict[str, pl.Expr]:
        opt = {c: c in schema for c in OPTIONAL_SUBSCRIBER_COLUMNS}
        none = pl.lit(None, dtype=pl.String)
        return {
            "subscriber_id": _id_expr("subscriber_id", schema["subscriber_id"]),
            "join_date": date_expr("join_date", schema["join_date"]),
            "status": text("status"),
            "customer_id": text("customer_id") if opt["customer_id"] else none,
            "region": text("region") if opt["region"] else none,
            "line_type": text("line_type").str.to_lowercase() if opt["line_type"] else none,
            "billed_in_month": bool_expr("billed_in_month", schema["billed_in_month"])
            if opt["billed_in_month"] else pl.lit(None, dtype=pl.Boolean),
        }

    subs = checked(table, SUBSCRIBER_COLUMNS, build, {
        "join_date": "not a date (YYYY-MM-DD)",
        "billed_in_month": "not a boolean (true/false, yes/no, 1/0)",
    })
    reject_bad(table, subs, {
        "subscriber_id": (pl.col("subscriber_id").is_null(), "empty value"),
        "join_date": (pl.col("join_date").is_null(), "empty value"),
        "status": (pl.col("status").is_null(), "empty value"),
    })
    dup = pl.col("subscriber_id").is_duplicated()
    reject_bad(table, subs, {"subscriber_id": (dup, "duplicate subscriber")})
    return subs.drop("_row")


def integer_key(col: str, dtype: pl.DataType) -> pl.Expr:
    """An integer join key for ids written as canonical integers (``13800000009``; not
    ``0138...`` or ``+138...``, which stay distinct texts); null for any other id.

    Hashing an int64 is several times cheaper than hashing text, and phone numbers are
    integers; the id as given is kept beside the key and is what every output shows.
    """
    c = pl.col(col)
    if dtype.is_integer():
        return c.cast(pl.Int64)
    c = c.cast(pl.String)
    not_canonical = c.str.starts_with("0") | c.str.starts_with("+") | c.str.starts_with("-0")
    return pl.when(not_canonical).then(None).otherwise(c.str.to_integer(strict=False))


def key_expr(col: str, dtype: pl.DataType, integer_keys: bool) -> pl.Expr:
    return integer_key(col, dtype) if integer_keys else _id_expr(col, dtype).cast(pl.String)


def billing_rows(table: Table, unit: str, integer_keys: bool) -> pl.LazyFrame:
    """Billing rows as (key, month index, fen, bad); unparsable values become null and bad."""
    schema = require(table, BILLING_COLUMNS)
    months = distinct_months(table, schema)
    month = month_expr("bill_month", schema["bill_month"], months)
    fen = amount_fen_expr("amount", schema["amount"], unit)
    raw_id = pl.col("subscriber_id")
    missing_id = raw_id.is_null()
    if schema["subscriber_id"] == pl.String:
        missing_id |= raw_id.str.len_bytes() == 0
    # bad is computed from the parsed columns, not from their expressions, so each value is
    # parsed once.
    return table.frame.select(
        key=key_expr("subscriber_id", schema["subscriber_id"], integer_keys),
        month=month,
        fen=fen,
        missing_id=missing_id,
    ).select(
        "key", "month", "fen",
        bad=pl.col("missing_id") | pl.col("month").is_null() | pl.col("fen").is_null(),
    )


def reject_bad_billing(table: Table, unit: str) -> None:
    """Find and name the bad billing rows (the slow path, taken only once a run saw some)."""
    schema = require(table, BILLING_COLUMNS)
    months = distinct_months(table, schema)
    for source in [Table(f, _scan(f), (f,)) for f in table.files] or [table]:
        parsed = with_row_numbers(source.frame).with_columns(
            _id=_id_expr("subscriber_id", schema["subscriber_id"]),
            _m=month_expr("bill_month", schema["bill_month"], months),
            _f=amount_fen_expr("amount", schema["amount"], unit),
        )
        bad = pl.col("_id").is_null() | pl.col("_m").is_null() | pl.col("_f").is_null()
        rows = collect(source, parsed.filter(bad))
        reject_bad(source, rows, {
            "subscriber_id": (pl.col("_id").is_null(), "empty value"),
            "bill_month": (pl.col("_m").is_null(), "not a month (YYYY-MM, YYYYMM or a date)"),
            "amount": (pl.col("_f").is_null(),
                       "not an amount in yuan with at most 2 decimals" if unit == "yuan"
                       else "not an integer amount in fen"),
        })


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
