"""The billing extract, parsed and summed per subscriber by DuckDB.

An extract has a row per line, month and charge: a hundred million rows for ten million
lines. DuckDB parses ids, months and amounts, keeps the rows of M-12..M-1 and sums them
per line in one parallel pass within a memory limit; only that summary, a row per line,
comes back to polars for the rules.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import duckdb
import polars as pl

from tiering import sql
from tiering.errors import InputError
from tiering.privacy import mask_id
from tiering.readers import EXAMPLES, Table, read_error
from tiering.score import parse_month_text

COLUMNS = ("subscriber_id", "bill_month", "amount")
MAX_PARTS = 256  # 2.5 billion lines in passes of ten million
# DuckDB's grouping holds ~220 bytes per line (a text id, three aggregates, two threads'
# tables: 2.2 GB for ten million lines) and runs without spilling when its limit allows
# ~350 (at 2 GB for ten million lines it spilled and took twice as long).
GROUP_BYTES = 350
# A row's amount, and a line's sum over the window, stay within 10^12 yuan (10^14 fen):
# no line bills that much, and within it the score in hundredths (ARPU x a coefficient of
# at most policy.MAX_COEFFICIENT_X100) fits an int64 and a DECIMAL(18, 2).
MAX_YUAN = 10**12
MAX_FEN = MAX_YUAN * 100
AMOUNT_TEXT = r"\s*[+-]?\d{1,12}(\.\d{0,2}0*)?\s*"
# A line's fen over the window, null beyond the limit (summed as HUGEINT, never overflowing).
SUM_FEN = f"CASE WHEN abs(sum(fen)) < {MAX_FEN} THEN sum(fen)::BIGINT END"


@dataclass(frozen=True, slots=True)
class Summary:
    """Per id billed inside M-12..M-1: its keys (``text_key``, and ``int_key`` when the id
    is a canonical integer), ``fen``, ``window_rows``, ``first_month``; and the number of
    rows in the whole extract."""

    per_key: pl.DataFrame
    rows: int


def month_sql(dtype: str) -> str:
    """A month index (year * 12 + month - 1); text months come from the ``month_map``
    table, parsed once per distinct text (an extract has a dozen months)."""
    if dtype.startswith(("DATE", "TIMESTAMP")):
        return "year(bill_month) * 12 + month(bill_month) - 1"
    if sql.is_integer(dtype):
        return ("CASE WHEN bill_month % 100 BETWEEN 1 AND 12 AND bill_month BETWEEN 190001 "
                "AND 999912 THEN CAST(bill_month / 100 AS BIGINT) * 12 + bill_month % 100 - 1 END")
    return "month_map.month"


def fen_sql(dtype: str, unit: str) -> str:
    """An amount as exact integer fen, null when it is not one or is beyond the limit
    (each cast guarded, so no value makes DuckDB fail with an out-of-range error)."""
    limit = MAX_FEN if unit == "fen" else MAX_YUAN
    if sql.is_integer(dtype):
        return (f"CASE WHEN abs(TRY_CAST(amount AS HUGEINT)) < {limit} THEN "
                "CAST(amount AS BIGINT)" + ("" if unit == "fen" else " * 100") + " END")
    if dtype.startswith("DECIMAL"):
        scale = int(re.findall(r"\d+", dtype)[1])
        if scale <= 2:
            return f"CASE WHEN abs(amount) < {MAX_YUAN} THEN CAST(amount * 100 AS BIGINT) END"
        return (f"CASE WHEN abs(amount) < {MAX_YUAN} AND "
                "amount * 100 = CAST(amount * 100 AS BIGINT) "
                "THEN CAST(amount * 100 AS BIGINT) END")
    if dtype in ("DOUBLE", "FLOAT", "REAL"):
        # A float is accepted when it sits on the fen within 1e-6 yuan.
        return (f"CASE WHEN isfinite(amount) AND abs(amount) < {MAX_YUAN} AND "
                "abs(amount * 100 - round(amount * 100)) <= 1e-4 "
                "THEN CAST(round(amount * 100) AS BIGINT) END")
    if unit == "fen":
        return ("CASE WHEN regexp_full_match(amount, '\\s*[+-]?\\d{1,18}\\s*') AND "
                f"abs(TRY_CAST(trim(amount) AS BIGINT)) < {MAX_FEN} "
                "THEN TRY_CAST(trim(amount) AS BIGINT) END")
    return (f"CASE WHEN regexp_full_match(amount, '{AMOUNT_TEXT}') "
            "THEN CAST(TRY_CAST(trim(amount) AS DECIMAL(18, 2)) * 100 AS BIGINT) END")


def billing_sql(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, unit: str,
                row_numbers: bool = False) -> str:
    """Register the billing relation (and its month map); return the SQL of parsed rows:
    ``id`` (the id as given), ``month``, ``fen`` and the raw text of each column."""
    t = sql.types(rel)
    con.register("billing_raw", rel)
    join = ""
    if month_sql(t["bill_month"]) == "month_map.month":
        texts = [r[0] for r in con.execute(
            "SELECT DISTINCT bill_month FROM billing_raw WHERE bill_month IS NOT NULL").fetchall()]
        con.register("month_map_src", pl.DataFrame(
            {"text": texts, "month": [parse_month_text(x) for x in texts]},
            schema={"text": pl.String, "month": pl.Int32}))
        join = "LEFT JOIN month_map_src AS month_map ON month_map.text = billing_raw.bill_month"
    row = "row_number() OVER () AS _row, " if row_numbers else ""
    return (f"SELECT {row}{sql.id_sql(t['subscriber_id'])} AS id, "
            f"{month_sql(t['bill_month'])} AS month, {fen_sql(t['amount'], unit)} AS fen, "
            f"CAST(subscriber_id AS VARCHAR) AS subscriber_id_raw, "
            f"CAST(bill_month AS VARCHAR) AS bill_month_raw, "
            f"CAST(amount AS VARCHAR) AS amount_raw FROM billing_raw {join}")


def _checks(unit: str) -> dict[str, tuple[str, str]]:
    return {
        "subscriber_id": ("id IS NULL", "empty value"),
        "bill_month": ("month IS NULL", "not a month (YYYY-MM, YYYYMM or a date)"),
        "amount": ("fen IS NULL AND id IS NOT NULL",
                   f"not an amount in yuan with at most 2 decimals, under {MAX_YUAN:,}"
                   if unit == "yuan" else f"not an integer amount in fen, under {MAX_FEN:,}"),
    }


def summarise(table: Table, month: int, unit: str, window: int, lines: int = 0,
              parts: int | None = None) -> Summary:
    """Sum each line's fen over M-window .. M-1; reject the extract if any row is bad
    (naming them in a second, slower pass). Both keys come back because the subscribers,
    which decide between them, are read after this pass: DuckDB's memory is back with the
    OS by then, and the two never hold ten million lines at once.

    Lines are split by a hash of the id into ``parts`` passes, each holding that share of
    the groups: by default as many as the memory limit needs for about ``lines`` lines
    (one, up to twelve million lines at the default 4 GB). Should DuckDB still run out of
    memory, the passes are four times more each time: slower (each pass reads the
    extract) but bounded. Splitting up front matters: DuckDB spills before it gives up,
    and a pass that ends out of memory has cost minutes."""
    if parts is None:
        parts = _passes(lines)
    con = sql.connect()
    try:
        rel = sql.relation(con, table, COLUMNS)
        parsed = billing_sql(con, rel, unit)
        # Rows outside the window are only counted (from Parquet metadata, for free), so
        # the grouping sees just the window's rows.
        (rows,), = con.execute("SELECT count(*) FROM billing_raw").fetchall()
        while True:
            try:
                per_key = pl.concat([_group(con, rel, parsed, month - window, month - 1,
                                            parts, part, unit) for part in range(parts)])
                break
            except duckdb.OutOfMemoryException:
                if parts >= MAX_PARTS:
                    raise
                parts *= 4
    except duckdb.Error as exc:
        raise read_error(table, exc) from None
    finally:
        con.close()
    if rows == 0:
        raise InputError(f"{table.name}: no rows (empty input)")
    if per_key["bad"].any():
        raise sql.reject(table, COLUMNS, (), functools.partial(billing_sql, unit=unit),
                         _checks(unit))
    _reject_large_sums(table, per_key, "text_key")
    return Summary(per_key.drop("bad"), int(rows))


def _passes(lines: int) -> int:
    """Passes for about ``lines`` lines to be grouped within DuckDB's memory limit."""
    return max(1, -(-lines * GROUP_BYTES // sql.size_bytes(sql.memory_limit())))


def _reject_large_sums(table: Table, per_key: pl.DataFrame, key: str) -> None:
    """Lines whose amounts, each within the limit, sum beyond it over the window (null
    ``fen``): the count and the first five ids, masked."""
    over = per_key.filter(pl.col("fen").is_null())
    if over.height:
        first = ", ".join(repr(mask_id(k)) for k in over[key].head(EXAMPLES).to_list())
        raise InputError(f"{table.name}: {over.height} line(s), column 'amount': the window's "
                         f"amounts sum beyond {MAX_YUAN:,} yuan; first: subscriber_id {first}")


def _group(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, parsed: str, lo: int,
           hi: int, parts: int, part: int, unit: str) -> pl.DataFrame:
    """One pass: the lines whose id hashes to ``part`` of ``parts``. Rows are grouped by
    the id as given and only the groups, a row per line, become keys: the int64 round trip
    costs as much per row as the grouping itself."""
    keys = f"{_key(rel, False)} AS text_key, {_key(rel, True)} AS int_key"
    return sql.fetch(con, group_sql(parsed, unit, keys, _slice(parts, part)),
                     params={"lo": lo, "hi": hi})


def _slice(parts: int, part: int) -> str:
    """The rows of the lines whose id hashes to ``part`` of ``parts``: our own integers,
    written into the SQL (as parameters they cost DuckDB a plan four times slower)."""
    return "true" if parts == 1 else f"hash(id) % {int(parts)} = {int(part)}"


def group_sql(parsed: str, unit: str, keys: str, where: str = "true") -> str:
    """Per id of the window's rows (parameters ``lo``, ``hi``): ``keys`` (a select list over
    ``subscriber_id``), ``fen``, ``window_rows``, ``first_month``, ``bad``. The bad rows are
    all in one group of their own (a null id): three aggregates per line, no fourth to flag
    them."""
    bad = " OR ".join(f"({cond})" for cond, _ in _checks(unit).values())
    return (
        f"SELECT {keys}, fen, window_rows, first_month, subscriber_id IS NULL AS bad FROM ("
        f"SELECT CASE WHEN NOT ({bad}) THEN id END AS subscriber_id, "
        f"{SUM_FEN} AS fen, count(*)::INTEGER AS window_rows, "
        f"min(month)::INTEGER AS first_month FROM ({parsed}) "
        f"WHERE (month BETWEEN $lo AND $hi OR {bad}) AND {where} GROUP BY 1)")


def sums_table(con: duckdb.DuckDBPyConnection, table: Table, month: int, unit: str,
               window: int, integer_keys: bool, lines: int) -> int:
    """Table ``sums`` in ``con`` (whose tables DuckDB may spill to disk): a row per id billed in M-window ..
    M-1 with its join ``key`` (int64 or text, as the subscribers decided), ``text_key``
    (the id's text when the column is text), ``fen``,
    ``window_rows`` and ``first_month``, in as many passes over the extract as DuckDB's
    memory needs for ``lines`` lines (the table itself spills to disk); the extract rejected
    as :func:`summarise` does. Returns the extract's row count."""
    try:
        rel = sql.relation(con, table, COLUMNS)
        parsed = billing_sql(con, rel, unit)
        (rows,), = con.execute("SELECT count(*) FROM billing_raw").fetchall()
        # A text id keeps its text beside its key (null when it is no canonical integer):
        # the diagnosis of ids that match no subscriber needs the form they were written in.
        text = ("NULL::VARCHAR" if sql.is_integer(sql.types(rel)["subscriber_id"])
                else "subscriber_id")
        keys = f"{_key(rel, integer_keys)} AS key, {text} AS text_key"
        # Passes over the extract, each grouping the lines of one hash slice in memory: a
        # single grouping beyond DuckDB's memory spills about the extract's size again
        # (35 GB and counting for a hundred million lines at 1.35 GB, until the disk ran
        # short), while a pass costs one more read of the extract.
        passes = _passes(lines)
        for part in range(passes):
            con.execute(("CREATE TABLE sums AS " if part == 0 else "INSERT INTO sums ")
                        + group_sql(parsed, unit, keys, _slice(passes, part)),
                        {"lo": month - window, "hi": month - 1})
        (bad,), = con.execute("SELECT count(*) FROM sums WHERE bad").fetchall()
        over = sql.fetch(con, "SELECT CAST(key AS VARCHAR) AS key, fen FROM sums "
                              "WHERE fen IS NULL AND NOT bad ORDER BY 1")
    except duckdb.Error as exc:
        raise read_error(table, exc) from None
    if rows == 0:
        raise InputError(f"{table.name}: no rows (empty input)")
    if bad:
        raise sql.reject(table, COLUMNS, (), functools.partial(billing_sql, unit=unit),
                         _checks(unit))
    _reject_large_sums(table, over, "key")
    return int(rows)


def window_sums(table: Table, starts: pl.DataFrame, month: int, unit: str, integer_keys: bool
                ) -> pl.DataFrame:
    """Fen and rows per key from its own window start (``starts``: key, window_start) to
    M-1: the second look for the few lines billed before they joined."""
    con = sql.connect()
    try:
        rel = sql.relation(con, table, COLUMNS)
        parsed = billing_sql(con, rel, unit)
        con.register("starts", starts)
        # Keys meet ids as text: a key is an id's text, or an integer whose text is the
        # id's (only canonical ids become integers), so "0138" never meets 138.
        sums = sql.fetch(
            con, f"SELECT {_key(rel, integer_keys)} AS key, fen, window_rows FROM ("
            f"SELECT p.id AS subscriber_id, {SUM_FEN} AS fen, "
            f"count(*)::INTEGER AS window_rows FROM ({parsed}) p "
            f"JOIN starts s ON CAST(s.key AS VARCHAR) = CAST(p.id AS VARCHAR) "
            f"WHERE p.month BETWEEN s.window_start AND $hi GROUP BY p.id)",
            params={"hi": month - 1})
    finally:
        con.close()
    _reject_large_sums(table, sums, "key")
    return sums


def _key(rel: duckdb.DuckDBPyRelation, integer_keys: bool) -> str:
    return sql.key_sql(sql.types(rel)["subscriber_id"], integer_keys)


def id_mismatch(subscriber_ids: pl.Series | pl.LazyFrame, billing_ids: pl.Series) -> str:
    """Why billing ids (those of the window that match no subscriber) miss the subscriber
    list, with an example id of each side, masked: usually the two extracts write the same
    ids in different forms (spaces, leading zeros, an integer written as ``138.0``).
    ``subscriber_ids``: a Series, or a lazy frame of a column ``subscriber_id`` (a month
    rated in parts: only the subscribers a billing id may be are read)."""
    def canonical(ids: pl.LazyFrame) -> pl.LazyFrame:
        text = pl.col("id").cast(pl.String)
        return ids.select(id=text, canonical=text.str.strip_chars().str.replace(
            r"\.0+$", "").str.strip_chars_start("0"))

    given = (subscriber_ids.to_frame("id").lazy() if isinstance(subscriber_ids, pl.Series)
             else subscriber_ids.select(id="subscriber_id"))
    bills = canonical(billing_ids.to_frame("id").lazy()).collect()
    subs = canonical(given).join(bills.lazy().select("canonical").unique(), on="canonical",
                                 how="semi").collect()
    # Sorted, so the example is the same in every run.
    pair = bills.join(subs.sort("id").unique("canonical", keep="first"), on="canonical",
                      suffix="_sub").sort("id")
    if pair.height == 0:
        first = given.select(pl.col("id").cast(pl.String).min()).collect().item()
        return (f"ids differ: none is a subscriber id even without spaces, leading zeros or a "
                f"trailing '.0' (billing id {mask_id(bills['id'].min())!r}, subscriber id "
                f"{mask_id(first)!r}): are these the right files?")
    bill, sub = pair.row(0)[0], pair["id_sub"][0]
    causes = [cause for cause, differs in (
        ("spaces", lambda i: i != i.strip()),
        ("leading zeros", lambda i: i.strip().startswith("0")),
        ("integer vs text", lambda i: re.search(r"\.0+\s*$", i) is not None),
    ) if differs(bill) != differs(sub)]
    return (f"ids differ in form ({', '.join(causes) or 'spelling'}): billing id "
            f"{mask_id(bill)!r} is subscriber id {mask_id(sub)!r} written another way "
            f"({pair.height:,} such billing ids)")
