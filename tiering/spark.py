"""The monthly rating on Apache Spark: the rules of ``tiering.rate``, to the line, on a cluster.

    from pyspark.sql import SparkSession
    import tiering.spark

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    result = tiering.spark.rate(spark, "2026-11", spark.table("dw.billing"),
                                spark.read.parquet("hdfs:///x/subscribers"))
    result.lines            # a Spark DataFrame: the columns of tiering.rate's lines
    result.write_parquet("hdfs:///tiers/2026-11", policy, tiering.__version__)

What is shared with the embedded engine (``engine.py``) and what is written again here: the
policy, the reason codes and their order, the month and amount patterns, the boolean
spellings, the checks' wording, the cut points (``thresholds.cut_points`` via
``engine.cut_table``), the tier counts (``engine.partition_results``, over the polars
``tier_expr``) and the overrides (``engine._overrides``, on the driver: a VIP list is small)
are the embedded engine's own code. The per-line rules (window, tenure, ARPU, coefficient,
score, reason, tier) are Spark columns mirroring ``score.py`` function by function, held
equal to it by the differential tests in ``tests/test_spark.py`` (README: "Spark engine").

The plan: the window's billing rows summed per id (a hash aggregation of three fixed-width
sums; stacking subscribers and bills and grouping once carried text columns through the
grouping, which Spark then sorts: 196 s against 141 s at 1M on a loaded local[2]), a full
outer join with the subscribers that keeps the unknown ids and counts duplicated
subscribers on the join's own shuffle. Then one aggregation of the scored
lines (cached) per partition, distinct score and reason comes to the driver (a few thousand
rows): cut points, tier counts and every count of the run. Tiers are assigned on the
cluster from those numbers, and the customer tier is a window maximum over customer_id.
Money is integer fen, scores integer hundredths, and ANSI mode is on so an overflow fails
the run instead of wrapping. Bad rows are counted while the inputs are read (Spark's
``observe``) and named, file by file, on the error path only.
"""

from __future__ import annotations

import glob as globlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from py4j.protocol import Py4JJavaError
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tiering import billing as bl
from tiering import score as sc
from tiering import sql
from tiering.engine import (
    ALL,
    LINE_COLUMNS,
    NO_REGION,
    RESULT_COLUMNS,
    _no_overrides,
    _overrides,
    cut_table,
    parse_month,
    partition_results,
    tier_bounds,
)
from tiering.errors import InputError
from tiering.months import MONTH_RE
from tiering.policy import Policy, RatingPolicy, load_policy
from tiering.privacy import mask_id
from tiering.readers import (
    DATE_RE,
    EXAMPLES,
    FALSE_WORDS,
    OPTIONAL_SUBSCRIBER_COLUMNS,
    PERSONAL_COLUMNS,
    SUBSCRIBER_COLUMNS,
    TRUE_WORDS,
    open_table,
)
from tiering.thresholds import PartitionThresholds, document, tier_expr

FILE = "_tiering_file"  # the file (or table) each row came from, for error messages
SIDECAR = "_tiering.json"  # month, thresholds, counts: '_' so table readers skip it
OVERRIDES_FILE = "_overrides.parquet"
INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
TEMPORAL = (T.DateType, T.TimestampType, T.TimestampNTZType)


@dataclass(frozen=True, slots=True)
class Input:
    """A Spark DataFrame and the name its rows are reported under (a file, a table)."""

    name: str
    frame: DataFrame
    files: tuple[str, ...] = ()
    by_file: bool = True  # rows are named by their file (else by ``name``: a table)

    def with_file(self) -> DataFrame:
        """The frame with each row's file (or table) in ``FILE``, for the error path only:
        ``_metadata.file_path`` in the rating's plan made Spark read the file metadata
        struct for every row (the billing stage at 1M: 31.5-31.7 CPU-s without it, 32.7-36.8
        with it)."""
        if self.by_file:
            try:
                return self.frame.withColumn(FILE, F.col("_metadata.file_path"))
            except PySparkException:
                pass
        return self.frame.withColumn(FILE, F.lit(self.name))


@dataclass(frozen=True, slots=True)
class SparkRateResult:
    """One month rated on Spark: ``lines`` (a Spark DataFrame over the cached scored lines)
    has the columns of ``tiering.RateResult.lines``; the rest are the same small driver-side
    values."""

    month: str
    lines: DataFrame
    partitions: tuple[PartitionThresholds, ...]
    overrides: pl.DataFrame
    policy: Policy  # the policy it was rated under
    counts: dict[str, int] = field(hash=False)
    unrated: dict[str, int] = field(hash=False)
    timings: dict[str, float] = field(hash=False)
    files: dict[str, tuple[str, ...]] = field(hash=False)

    def export_frame(self) -> DataFrame:
        """Exactly the SPEC section 7 columns."""
        return self.lines.select(*LINE_COLUMNS)

    def write_parquet(self, out: str, policy: Policy, version: str) -> None:
        """Write the month as a Parquet directory a cluster table can point at: the lines'
        part files, and beside them ``_tiering.json`` (month, thresholds, counts, policy)
        and ``_overrides.parquet``, which table readers skip ('_'). Written into a sibling
        directory and renamed into place, replacing ``out``: a failed run leaves ``out``
        as it was."""
        spark = self.lines.sparkSession
        fs, target = _filesystem(spark, out)
        scratch = _path(spark, f"{out.rstrip('/')}.tmp-{int(time.time() * 1e3)}")
        try:
            self.lines.write.parquet(str(scratch.toString()))
            _write_bytes(fs, _child(spark, scratch, SIDECAR), json.dumps({
                "month": self.month, "version": version, "policy_fingerprint":
                policy.fingerprint, "policy": policy.text, "counts": self.counts,
                "unrated": self.unrated, "timings": self.timings,
                "inputs": {k: list(v) for k, v in self.files.items()},
                "partitions": document(self.partitions)}, indent=2).encode())
            buffer = _parquet_bytes(self.overrides)
            _write_bytes(fs, _child(spark, scratch, OVERRIDES_FILE), buffer)
            old = _path(spark, f"{out.rstrip('/')}.old-{int(time.time() * 1e3)}")
            replacing = fs.exists(target)
            if replacing:
                fs.rename(target, old)
            if not fs.rename(scratch, target):
                raise InputError(f"{out}: cannot move the written month into place")
            if replacing:
                fs.delete(old, True)
        finally:
            if fs.exists(scratch):
                fs.delete(scratch, True)


def write_store(result: SparkRateResult, store: Any, version: str) -> None:
    """Write the month into a (local) store: Spark writes the lines as Parquet files of the
    store's line types (``tiering.store.catalog.LINE_TYPES``), in id order within each
    file, beside the store; the store moves them in with the rest of the month in one step
    (``Store.write_month_files``)."""
    import shutil

    from tiering.store.catalog import LINE_TYPES

    scratch = store.path.with_name(f".{store.path.name}.spark-{os.getpid()}")
    try:
        result.lines.select(*[F.col(c).cast("string") if t == "VARCHAR" else F.col(c)
                              for c, t in LINE_TYPES]).sortWithinPartitions(
            "subscriber_id").write.parquet(str(scratch))
        store.write_month_files(result, sorted(scratch.glob("part-*.parquet")), version)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def local_defaults(master: str) -> dict[str, str]:
    """The settings a session on ``local[N]`` gets unless told otherwise (none on a
    cluster): there the driver is the executor, so it gets 4 GB, and eight shuffle
    partitions per core. Spark's 200 shuffle partitions are for a cluster: on local[2] a
    20k-line month took 100 s with them and 49 s with 8 (the customer window and the write,
    47 s of tasks of a few rows, became 4.5 s)."""
    if not master.startswith("local"):
        return {}
    cores = master.removeprefix("local").strip("[]").split(",")[0]
    n = (os.cpu_count() or 2) if cores in ("", "*") else int(cores)
    return {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": str(8 * n)}


def session(master: str = "local[2]", conf: Mapping[str, str] | None = None) -> SparkSession:
    """A session for ``tiering run --engine spark``: ANSI on, :func:`local_defaults` unless
    ``conf`` says otherwise. A session already running in this process (a test's, a
    notebook's) is used as it is set up: the defaults would change its shuffle partitions
    for whatever it runs next."""
    builder = SparkSession.builder.master(master).appName("tiering").config(
        "spark.sql.ansi.enabled", "true").config("spark.ui.showConsoleProgress", "false")
    defaults = local_defaults(master) if SparkSession.getActiveSession() is None else {}
    for key, value in {**defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read(spark: SparkSession, source: str | Sequence[str], what: str) -> Input:
    """Paths or globs (CSV or Parquet, local or with a scheme such as ``hdfs://``) or a
    table name. CSV is read as text, like the embedded engine, so ids keep their zeros."""
    sources = [source] if isinstance(source, str) else list(source)
    if len(sources) == 1 and not _looks_like_path(sources[0]):
        name = sources[0]
        if not spark.catalog.tableExists(name):
            raise InputError(f"{name}: no such {what} file or table")
        return Input(name, spark.table(name), by_file=False)
    local = [s for s in sources if "://" not in s]
    files = list(open_table(local, what).files) if local else []
    files += [s for s in sources if "://" in s]
    if all(f.lower().endswith((".parquet", ".pq")) for f in files):
        frame = spark.read.parquet(*files)
    else:
        frame = spark.read.csv(files, header=True, inferSchema=False, mode="FAILFAST",
                               quote='"', escape='"', encoding="UTF-8")
    name = files[0] if len(files) == 1 else f"{what} ({len(files)} files)"
    return Input(name, frame, tuple(files))


def rate(
    spark: SparkSession,
    month: str,
    billing: DataFrame | Input,
    subscribers: DataFrame | Input,
    *,
    overrides: DataFrame | Input | None = None,
    policy: Policy | None = None,
    amount_unit: str = "yuan",
    columns: Mapping[str, str] | None = None,
) -> SparkRateResult:
    """Rate every subscriber for ``month`` (``"YYYY-MM"``) from Spark DataFrames (or
    :func:`read` inputs), exactly as ``tiering.rate`` does: same columns, values, cut
    points, tiers and counts. ``columns`` maps our column names to yours. Turns ANSI mode
    on in ``spark``. Raises :class:`~tiering.errors.InputError` naming file or table,
    column, values and a count; nothing is computed past a bad input."""
    if amount_unit not in ("yuan", "fen"):
        raise InputError(f"amount unit must be 'yuan' or 'fen', not {amount_unit!r}")
    spark.conf.set("spark.sql.ansi.enabled", "true")
    policy = policy or load_policy()
    rp = policy.rating
    m = parse_month(month)
    started = time.perf_counter()
    subs_in = _renamed(_named(subscribers, "subscribers"), columns)
    bill_in = _renamed(_named(billing, "billing"), columns)
    _require(subs_in, SUBSCRIBER_COLUMNS)
    _require(bill_in, bl.COLUMNS)
    for source in (bill_in, subs_in):
        # Up front: Spark plans an empty input away, and its observed counts with it.
        if source.frame.isEmpty():
            raise InputError(f"{source.name}: no rows (empty input)")
    over = _no_overrides()
    if overrides is not None:
        over_in = _renamed(_named(overrides, "overrides"), columns)
        over = _overrides(open_table(over_in.frame.toArrow(), over_in.name), policy)
    integer_keys = all(isinstance(i.frame.schema["subscriber_id"].dataType, INTEGRAL)
                       for i in (subs_in, bill_in))

    bill_rows = _billing_rows(bill_in.frame, amount_unit, integer_keys)
    bill_checks = _billing_checks(amount_unit)
    bill_seen = Observation("billing")
    bill_rows = bill_rows.observe(bill_seen, F.count(F.lit(1)).alias("rows"),
                                  *_bad_counts(bill_checks))
    subs_rows = _subscriber_rows(subs_in.frame, integer_keys)
    subs_checks = _subscriber_checks()
    subs_seen = Observation("subscribers")
    subs_rows = subs_rows.observe(subs_seen, F.count(F.lit(1)).alias("rows"),
                                  *_bad_counts(subs_checks))
    in_window = bill_rows.where(F.col("month").between(m - sc.WINDOW_MONTHS, m - 1)
                                & ~_any_bad(bill_checks))
    grouped = _group(subs_rows.where(~_any_bad(subs_checks)), in_window)
    lines = _score(grouped, m, rp).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = _stats(lines, rp)
    except PySparkException as exc:
        raise _job_error(exc, bill_in, subs_in) from None
    seen = {"billing": _seen(bill_seen, bill_rows, bill_checks),
            "subscribers": _seen(subs_seen, subs_rows, subs_checks)}
    _check(bill_in, lambda: _billing_rows(bill_in.with_file(), amount_unit, integer_keys),
           seen["billing"], bill_checks)
    _check(subs_in, lambda: _subscriber_rows(subs_in.with_file(), integer_keys),
           seen["subscribers"], subs_checks)
    if stats["duplicates"]:
        raise _reject(subs_in, _subscriber_rows(subs_in.with_file(), integer_keys), {
            "subscriber_id": (F.count(F.lit(1)).over(Window.partitionBy("subscriber_id")) > 1,
                              sql.DUPLICATES["subscriber_id"][1])})
    unknown_rows = stats["unknown_rows"]
    # Matched before the repair, as the embedded engine counts them.
    matched = stats["window_rows"]
    if stats["early"]:
        # Lines billed inside M-12..M-1 before their window start: their sums again, from
        # their own start (engine._repair_early_bills); most months have none.
        repaired = _score(_repair(grouped, in_window, m), m, rp).persist(
            StorageLevel.MEMORY_AND_DISK)
        lines.unpersist()
        lines = repaired
        stats = _stats(lines, rp)
    scored = time.perf_counter()
    billing_total = int(seen["billing"]["rows"])
    if unknown_rows + stats["window_rows"] == 0:
        raise InputError(
            f"{bill_in.name}: none of its {billing_total:,} rows falls in the ARPU window "
            f"{sc.month_text(m - sc.WINDOW_MONTHS)} .. {sc.month_text(m - 1)} of month "
            f"{sc.month_text(m)} (is --month right?)")
    if matched == 0:
        raise InputError(f"{bill_in.name}: none of its {unknown_rows:,} rows in the ARPU window "
                         f"matches a subscriber of {subs_in.name}")

    histogram = stats["histogram"]
    cuts = cut_table(histogram, rp)
    by_tier = histogram.with_columns(tier=tier_expr(
        pl.col("score_x100"), tier_bounds(pl.col("partition"), cuts, rp))).group_by(
        "partition", "tier").agg(pl.col("len").sum())
    partitions = partition_results(by_tier, cuts, rp)
    # Not cached: the writer reads the tiers once, and the customer window computed within
    # the write's own job is cheaper than caching it and writing from the cache (at 1M:
    # 8.5 CPU-s to compute and cache, then 8.5 to write from the cache). The scored lines
    # stay cached under it, so another reader of ``lines`` repeats only the window.
    tiered = _tiers(lines.where(F.col("subscribers") == 1), cuts, rp)
    timings = {"aggregate_and_score": round(scored - started, 3),
               "tiers": round(time.perf_counter() - scored, 3)}

    n_subscribers = int(seen["subscribers"]["rows"])
    counts = {
        "subscribers": n_subscribers,
        "billing_rows": billing_total,
        "rated": stats["rated"],
        "unknown_subscriber_rows": unknown_rows,
        "outside_window_rows": billing_total - stats["window_rows"] - unknown_rows,
        "overrides": over.height,
    }
    return SparkRateResult(
        month=sc.month_text(m), lines=tiered, partitions=partitions, overrides=over,
        policy=policy,
        counts=counts, unrated={r: stats["unrated"].get(r, 0) for r in sc.REASONS},
        timings=timings,
        files={"billing": bill_in.files, "subscribers": subs_in.files,
               "overrides": over_in.files if overrides is not None else ()})


# --- inputs --------------------------------------------------------------------------------


def _named(source: DataFrame | Input, what: str) -> Input:
    # A DataFrame straight from files knows each row's file (Input.with_file).
    return source if isinstance(source, Input) else Input(what, source)


def _renamed(source: Input, columns: Mapping[str, str] | None) -> Input:
    frame = source.frame
    for ours, theirs in (columns or {}).items():
        if theirs in frame.columns:
            frame = frame.withColumnRenamed(theirs, ours)
    return Input(source.name, frame, source.files, source.by_file)


def _require(source: Input, needed: Sequence[str]) -> None:
    found = [c for c in source.frame.columns if c != FILE]
    missing = [c for c in needed if c not in found]
    if missing:
        raise InputError(f"{source.name}: missing column {', '.join(map(repr, missing))} "
                         f"(found: {', '.join(found) or 'none'})")


def _looks_like_path(text: str) -> bool:
    return ("/" in text or "\\" in text or globlib.has_magic(text) or Path(text).exists()
            or text.lower().endswith((".csv", ".txt", ".parquet", ".pq")))


def _text(col: str) -> Column:
    """Trimmed text; empty means absent (sql.text_sql)."""
    t = F.trim(F.col(col).cast("string"))
    return F.when(t != "", t)


def _id(frame: DataFrame) -> Column:
    """The id as given (sql.id_sql): an integer stays one; empty text is a missing id."""
    c = F.col("subscriber_id")
    if isinstance(frame.schema["subscriber_id"].dataType, INTEGRAL):
        return c
    t = c.cast("string")
    return F.when(t != "", t)


def _key(integer_keys: bool) -> Column:
    """The join key: ids meet as text (sql.key_sql: only canonical integers become int64
    keys there, so "0138" never meets 138 either way), as longs when both are integers."""
    return F.col("subscriber_id").cast("bigint" if integer_keys else "string")


def _month(frame: DataFrame) -> Column:
    """bill_month as a month index (billing.month_sql; text by months.MONTH_RE)."""
    c = F.col("bill_month")
    dtype = frame.schema["bill_month"].dataType
    if isinstance(dtype, TEMPORAL):
        return F.year(c) * 12 + F.month(c) - 1
    if isinstance(dtype, INTEGRAL):
        mm = c % 100
        return F.when(mm.between(1, 12) & c.between(190001, 999912),
                      F.expr("bill_month div 100") * 12 + mm - 1).cast("int")
    text = c.cast("string")
    pattern = f"^(?:{MONTH_RE.pattern})$"
    year, month, date_month, day = (F.regexp_extract(text, pattern, g) for g in (1, 2, 3, 4))
    # months.parse_month_text: YYYY-MM or YYYYMM, or a real YYYY-MM-DD date (not 02-30).
    real_date = F.try_to_date(F.concat_ws("-", year, date_month, day), "yyyy-MM-dd")
    mm = F.when(month != "", month.cast("int")).when(real_date.isNotNull(),
                                                      date_month.cast("int"))
    parsed = F.when(text.rlike(pattern) & mm.between(1, 12), year.cast("int") * 12 + mm - 1)
    # The usual YYYY-MM first, without a regular expression: the pattern above cost 17.6-18.2
    # CPU-s per 12.6M rows, this 6.6. It takes only what the pattern takes the same way:
    # exactly 7 characters, '-' fifth, four digits (a sign or a space would make the year
    # below 1000: those go to the pattern) and a month 01-12 whose first character is a
    # digit ('+5' and ' 5' go to the pattern too). Everything else is left to the pattern.
    y, mo = F.substring(text, 1, 4).try_cast("int"), F.substring(text, 6, 2).try_cast("int")
    plain = ((F.length(text) == 7) & (F.substring(text, 5, 1) == "-") & (y >= 1000)
             & mo.between(1, 12) & ((mo >= 10) | (F.substring(text, 6, 1) == "0")))
    return F.when(plain, y * 12 + mo - 1).otherwise(parsed)


def _fen(frame: DataFrame, unit: str) -> Column:
    """An amount as exact integer fen, null when it is not one (billing.fen_sql)."""
    a = F.col("amount")
    dtype = frame.schema["amount"].dataType
    if isinstance(dtype, INTEGRAL):
        return a.cast("bigint") * (1 if unit == "fen" else 100)
    if isinstance(dtype, T.DecimalType):
        hundred = (a * 100)
        if dtype.scale <= 2:
            return hundred.cast("bigint")
        return F.when(hundred == F.floor(hundred), hundred.cast("bigint"))
    if isinstance(dtype, (T.DoubleType, T.FloatType)):
        # A float is accepted when it sits on the fen within 1e-6 yuan.
        x100 = a * 100
        return F.when(~F.isnan(a) & (F.abs(a) < 1e15)
                      & (F.abs(x100 - F.round(x100)) <= 1e-4), F.round(x100).cast("bigint"))
    text = a.cast("string")
    if unit == "fen":
        return F.when(text.rlike(r"^\s*[+-]?\d{1,18}\s*$"), F.trim(text).try_cast("bigint"))
    return F.when(text.rlike(f"^(?:{bl.AMOUNT_TEXT})$"),
                  (F.trim(text).try_cast("decimal(18,2)") * 100).cast("bigint"))


Checks = dict[str, tuple[Column, str]]  # column -> (true on a bad row, what is wrong)


def _billing_rows(frame: DataFrame, unit: str, integer_keys: bool) -> DataFrame:
    return frame.select(
        _key(integer_keys).alias("key"), _id(frame).alias("id"), _month(frame).alias("month"),
        _fen(frame, unit).alias("fen"), *[F.col(c) for c in bl.COLUMNS], *_file(frame))


def _file(frame: DataFrame) -> list[str]:
    """``FILE`` when the frame has it (``Input.with_file``: the error path)."""
    return [FILE] if FILE in frame.columns else []


def _billing_checks(unit: str) -> Checks:
    problem = {c: p for c, (_cond, p) in bl._checks(unit).items()}
    return {
        "subscriber_id": (F.col("id").isNull(), problem["subscriber_id"]),
        "bill_month": (F.col("month").isNull(), problem["bill_month"]),
        "amount": (F.col("fen").isNull() & F.col("id").isNotNull(), problem["amount"]),
    }


def _subscriber_rows(frame: DataFrame, integer_keys: bool) -> DataFrame:
    present = set(frame.columns)

    def optional(col: str, expr: Column) -> Column:
        return expr if col in present else F.lit(None)

    dtype = frame.schema["join_date"].dataType
    join_date = (F.col("join_date").cast("date") if isinstance(dtype, TEMPORAL)
                 else F.when(_text("join_date").rlike(f"^(?:{DATE_RE})$"),
                             F.try_to_date(_text("join_date"), "yyyy-MM-dd")))
    billed = F.col("billed_in_month") if "billed_in_month" in present and isinstance(
        frame.schema["billed_in_month"].dataType, T.BooleanType) else F.when(
        F.lower(_text("billed_in_month")).isin(*TRUE_WORDS), True).when(
        F.lower(_text("billed_in_month")).isin(*FALSE_WORDS), False)
    return frame.select(
        _key(integer_keys).alias("key"),
        _id(frame).alias("subscriber_id"),
        (F.year(join_date) * 12 + F.month(join_date) - 1).alias("join_month"),
        _text("status").alias("status"),
        (F.lower(_text("status")) == "active").alias("active"),
        optional("customer_id", _text("customer_id")).cast("string").alias("customer_id"),
        optional("region", _text("region")).cast("string").alias("region"),
        optional("line_type", F.lower(_text("line_type")) == "personal").cast(
            "boolean").alias("personal"),
        optional("billed_in_month", billed).cast("boolean").alias("billed"),
        optional("billed_in_month", _text("billed_in_month")).cast("string").alias(
            "billed_raw"),
        *[F.col(c).alias(f"{c}_raw") for c in (*SUBSCRIBER_COLUMNS, "billed_in_month")
          if c in present],
        *_file(frame),
    )


def _subscriber_checks() -> Checks:
    problem = {c: p for c, (_cond, p) in sql.SUBSCRIBER_CHECKS.items()}
    return {
        "subscriber_id": (F.col("subscriber_id").isNull(), problem["subscriber_id"]),
        "join_date": (F.col("join_month").isNull(), problem["join_date"]),
        "status": (F.col("status").isNull(), problem["status"]),
        "billed_in_month": (F.col("billed").isNull() & F.col("billed_raw").isNotNull(),
                            problem["billed_in_month"]),
    }


def _bad_counts(checks: Checks) -> list[Column]:
    return [F.sum(F.when(bad, 1).otherwise(0)).alias(col) for col, (bad, _) in checks.items()]


def _any_bad(checks: Checks) -> Column:
    out = F.lit(False)
    for bad, _ in checks.values():
        out = out | F.coalesce(bad, F.lit(False))
    return out


def _seen(observed: Observation, rows: DataFrame, checks: Checks) -> dict[str, Any]:
    """The counts observed while the job read the input; counted again when Spark planned
    the read away (an input none of whose rows could reach the result)."""
    try:
        return dict(observed.get)
    except (PySparkException, Py4JJavaError):
        return rows.agg(F.count(F.lit(1)).alias("rows"), *_bad_counts(checks)).first(
            ).asDict()


def _check(source: Input, rows: Callable[[], DataFrame], seen: Mapping[str, Any],
           checks: Checks) -> None:
    """Reject the input if the read counted bad rows; ``rows`` gives them with their file."""
    bad = {c: chk for c, chk in checks.items() if seen[c]}
    if bad:
        raise _reject(source, rows(), bad)


def _reject(source: Input, rows: DataFrame, checks: Checks) -> InputError:
    """Name the bad rows, on this error path only: per file and column, the count and the
    first values (Spark has no row numbers for a file's rows; the values find them)."""
    messages = []
    for column, (bad, problem) in checks.items():
        raw = f"{column}_raw" if f"{column}_raw" in rows.columns else column
        # A column first: a window (the duplicates' count) cannot sit in a filter.
        flagged = rows.withColumn("_bad", bad).where("_bad")
        for name, count in flagged.groupBy(FILE).count().orderBy(FILE).collect():
            values = [r[0] for r in flagged.where(F.col(FILE) == name).select(
                F.col(raw).cast("string")).limit(EXAMPLES).collect()]
            if column in PERSONAL_COLUMNS:
                values = [v if v is None else mask_id(v) for v in values]
            messages.append(f"{_display(name or source.name)}: {count:,} "
                            f"{'row' if count == 1 else 'rows'}, column {column!r}: {problem}; "
                            f"first: {', '.join(map(repr, values))}")
    return InputError("\n".join(messages) or f"{source.name}: bad rows")


def _display(name: str) -> str:
    """A local file's path as the user wrote it (Spark says ``file:/x`` or ``file:///x``)."""
    return "/" + name.removeprefix("file:").lstrip("/") if name.startswith("file:/") else name


def _job_error(exc: PySparkException, *inputs: Input) -> InputError:
    """A Spark job failed reading or computing the inputs (a malformed CSV, an overflow
    under ANSI mode): the inputs and Spark's first line."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return InputError(f"{' and '.join(i.name for i in inputs)}: cannot rate: {first}")


# --- the rules -----------------------------------------------------------------------------


def _group(subs: DataFrame, bills: DataFrame) -> DataFrame:
    """One row per id: the subscriber's columns (``subscribers`` = how many rows the
    subscriber list has for the id: 0 for an unknown id, above 1 for a duplicate) and its
    billing in M-12..M-1. The billing rows are shuffled by id as they are and summed per id
    after the shuffle (three fixed-width aggregates: Spark's hash aggregation), then meet
    the subscribers in a full outer join that keeps the unknown ids, on the same
    partitioning; the subscribers' count per id rides on the shuffle the join needs anyway.
    Why no map-side partial sum: ids in bill order barely combine within a task (12.6M rows
    of 1M ids in two tasks), and the partial hash aggregation cost more than it saved
    (the billing stages at 1M: 25.6-28.0 CPU-s shuffled as they are, 32.7-36.8 summed
    first; issue 13's note on pre-aggregating unclustered billing)."""
    per_key = bills.repartition("key").groupBy("key").agg(
        F.sum("fen").cast("bigint").alias("fen"),
        F.count(F.lit(1)).cast("int").alias("window_rows"),
        F.min("month").alias("first_month"))
    listed = subs.select(
        F.col("key").alias("sub_key"),
        F.count(F.lit(1)).over(Window.partitionBy("key")).cast("int").alias("subscribers"),
        "subscriber_id", "customer_id", "region", "join_month", "active", "personal", "billed")
    joined = listed.join(per_key, listed["sub_key"] == per_key["key"], "full_outer")
    return joined.select(
        F.coalesce("sub_key", "key").alias("key"),
        F.coalesce("subscribers", F.lit(0)).alias("subscribers"),
        "subscriber_id", "customer_id", "region", "join_month", "active", "personal",
        "billed", F.coalesce("fen", F.lit(0)).cast("bigint").alias("fen"),
        F.coalesce("window_rows", F.lit(0)).alias("window_rows"), "first_month")


def _repair(grouped: DataFrame, bills: DataFrame, m: int) -> DataFrame:
    """Each early-billed line's sums from its own window start (the others unchanged)."""
    start = F.greatest(F.col("join_month"), F.lit(m - sc.WINDOW_MONTHS))
    early = grouped.where((F.col("subscribers") >= 1) & (F.col("first_month") < start)).select(
        "key", start.alias("window_start"))
    fixed = bills.join(F.broadcast(early), "key").where(
        F.col("month") >= F.col("window_start")).groupBy("key").agg(
        F.sum("fen").cast("bigint").alias("fixed_fen"),
        F.count(F.lit(1)).cast("int").alias("fixed_rows"))
    marked = early.select("key", F.lit(True).alias("early")).join(fixed, "key", "left")
    out = grouped.join(F.broadcast(marked), "key", "left")
    return out.withColumns({
        "fen": F.when(F.col("early"), F.coalesce("fixed_fen", F.lit(0))).otherwise(
            F.col("fen")),
        "window_rows": F.when(F.col("early"), F.coalesce("fixed_rows", F.lit(0))).otherwise(
            F.col("window_rows")),
        "first_month": F.when(F.col("early"), F.lit(None)).otherwise(F.col("first_month")),
    }).drop("early", "fixed_fen", "fixed_rows")


def _round_half_away(num: str, den: str) -> Column:
    """``num / den`` rounded half away from zero in integers, for ``den > 0``
    (score.round_half_away): Spark's ``round`` of a quotient would pass through a
    float or a decimal, and ``div`` truncates, so the halves are added by hand."""
    magnitude = F.expr(f"(abs({num}) * 2 + {den}) div ({den} * 2)")
    return F.when(F.expr(num) < 0, -magnitude).otherwise(magnitude)


def _coefficient_x100(tenure: Column, rp: RatingPolicy) -> Column:
    """score.coefficient_x100: the policy's bands, the first band that holds wins."""
    out: Column = F.lit(None).cast("bigint")
    for band in reversed(rp.tenure_bands):
        inside = tenure >= band.first
        if band.last is not None:
            inside = inside & (tenure <= band.last)
        out = F.when(inside, F.lit(band.coefficient_x100).cast("bigint")).otherwise(out)
    return out


def _reason(m: int, rp: RatingPolicy) -> Column:
    """score.reason: the first failed check in the SPEC's order; nulls mean 'absent'."""
    tenure = F.col("tenure_months")
    checks = (
        F.col("join_month") > m,
        tenure < rp.min_tenure_months,
        ~F.col("active"),
        ~F.col("personal"),
        ~F.col("billed"),
        F.col("window_rows") == 0,
    )
    out: Column = F.lit(None).cast("string")
    for code, failed in reversed(list(zip(sc.REASONS, checks, strict=True))):
        out = F.when(F.coalesce(failed, F.lit(False)), F.lit(code)).otherwise(out)
    return out


def _hundredths(x100: str, precision: int) -> Column:
    return (F.col(x100).cast("decimal(38,0)") / 100).cast(f"decimal({precision},2)")


def _partition(rp: RatingPolicy) -> Column:
    """engine.partition_expr: the lower-cased region, when the policy asks for it."""
    if rp.thresholds_by_region:
        return F.coalesce(F.lower(F.col("region")), F.lit(NO_REGION))
    return F.lit(ALL)


def _score(grouped: DataFrame, m: int, rp: RatingPolicy) -> DataFrame:
    """engine._join and engine._score: every line's columns of SPEC section 7 but the tier."""
    rated = F.col("reason").isNull()
    tenure = F.col("tenure_months")
    return grouped.withColumns({
        "tenure_months": (F.lit(m) - F.col("join_month") + 1).cast("int"),
        "window_start": F.greatest(F.col("join_month"), F.lit(m - sc.WINDOW_MONTHS)),
    }).withColumn("reason", _reason(m, rp)).withColumns({
        "window_months": F.when(rated, F.lit(m) - F.col("window_start")).cast("int"),
        "coefficient_x100": F.when(rated, _coefficient_x100(tenure, rp)),
    }).withColumn("arpu_yuan", F.when(rated, _round_half_away(
        "fen", "(CAST(window_months AS BIGINT) * 100)"))).withColumn(
        "arpu_score", F.when(rated, F.greatest(F.col("arpu_yuan"), F.lit(0)))).withColumns({
            "score_x100": F.col("arpu_score") * F.col("coefficient_x100"),
            "partition": _partition(rp),
        }).withColumns({
            "coefficient": _hundredths("coefficient_x100", 6),
            "score": _hundredths("score_x100", 18),
            "early": (F.col("subscribers") >= 1) & (F.col("first_month") < F.col(
                "window_start")),
        })


def _stats(lines: DataFrame, rp: RatingPolicy) -> dict[str, Any]:
    """The one aggregation that comes to the driver: lines per partition, distinct score
    and reason (thousands of rows), with the unknown ids' rows, duplicates and early bills."""
    kind = F.when(F.col("subscribers") == 0, "unknown").when(
        F.col("subscribers") > 1, "duplicate").otherwise("line")
    rows = lines.groupBy(kind.alias("kind"), "partition", "score_x100", "reason").agg(
        F.count(F.lit(1)).alias("len"), F.sum("window_rows").alias("window_rows"),
        F.sum(F.col("early").cast("int")).alias("early"))
    frame = pl.from_arrow(rows.toArrow())
    assert isinstance(frame, pl.DataFrame)
    mine = frame.filter(pl.col("kind") == "line")
    rated = mine.filter(pl.col("reason").is_null())
    unrated = mine.filter(pl.col("reason").is_not_null()).group_by("reason").agg(
        pl.col("len").sum())
    return {
        "histogram": rated.select("partition", "score_x100", pl.col("len").cast(pl.UInt32)),
        "rated": int(rated["len"].sum()),
        "unrated": {r: int(n) for r, n in unrated.iter_rows()},
        "window_rows": int(mine["window_rows"].sum()),
        "unknown_rows": int(frame.filter(pl.col("kind") == "unknown")["window_rows"].sum()),
        "duplicates": int(frame.filter(pl.col("kind") == "duplicate")["len"].sum()),
        "early": int(frame.filter(pl.col("kind") != "unknown")["early"].sum()),
    }


def _tiers(lines: DataFrame, cuts: Mapping[str, list[Any]], rp: RatingPolicy) -> DataFrame:
    """Tiers from the driver's cut points (thresholds.tier_expr: 1 + the bounds reached, so
    ties and equal bounds go up) and the customer tier, the highest line of the customer
    across the cluster."""
    part = F.col("partition")
    bounds = []
    for i in range(rp.tiers - 1):
        bound: Column = F.lit(None).cast("bigint")
        for name, cut in cuts.items():
            if cut:
                bound = F.when(part == name, F.lit(cut[i].rounded).cast("bigint")).otherwise(
                    bound)
        bounds.append(bound)
    reached = sum((F.when(F.col("score_x100") >= b * 100, 1).otherwise(0) for b in bounds),
                  F.lit(1))
    tier = F.when(F.col("reason").isNull() & bounds[0].isNotNull(), reached).cast("tinyint")
    customer = Window.partitionBy("customer_id")
    return lines.withColumn("tier", tier).withColumn(
        "customer_tier", F.when(F.col("customer_id").isNotNull(),
                                F.max("tier").over(customer))).select(
        *[F.col("fen").alias(c) if c == "window_fen" else c for c in RESULT_COLUMNS])


# --- writing -------------------------------------------------------------------------------


def _path(spark: SparkSession, text: str) -> Any:
    return spark._jvm.org.apache.hadoop.fs.Path(text)  # type: ignore[union-attr]


def _child(spark: SparkSession, parent: Any, name: str) -> Any:
    return spark._jvm.org.apache.hadoop.fs.Path(parent, name)  # type: ignore[union-attr]


def _filesystem(spark: SparkSession, out: str) -> tuple[Any, Any]:
    """Hadoop's file system of ``out`` (local, HDFS, object storage) and its path."""
    target = _path(spark, out)
    return target.getFileSystem(spark._jsc.hadoopConfiguration()), target  # type: ignore


def _write_bytes(fs: Any, path: Any, data: bytes) -> None:
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
