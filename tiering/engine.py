"""The monthly re-tiering run: inputs in, one month of tiers and thresholds out.

The rules live in ``score.py`` and ``thresholds.py``; this module only wires them together:
DuckDB sums the billing extract per subscriber before it meets the subscriber list (the join
is then one row per line instead of one per bill), polars applies the rules to a row per
line, cut points are read from a count per distinct score, and nothing loops over rows in
Python.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tiering import score as sc
from tiering.errors import InputError, InputWarning
from tiering.months import parse_month
from tiering.policy import Policy, RatingPolicy, load_policy
from tiering.billing import id_mismatch, summarise, window_sums
from tiering.readers import (
    Source,
    Table,
    count_subscribers,
    open_table,
    read_overrides,
    read_subscribers,
    reject_bad,
)
from tiering.thresholds import (
    PartitionThresholds,
    Threshold,
    cut_points,
    tier_counts,
    tier_expr,
)

ALL = "all"
NO_REGION = "(none)"
# The per-subscriber columns of SPEC section 7, in order.
LINE_COLUMNS = ("subscriber_id", "customer_id", "region", "tenure_months", "window_months",
                "arpu_yuan", "arpu_score", "coefficient", "score", "tier", "reason")
# The facts a rating reads besides tenure and region: kept with every line (rated or not) so
# a stored month can be rated again under another policy without the billing extract.
FACT_COLUMNS = ("window_fen", "window_rows", "active", "personal", "billed")
# RateResult.lines: the SPEC columns, their exact integer twins, the partition and customer
# tier, and the facts.
RESULT_COLUMNS = (*LINE_COLUMNS, "coefficient_x100", "score_x100", "partition", "customer_tier",
                  *FACT_COLUMNS)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RateResult:
    """One rated month. Its lines (:attr:`lines`, :meth:`scan_lines`) have the SPEC section 7
    columns plus exact integer twins (``score_x100``, ``coefficient_x100``), ``partition``,
    ``customer_tier`` and the FACT_COLUMNS (``window_fen``: the window's revenue in fen,
    ``window_rows``, and the eligibility flags).

    A month that fits the memory budget holds its lines in memory (``frame``); a larger one
    keeps them in Parquet files, one per part of the month (``line_files``, in a temporary
    folder that lives as long as the result, or until :meth:`Store.write_month
    <tiering.store.Store.write_month>` moves them into the store)."""

    month: str
    partitions: tuple[PartitionThresholds, ...]
    overrides: pl.DataFrame
    policy: Policy  # the policy it was rated under: a store keeps them together
    counts: dict[str, int] = field(hash=False)
    unrated: dict[str, int] = field(hash=False)
    timings: dict[str, float] = field(hash=False)
    files: dict[str, tuple[str, ...]] = field(hash=False)
    frame: pl.DataFrame | None = field(default=None, hash=False)
    line_files: tuple[Path, ...] = ()
    scratch: Any = field(default=None, compare=False, repr=False)

    @property
    def lines(self) -> pl.DataFrame:
        """Every line in memory (for a month rated in parts, read from its files: prefer
        :meth:`scan_lines` there)."""
        return self.frame if self.frame is not None else self.scan_lines().collect()

    def scan_lines(self) -> pl.LazyFrame:
        if self.frame is not None:
            return self.frame.lazy()
        return pl.scan_parquet(list(self.line_files))

    def export_frame(self) -> pl.DataFrame:
        """Exactly the SPEC section 7 columns."""
        return self.scan_lines().select(LINE_COLUMNS).collect()


class Clock:
    """Seconds per named step of a run (its run record's ``timings``)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0) + now - self._last, 3)
        self._last = now


@dataclass(frozen=True, slots=True)
class Run:
    """One rating's opened inputs and settings, shared by the two ways of rating a month."""

    m: int
    policy: Policy
    unit: str
    billing: Table
    subscribers: Table
    overrides: Table | None
    lines: int  # rows of the subscriber list
    say: Progress
    clock: Clock


def rate(
    month: str,
    billing: Source,
    subscribers: Source,
    *,
    overrides: Source | None = None,
    policy: Policy | None = None,
    amount_unit: str = "yuan",
    columns: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    memory: str | None = None,
    workdir: str | Path | None = None,
    parts: int | None = None,
) -> RateResult:
    """Rate every subscriber for ``month`` (``"YYYY-MM"``).

    ``billing`` and ``subscribers`` are paths or globs (CSV/Parquet), DuckDB relations, Arrow
    tables or polars frames. ``amount_unit`` is ``"yuan"`` (decimal text or numbers) or
    ``"fen"`` (an integer column of fen). ``columns`` maps our column names to yours.
    CSV files are read in ``encoding`` with ``delimiter`` (see :func:`open_table`).
    ``memory`` is the run's budget (``"2GB"``; default :func:`tiering.budget.default_budget`):
    a month too large for it is rated in parts, one group of customers at a time, with
    the lines kept in files under ``workdir`` (default: the system's temporary folder);
    ``parts`` sets their number whatever the budget (1: in memory). Either way the lines
    are the same, to the last column.
    Raises :class:`~tiering.errors.InputError` naming file, row, column and value; warns
    (:class:`~tiering.errors.InputWarning`) when most billing rows match no subscriber.
    """
    from tiering import budget as bd
    from tiering import sql

    if amount_unit not in ("yuan", "fen"):
        raise InputError(f"amount unit must be 'yuan' or 'fen', not {amount_unit!r}")
    budget = bd.parse_budget(memory)
    say = progress or (lambda _msg: None)
    policy = policy or load_policy()
    m = parse_month(month)
    clock = Clock()
    csv = {"encoding": encoding, "delimiter": delimiter}
    bill_table = open_table(billing, "billing", columns, **csv)
    subs_table = open_table(subscribers, "subscribers", columns, **csv)
    over_table = (open_table(overrides, "overrides", columns, **csv) if overrides is not None
                  else None)
    say("checking subscribers")
    # A subscriber file without its columns fails before the long billing pass, whose
    # memory is planned from the number of lines.
    run = Run(m, policy, amount_unit, bill_table, subs_table, over_table,
              count_subscribers(subs_table), say, clock)
    if parts is not None and not 1 <= parts <= bd.MAX_PARTS:
        raise InputError(f"parts must be 1 .. {bd.MAX_PARTS}, not {parts}")
    parts = parts or bd.plan_parts(run.lines, budget)
    from tiering.partitions import rate_in_parts, remove_stale

    remove_stale(workdir)
    with sql.memory_share(bd.duckdb_share(budget)):
        if parts == 1:
            return _rate_in_memory(run)
        return rate_in_parts(run, parts, workdir)


def _rate_in_memory(run: Run) -> RateResult:
    """A month that fits the budget: billing summed by DuckDB (its grouping is the peak of
    memory, and runs before polars holds the subscribers), then every line in polars."""
    m, bill_table, lap = run.m, run.billing, run.clock.lap
    run.say("aggregating billing")
    summary = summarise(bill_table, m, run.unit, sc.WINDOW_MONTHS, run.lines)
    billing_total = summary.rows
    per_key = summary.per_key
    del summary
    lap("aggregate_billing")

    run.say("reading subscribers")
    subs = read_subscribers(run.subscribers)
    over = read_override_table(run)
    integer_keys = subs["key"].dtype == pl.Int64
    # The ids' text stays until the check of unknown ids below has named any mismatch.
    per_key = (per_key.rename({"int_key": "key"}) if integer_keys
               else per_key.drop("int_key").rename({"text_key": "key"}))
    lap("read_subscribers")

    run.say("scoring")
    # One join of the subscribers and the billing summary serves the early-bill repair,
    # the count of rows of unknown ids and the rules.
    joined = _join(subs, per_key.drop("text_key", strict=False), m)
    window_rows = int(per_key["window_rows"].sum())
    # Matched before the repair: a line's bills before its join month still show its id
    # is written as the subscriber list writes it.
    matched = int(joined["window_rows"].sum())
    forms = id_mismatch(subs["subscriber_id"], per_key.join(
        subs.select("key"), on="key", how="anti")["text_key" if integer_keys else "key"]
    ) if (window_rows - matched) * 2 > window_rows else None
    del subs, per_key  # ten million lines: hold one copy, not three
    joined = repair_early_bills(joined, bill_table, m, run.unit, integer_keys)
    check_matches(run, billing_total, window_rows, matched,
                  int(joined["window_rows"].sum()), forms)
    lap("repair_early_bills")

    lines = score_lines(joined, m, run.policy)
    del joined
    lap("score")

    run.say("cut points and tiers")
    lines, partitions = _tiers(lines, run.policy)
    lap("tiers")
    return result(run, partitions, over, billing_total, window_rows - matched,
                  reason_tally(lines), frame=lines.select(RESULT_COLUMNS))


def read_override_table(run: Run) -> pl.DataFrame:
    return (_overrides(run.overrides, run.policy) if run.overrides is not None
            else _no_overrides())


def check_matches(run: Run, billing_total: int, window_rows: int, matched: int,
                  repaired_rows: int, forms: str | None) -> None:
    """Refuse a billing extract with no row in the window, or none of a subscriber; warn
    when most of its window's rows (``window_rows``; ``matched`` of them a subscriber's)
    match no subscriber (``forms``: why, from :func:`billing.id_mismatch`)."""
    bills, subs = run.billing.name, run.subscribers.name
    unknown = window_rows - matched
    if unknown + repaired_rows == 0:
        raise InputError(
            f"{bills}: none of its {billing_total:,} rows falls in the ARPU window "
            f"{sc.month_text(run.m - sc.WINDOW_MONTHS)} .. {sc.month_text(run.m - 1)} of month "
            f"{sc.month_text(run.m)} (is --month right?)")
    if matched == 0:
        raise InputError(f"{bills}: none of its {unknown:,} rows in the ARPU window matches "
                         f"a subscriber of {subs}" + (f": {forms}" if forms else ""))
    if forms:
        warnings.warn(InputWarning(
            f"{bills}: {unknown:,} of its {unknown + matched:,} rows in the ARPU window "
            f"match no subscriber of {subs}: {forms}"), stacklevel=4)


def reason_tally(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines (``len``) and their billing rows in the window per ``reason`` (null: rated);
    tallies of parts of a month add up."""
    return lines.group_by("reason").agg(pl.len(), pl.col("window_rows").sum())


def result(run: Run, partitions: tuple[PartitionThresholds, ...], over: pl.DataFrame,
           billing_total: int, unknown_rows: int, tally: pl.DataFrame, **lines: Any
           ) -> RateResult:
    """The month's result; ``tally``: :func:`reason_tally` of its lines; ``lines``:
    ``frame=`` or ``line_files=`` (with its ``scratch``)."""
    by_reason = {r: (int(n), int(w)) for r, n, w in tally.group_by("reason").agg(
        pl.col("len").sum(), pl.col("window_rows").sum()).iter_rows()}
    counts = {
        "subscribers": run.lines,
        "billing_rows": billing_total,
        "rated": by_reason.get(None, (0, 0))[0],
        "unknown_subscriber_rows": unknown_rows,
        "outside_window_rows": billing_total - sum(w for _, w in by_reason.values())
        - unknown_rows,
        "overrides": over.height,
    }
    unrated = {r: n for r, (n, _) in by_reason.items() if r is not None}
    t = (run.billing, run.subscribers, run.overrides)
    return RateResult(
        month=sc.month_text(run.m),
        partitions=partitions,
        overrides=over,
        policy=run.policy,
        counts=counts,
        unrated={r: int(unrated.get(r, 0)) for r in sc.REASONS},
        timings=run.clock.timings,
        files={"billing": t[0].files, "subscribers": t[1].files,
               "overrides": t[2].files if t[2] else ()},
        **lines,
    )


def _join(subs: pl.DataFrame, per_key: pl.DataFrame, m: int) -> pl.DataFrame:
    """Each subscriber with its billing summary (zero when it has none) and window start."""
    return line_facts(subs.lazy().join(per_key.lazy(), on="key", how="left"), m).collect()


def line_facts(joined: pl.LazyFrame, m: int) -> pl.LazyFrame:
    """Subscribers beside their billing sums (null without bills): join month, tenure and
    window start."""
    return joined.with_columns(
        join_month=sc.month_of(pl.col("join_date")),
        fen=pl.col("fen").fill_null(0),
        window_rows=pl.col("window_rows").fill_null(0),
    ).with_columns(
        tenure_months=sc.tenure_months(m, pl.col("join_month")).cast(pl.Int32),
        window_start=sc.window_start(m, pl.col("join_month")),
    )


def score_lines(joined: pl.DataFrame, m: int, policy: Policy) -> pl.DataFrame:
    rp = policy.rating
    tenure = pl.col("tenure_months")
    rated = pl.col("reason").is_null()
    return (
        joined.lazy()
        .with_columns(
            reason=sc.reason(
                m, rp,
                join_month=pl.col("join_month"),
                active=pl.col("active"),
                personal=pl.col("personal"),
                billed=pl.col("billed"),
                has_history=pl.col("window_rows") > 0,
            ),
        )
        .with_columns(
            window_months=pl.when(rated).then(pl.lit(m) - pl.col("window_start")).cast(pl.Int32),
            coefficient_x100=pl.when(rated).then(sc.coefficient_x100(tenure, rp)),
        )
        .with_columns(arpu_yuan=pl.when(rated).then(
            sc.arpu_yuan(pl.col("fen"), pl.col("window_months").cast(pl.Int64))))
        .with_columns(
            arpu_score=pl.col("arpu_yuan").clip(lower_bound=0),
            score_x100=sc.score_x100(pl.col("arpu_yuan"), pl.col("coefficient_x100")),
        )
        .with_columns(
            coefficient=_hundredths(pl.col("coefficient_x100"), 6),
            score=_hundredths(pl.col("score_x100"), 18),
        )
        .select(*LINE_COLUMNS[:-2], "reason", "coefficient_x100", "score_x100",
                pl.col("fen").alias("window_fen"), *FACT_COLUMNS[1:])
        .collect()
    )


def rerate(facts: pl.DataFrame, month: str, policy: Policy
           ) -> tuple[pl.DataFrame, tuple[PartitionThresholds, ...]]:
    """Rate stored lines again under ``policy``: the same rules as :func:`rate`, from the
    per-line facts a month keeps (``subscriber_id, customer_id, region, tenure_months`` and
    FACT_COLUMNS), without the billing extract. Returns the lines (as ``RateResult.lines``)
    and the partitions' cut points."""
    m = parse_month(month)
    join_month = pl.lit(m) - pl.col("tenure_months") + 1
    joined = facts.select("subscriber_id", "customer_id", "region", "tenure_months",
                          *FACT_COLUMNS).with_columns(
        join_month=join_month, window_start=sc.window_start(m, join_month),
        fen=pl.col("window_fen"))
    lines, partitions = _tiers(score_lines(joined, m, policy), policy)
    return lines.select(RESULT_COLUMNS), partitions


def _hundredths(x100: pl.Expr, precision: int) -> pl.Expr:
    """An exact decimal with two places from an integer count of hundredths."""
    return (x100.cast(pl.Decimal(38, 2)) / 100).cast(pl.Decimal(precision, 2))


def repair_early_bills(joined: pl.DataFrame, table: Table, m: int, unit: str,
                        integer_keys: bool) -> pl.DataFrame:
    """Recompute the few lines billed inside M-12..M-1 but before their window start.

    The per-subscriber pass does not know join months, so it sums all of M-12..M-1; a second,
    filtered pass over the billing rows of just these lines drops their pre-join months.
    Most months have none and skip it.
    """
    early = joined.filter(pl.col("first_month") < pl.col("window_start")).select(
        "key", "window_start")
    if early.height == 0:
        return joined
    # A line whose only bills predate its window has none left: zero, not its old sums.
    fixed = early.select("key").join(window_sums(table, early, m, unit, integer_keys),
                                     on="key", how="left").with_columns(
        fen=pl.col("fen").fill_null(0), window_rows=pl.col("window_rows").fill_null(0))
    return joined.update(fixed, on="key")


def _tiers(
    lines: pl.DataFrame, policy: Policy
) -> tuple[pl.DataFrame, tuple[PartitionThresholds, ...]]:
    """Cut points per partition, tiers, and the customer tier (highest line of the customer)."""
    cuts = cut_table(score_counts(lines, policy.rating), policy.rating)
    lines = with_tiers(lines, cuts, policy.rating)
    return lines, partition_results(tier_tally(lines), cuts, policy.rating)


def score_counts(lines: pl.DataFrame, rp: RatingPolicy) -> pl.DataFrame:
    """The rated lines' count per partition and distinct score (``len``): all that the cut
    points need, a few thousand rows however many lines; counts of parts of a month add up."""
    return lines.lazy().filter(pl.col("reason").is_null()).group_by(
        partition_expr(pl.col("region"), rp).alias("partition"), "score_x100").len().collect()


def with_tiers(lines: pl.DataFrame, cuts: Mapping[str, list[Threshold]], rp: RatingPolicy
               ) -> pl.DataFrame:
    """Each line's tier, partition and customer tier (the highest tier among the customer's
    lines in ``lines``: a part of a month must hold whole customers).

    Thresholds reach the lines as literals, or per partition through a small mapping: never
    a join that would copy every line."""
    part = partition_expr(pl.col("region"), rp)
    rated = pl.col("reason").is_null()
    bounds = tier_bounds(part, cuts, rp)
    return lines.with_columns(
        tier=pl.when(rated & bounds[0].is_not_null()).then(
            tier_expr(pl.col("score_x100"), bounds)),
        partition=part.cast(pl.Categorical),
    ).with_columns(customer_tier=pl.when(pl.col("customer_id").is_not_null()).then(
        pl.col("tier").max().over("customer_id")))


def tier_tally(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines per (``partition``, ``tier``): column ``len``; tallies of parts add up."""
    return lines.lazy().filter(pl.col("tier").is_not_null()).group_by(
        pl.col("partition").cast(pl.String), "tier").len().collect()


def partition_expr(region: pl.Expr, rp: RatingPolicy) -> pl.Expr:
    """The thresholds partition of a line: its region, when the policy asks for it."""
    # Regions compare trimmed and case-insensitively (SPEC 1): "North" is "north".
    return region.str.to_lowercase().fill_null(NO_REGION) if rp.thresholds_by_region else (
        pl.lit(ALL))


def cut_table(counts: pl.DataFrame, rp: RatingPolicy) -> dict[str, list[Threshold]]:
    """Cut points per partition (in name order) from the rated lines' count per distinct
    score: columns ``partition``, ``score_x100``, ``len``. Shared with ``tiering.spark``,
    whose cluster sends it that count."""
    names = sorted(counts["partition"].unique().to_list()) or [ALL]
    cuts = {}
    for name in names:
        c = counts.filter(pl.col("partition") == name)
        cuts[name] = cut_points(c["score_x100"].to_numpy(), c["len"].to_numpy(), rp)
    return cuts


def tier_bounds(part: pl.Expr, cuts: Mapping[str, list[Threshold]], rp: RatingPolicy
                ) -> list[pl.Expr]:
    """Each tier's lower bound (points) for the line's partition; null without cut points."""
    return [part.replace_strict({n: c[i].rounded if c else None for n, c in cuts.items()},
                                default=None, return_dtype=pl.Int64)
            for i in range(rp.tiers - 1)]


def partition_results(by_tier: pl.DataFrame, cuts: Mapping[str, list[Threshold]],
                      rp: RatingPolicy) -> tuple[PartitionThresholds, ...]:
    """Thresholds and tier counts per partition from a count of lines per (``partition``,
    ``tier``): column ``len``."""
    partitions = []
    for name, cut in cuts.items():
        mine = by_tier.filter(pl.col("partition") == name)
        tally = dict(zip(mine["tier"].to_list(), mine["len"].to_list()))
        partitions.append(PartitionThresholds(
            name, int(sum(tally.values())), tuple(cut), tier_counts(tally, rp)))
    return tuple(partitions)


def _no_overrides() -> pl.DataFrame:
    return pl.DataFrame(schema={"subscriber_id": pl.String, "customer_id": pl.String,
                                "tier": pl.Int8, "valid_from": pl.Date, "valid_to": pl.Date,
                                "reason": pl.String})


def _overrides(table: Table, policy: Policy) -> pl.DataFrame:
    rows = read_overrides(table)
    tiers = policy.rating.tiers
    reject_bad(table, rows.with_row_index("_row", offset=1), {
        "tier": (~pl.col("tier").is_between(1, tiers), f"not a tier 1..{tiers}")})
    return rows
