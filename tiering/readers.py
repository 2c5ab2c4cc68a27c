"""Opening the inputs and reading subscriber lists and overrides into checked polars frames.

Readers sit at the edge: they turn files (CSV, Parquet, globs), DuckDB relations, Arrow
tables and polars frames into frames with one meaning per column, and reject bad values with
the file, row, column and value named. Text is read as text (an id like ``0138...`` is never
turned into a number); rows are numbered from 1 after the header. The large inputs
(subscribers, billing) are parsed by DuckDB (``sql.py``, ``billing.py``); the small override
list by polars here.
"""

from __future__ import annotations

import codecs
import csv
import glob as globlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
# Encodings of CSV inputs (operators' billing and CRM systems in China often export GBK,
# which GB18030 contains), and the name each is read by.
ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030",
             "gbk": "gb18030"}
DELIMITERS = (",", "\t", ";")
# The longest CSV line DuckDB is told to read; the diagnosis names a line past it.
MAX_LINE_BYTES = 8 << 20
CHUNK = 16 << 20
# Dates as documented, YYYY-MM-DD in ASCII digits (then parsed, so 2026-02-30 is no date).
DATE_RE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"

Source = str | Path | Sequence[str | Path] | pl.DataFrame | pl.LazyFrame | Any


@dataclass(frozen=True, slots=True)
class Table:
    """One input: its name in messages, the files behind it (none for an in-memory frame),
    the frame itself when it was given in memory, and the column map (ours -> theirs)."""

    name: str
    files: tuple[str, ...]
    given: pl.LazyFrame | None
    columns: Mapping[str, str]
    delimiter: str = ","
    encoding: str = "utf-8"
    # A GB18030 file with non-ASCII bytes is read from a UTF-8 copy in ``scratch``, a
    # temporary directory removed when the table is dropped (or the process exits).
    copies: Mapping[str, str] = field(default_factory=dict)
    scratch: Any = field(default=None, compare=False, repr=False)

    def readable(self, path: str) -> str:
        """The UTF-8 file to read for one of ``files`` (itself unless it was transcoded)."""
        return self.copies.get(path, path)

    @property
    def frame(self) -> pl.LazyFrame:
        """The table as a lazy polars frame with our column names."""
        frame = self.given if self.given is not None else pl.concat(
            [_scan(self.readable(f), self.delimiter) for f in self.files],
            how="vertical_relaxed")
        if self.columns:
            present = frame.collect_schema().names()
            frame = frame.rename({theirs: ours for ours, theirs in self.columns.items()
                                  if theirs in present})
        return frame


def open_table(source: Source, what: str, columns: Mapping[str, str] | None = None, *,
               encoding: str = "utf-8", delimiter: str | None = None) -> Table:
    """Open a path, glob, list of paths, DuckDB relation, Arrow table or polars frame.

    ``columns`` maps our column names to the names in the source (``{"subscriber_id": "msisdn"}``).
    CSV files are read in ``encoding`` (one of :data:`ENCODINGS`) with ``delimiter``
    (``,``, tab or ``;``; None: read from the header line). Raises InputError for a file
    given twice, duplicate column names or a header that is one column holding a delimiter.
    """
    if encoding.lower() not in ENCODINGS:
        raise InputError(f"--encoding: unknown encoding {encoding!r} "
                         f"(known: {', '.join(ENCODINGS)})")
    if delimiter is not None and delimiter not in DELIMITERS:
        raise InputError(f"--delimiter: {delimiter!r} is not one of ',', tab or ';'")
    encoding = ENCODINGS[encoding.lower()]
    if isinstance(source, (str, Path)) or (
        isinstance(source, Sequence) and not isinstance(source, (str, bytes))
        and all(isinstance(s, (str, Path)) for s in source)
    ):
        files = _expand(source, what)
        for f in files:
            _check_format(f)
        _reject_repeated(files, what)
        name = files[0] if len(files) == 1 else f"{what} ({len(files)} files)"
        csvs = [f for f in files if not _is_parquet(f)]
        scratch, copies = _transcode(csvs, encoding) if encoding != "utf-8-sig" else (None, {})
        seps = {f: _check_header(f, copies.get(f, f), delimiter) for f in csvs}
        for f in files:
            if _is_parquet(f):
                _check_names(f, _parquet_names(f))
        if len(set(seps.values())) > 1:
            shown = ", ".join(f"{f}: {s!r}" for f, s in seps.items())
            raise InputError(f"{what}: the files use different delimiters ({shown})")
        sep = next(iter(seps.values()), ",")
        return Table(name, tuple(files), None, dict(columns or {}), sep, encoding, copies,
                     scratch)
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


def _is_parquet(path: str) -> bool:
    return Path(path).suffix.lower() in (".parquet", ".pq")


def _reject_repeated(files: Sequence[str], what: str) -> None:
    """The same file twice among the inputs (a glob and an explicit path, a link, a copy)
    would count its rows twice. Only files of equal size are hashed, so distinct files,
    the usual case, are never read here."""
    seen: dict[str, str] = {}
    for f in files:
        real = os.path.realpath(f)
        if real in seen:
            raise InputError(f"{f}: given twice among the {what} inputs (also as {seen[real]}): "
                             "its rows would count twice")
        seen[real] = f
    by_size: dict[int, list[str]] = {}
    for real, f in seen.items():
        by_size.setdefault(os.path.getsize(real), []).append(f)
    for same_size in by_size.values():
        digests: dict[str, str] = {}
        for f in same_size if len(same_size) > 1 else ():
            digest = _sha256(f)
            if digest in digests:
                raise InputError(f"{f}: the same content (sha256) as {digests[digest]}, among "
                                 f"the {what} inputs: its rows would count twice")
            digests[digest] = f


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _transcode(files: Sequence[str], encoding: str) -> tuple[Any, dict[str, str]]:
    """UTF-8 copies of the files that are not ASCII (an ASCII file reads the same in
    GB18030 and UTF-8, and most extracts are ASCII: ids, months, amounts). DuckDB reads
    only UTF-8."""
    scratch = None
    copies: dict[str, str] = {}
    try:
        for f in files:
            if _is_ascii(f):
                continue
            if scratch is None:
                scratch = tempfile.TemporaryDirectory(prefix="tiering-")
            copies[f] = os.path.join(scratch.name, f"{len(copies)}.csv")
            _decode_to_utf8(f, encoding, copies[f])
    except BaseException:
        if scratch is not None:
            scratch.cleanup()
        raise
    return scratch, copies


def _is_ascii(path: str) -> bool:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if not chunk.isascii():
                return False
    return True


def _decode_to_utf8(path: str, encoding: str, out: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    try:
        with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
            while True:
                chunk = src.read(CHUNK)
                try:
                    dst.write(decoder.decode(chunk, final=not chunk))
                except UnicodeDecodeError as exc:
                    lines += chunk.count(b"\n", 0, exc.start)
                    bad = chunk[max(exc.start - 10, 0):exc.end + 10]
                    raise InputError(f"{path}: line {lines}: not {encoding.upper()} text near "
                                     f"{bad!r}") from None
                if not chunk:
                    return
                lines += chunk.count(b"\n")
    except OSError as exc:
        raise InputError(f"{path}: cannot convert to UTF-8 in {os.path.dirname(out)}: "
                         f"{exc.strerror}") from None


def _first_line(path: str) -> str:
    """The header line as text (a BOM dropped); InputError when it is not UTF-8."""
    with open(path, "rb") as f:
        raw = f.readline(MAX_LINE_BYTES)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: {_diagnose_csv(path, ',') or 'header not UTF-8'}") from None


def _check_header(path: str, readable: str, delimiter: str | None) -> str:
    """The file's delimiter (``delimiter``, or the first of ``,``, tab, ``;`` in the header
    line), after checking its column names."""
    line = _first_line(readable)
    sep = delimiter or next((d for d in DELIMITERS if d in line), ",")
    names = next(csv.reader([line], delimiter=sep), [])
    if len(names) == 1:
        held = [d for d in DELIMITERS if d != sep and d in names[0]]
        if held:
            kind = "tab" if held[0] == "\t" else repr(held[0])
            raise InputError(f"{path}: the header is one column holding "
                             f"{'a tab' if kind == 'tab' else kind}: {names[0].strip()!r}; the "
                             f"file looks {kind}-delimited: pass --delimiter {kind}")
    _check_names(path, names)
    return sep


def _parquet_names(path: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError):  # unreadable: the reader names the file later
        return []


def _check_names(path: str, names: Sequence[str]) -> None:
    """DuckDB renames a repeated column (``amount`` -> ``amount_1``, names compared trimmed
    and case-insensitively) and would read one of the two silently."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().casefold()
        if key in seen:
            raise InputError(f"{path}: column {name.strip()!r} appears twice in the header "
                             f"(as {seen[key]!r} too)")
        seen[key] = name.strip()


def _scan(path: str, delimiter: str) -> pl.LazyFrame:
    if _is_parquet(path):
        return pl.scan_parquet(path)
    return pl.scan_csv(path, infer_schema=False, encoding="utf8", has_header=True,
                       separator=delimiter)


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
        if not _is_parquet(path):
            problem = _diagnose_csv(table.readable(path), table.delimiter)
            if problem:
                return InputError(f"{path}: {problem}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{table.name}: cannot read: {first}")


def _diagnose_csv(path: str, delimiter: str) -> str | None:
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if len(raw) > MAX_LINE_BYTES:
                return (f"line {line_no}: longer than the {MAX_LINE_BYTES >> 20} MiB a CSV line "
                        "may have")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[max(exc.start - 10, 0):exc.end + 10]
                hint = ("; it decodes as GB18030 (GBK): pass --encoding gb18030"
                        if _decodes_as(path, "gb18030") else "")
                return f"line {line_no}: not UTF-8 text near {bad!r}{hint}"
    # Any field the reader accepts (a line of up to MAX_LINE_BYTES) must be parsed here too,
    # past the csv module's default limit of 128 KiB; the limit is global, so it is put back.
    limit = csv.field_size_limit(MAX_LINE_BYTES)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return "empty file (no header)"
            for row_no, row in enumerate(reader, start=1):
                if len(row) != len(header):
                    shown = delimiter.join(row)
                    shown = shown if len(shown) <= 200 else f"{shown[:200]}..."
                    return (f"row {row_no}: {len(row)} fields where the header has "
                            f"{len(header)}: {shown!r}")
    finally:
        csv.field_size_limit(limit)
    return None


def _decodes_as(path: str, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                decoder.decode(chunk, final=not chunk)
                if not chunk:
                    return True
    except UnicodeDecodeError:
        return False


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
    t = text(col)
    return pl.when(t.str.contains(f"^{DATE_RE}$")).then(t.str.to_date("%Y-%m-%d", strict=False))


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


# The parsed subscriber columns a rating reads, and a flag for any failed check.
_SUBSCRIBER_SELECT = ("subscriber_id, int_key, customer_id, region, join_date, active, "
                      "personal, billed")


def _bad_subscriber() -> str:
    from tiering import sql

    return " OR ".join(f"({cond})" for cond, _ in sql.SUBSCRIBER_CHECKS.values())


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
        subs = sql.fetch(con, f"SELECT {_SUBSCRIBER_SELECT}, {_bad_subscriber()} AS bad "
                              f"FROM ({parsed})")
        if subs.height == 0:
            raise InputError(f"{table.name}: no rows (empty input)")
        if subs["bad"].any():
            raise _subscriber_rows(table, sql.SUBSCRIBER_CHECKS)
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
        raise _subscriber_rows(table, sql.DUPLICATES)
    return subs


def subscribers_table(con: Any, table: Table) -> bool:
    """View ``subs`` in ``con`` (whose tables DuckDB may spill to disk): the columns of
    :func:`read_subscribers` with the same checks, for a month too large to hold in memory.
    Returns whether the join ``key`` is an int64 (else the id's text)."""
    from tiering import sql

    try:
        rel = sql.relation(con, table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS)
        parsed = sql.subscribers_sql(con, rel)
        con.execute(f"CREATE TABLE subs_parsed AS SELECT {_SUBSCRIBER_SELECT}, "
                    f"{_bad_subscriber()} AS bad FROM ({parsed})")
        rows, bad, text = con.execute(
            "SELECT count(*), count(*) FILTER (bad), count(*) FILTER (int_key IS NULL) "
            "FROM subs_parsed").fetchall()[0]
        if rows == 0:
            raise InputError(f"{table.name}: no rows (empty input)")
        if bad:
            raise _subscriber_rows(table, sql.SUBSCRIBER_CHECKS)
        key = "int_key" if text == 0 else "CAST(subscriber_id AS VARCHAR)"
        con.execute(f"CREATE VIEW subs AS SELECT * EXCLUDE (int_key, bad), {key} AS key "
                    "FROM subs_parsed")
        (repeated,), = con.execute(
            "SELECT count(*) - count(DISTINCT key) FROM subs").fetchall()
        if repeated:
            raise _subscriber_rows(table, sql.DUPLICATES)
    except sql.duckdb.Error as exc:
        raise read_error(table, exc) from None
    return text == 0


def _subscriber_rows(table: Table, checks: Mapping[str, tuple[str, str]]) -> InputError:
    from tiering import sql

    return sql.reject(table, SUBSCRIBER_COLUMNS, OPTIONAL_SUBSCRIBER_COLUMNS,
                      sql.subscribers_sql, checks)


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
