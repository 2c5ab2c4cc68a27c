"""The compliance report (SPEC 6, seed 001: assess the executing departments and circulate
the results): per group x class x tier, counts, on-time rate, fraction of the target used,
escalations reached and overdue stages, with totals per group and overall.

Every count is an integer; the on-time rate and the fractions are exact decimal text with
two places, rounded half up in integer arithmetic from the rule's µs (a float would round
0.605 either way), e.g. ``"93.33"``, ``"0.61"``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl

from tiering.effective import default_policy
from tiering.errors import InputError
from tiering.policy import Policy
from tiering.sla.frame import Evaluated, evaluate
from tiering.sla.rule import BREACHED, MET

COUNTS = ("tickets", "resolved", "met", "breached", "open_not_due")
KEYS = ("issue_class", "tier")


def report(frame: pl.DataFrame, now: datetime | str, by: Sequence[str] = (),
           policy: Policy | None = None, *, source: str = "<frame>",
           skip_bad: bool = False) -> pl.DataFrame:
    """The compliance report of a frame of tickets (the columns of
    :func:`tiering.sla.deadlines`) at ``now``, grouped by the columns ``by`` (department,
    handler, region, leader, ...).

    One row per group x ``issue_class`` x ``tier`` that has tickets (``total`` false), then
    the totals per group and overall (``total`` true, ``issue_class`` and ``tier`` null; with
    no ``by`` only the overall one). Columns: the ``by`` columns, ``issue_class, tier,
    tickets, resolved, met, breached, open_not_due, on_time_rate, fraction_used_p50,
    fraction_used_p90, escalations, stage_overdue, total``. ``met``: resolved by the
    deadline; ``breached``: resolved late or open past it at ``now``; ``on_time_rate`` =
    met / (met + breached) in percent, null when nothing is decided; the fractions are the
    nearest-rank median and 90th percentile of the fraction of the target used by resolved
    tickets (null without any); ``escalations`` a struct with, per ladder step, the tickets
    that reached it; ``stage_overdue`` the tickets whose stage is overdue (group by
    ``leader`` for them per leader notified). Tickets that cannot be computed (see
    :func:`~tiering.sla.deadlines`' ``error``) are left out.
    """
    pol = policy if policy is not None else default_policy()
    check_by(frame, by, source)
    return summarize(frame, evaluate(frame, now, pol, source=source, skip_bad=skip_bad), by,
                     pol)


def check_by(frame: pl.DataFrame, by: Sequence[str], source: str) -> None:
    for col in by:
        if col in KEYS:
            raise InputError(f"--by {col}: the report is always per issue_class and tier")
        if col not in frame.columns:
            raise InputError(f"{source}: no column {col!r} to group by; it has: "
                             f"{', '.join(frame.columns)}")
    if len(set(by)) != len(by):
        raise InputError(f"--by {','.join(by)}: a column given twice")


def summarize(frame: pl.DataFrame, ev: Evaluated, by: Sequence[str],
              pol: Policy) -> pl.DataFrame:
    """The report's rows from the rule's answers ``ev`` for ``frame``."""
    ok = ~ev.failed
    done = ev.done[ok]
    counted, target = ev.counted[ok], ev.target[ok]
    # hundredths of the fraction used, half up: floor((200 c + t) / 2t); µs up to a thousand
    # years keep 200 c inside int64
    used = np.where(done, (200 * counted + target) // (2 * target), -1)
    base = frame.filter(pl.Series(ok)).select(
        *by, pl.col("issue_class").cast(pl.String).str.strip_chars(),
        pl.col("tier").cast(pl.String).str.strip_chars().cast(pl.Int64),
    ).with_columns(
        done=pl.Series(done), met=pl.Series(ev.state[ok] == MET),
        breached=pl.Series(ev.state[ok] == BREACHED),
        used=pl.Series(used).replace(-1, None), step=pl.Series(ev.step[ok]),
        overdue=ev.notify.filter(pl.Series(ok)).is_not_null())
    steps = [s.notify for s in pol.sla.escalation]
    aggs = [
        pl.len().alias("tickets"), pl.col("done").sum().alias("resolved"),
        pl.col("met").sum().alias("met"), pl.col("breached").sum().alias("breached"),
        (~pl.col("done") & ~pl.col("breached")).sum().alias("open_not_due"),
        *(_nearest_rank(p) for p in (50, 90)),
        (pl.struct([(pl.col("step") >= i).sum().alias(name) for i, name in enumerate(steps)])
         if steps else pl.lit(None, pl.Struct({}))).alias("escalations"),
        pl.col("overdue").sum().alias("stage_overdue"),
    ]
    levels = [(list(by) + list(KEYS), False)]
    if by:
        levels.append((list(by), True))
    levels.append(([], True))
    parts = []
    for keys, total in levels:
        grouped = base.group_by(keys).agg(aggs) if keys else base.select(aggs)
        if not keys and not base.height:
            grouped = grouped.clear()  # no tickets, no overall row either
        parts.append(grouped.sort(keys, descending=[k == "tier" for k in keys],
                                  nulls_last=True, maintain_order=True)
                     .with_columns(total=pl.lit(total)))
    out = pl.concat(parts, how="diagonal_relaxed")
    decided = pl.col("met") + pl.col("breached")
    rate = (2 * 10_000 * pl.col("met") + decided) // (2 * decided)  # hundredths of a percent
    return out.select(
        *by, *KEYS, *(pl.col(c).cast(pl.Int64) for c in COUNTS),
        pl.when(decided > 0).then(_two_places(rate)).alias("on_time_rate"),
        _two_places(pl.col("p50")).alias("fraction_used_p50"),
        _two_places(pl.col("p90")).alias("fraction_used_p90"),
        "escalations", pl.col("stage_overdue").cast(pl.Int64), "total",
    ).with_columns(pl.col("tier").cast(pl.Int64))


def _nearest_rank(p: int) -> pl.Expr:
    """The p-th percentile by nearest rank of ``used`` (nulls left out): the value at rank
    ceil(p n / 100) of the n sorted values."""
    n = pl.col("used").count()
    rank = (n * p + 99) // 100
    return pl.col("used").drop_nulls().sort().get(rank - 1, null_on_oob=True).alias(f"p{p}")


def _two_places(hundredths: pl.Expr) -> pl.Expr:
    """Exact decimal text of a count of hundredths (non-negative): 9333 -> "93.33"."""
    return pl.concat_str(hundredths // 100, pl.lit("."),
                         (hundredths % 100).cast(pl.String).str.zfill(2))


class _CallableModule(types.ModuleType):
    """``tiering.sla.report(frame, ...)`` must call :func:`report`, but importing this
    submodule makes ``tiering.sla.report`` the module itself (Python sets the package
    attribute after the import), so the module calls it."""

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        return report(*args, **kwargs)  # type: ignore[arg-type]


sys.modules[__name__].__class__ = _CallableModule
