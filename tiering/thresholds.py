"""Cut points and tiers (SPEC sections 4-5).

Cut points are read from a count per distinct score rather than by sorting every line: a
month has millions of lines but only thousands of distinct scores, and the nearest rank is
the same either way. All arithmetic is on integers (scores in hundredths, shares in
hundredths of a percent), so a tie on a threshold is decided exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tiering.policy import RatingPolicy


@dataclass(frozen=True, slots=True)
class Threshold:
    """The lower bound of ``tier`` in score points."""

    tier: int
    cumulative_share_x100: int  # percent x 100 of the lines at or above this tier
    rank: int | None  # nearest rank (1-based, score descending); None for fixed thresholds
    raw_x100: int | None  # the score at that rank; None for fixed thresholds
    rounded: int


@dataclass(frozen=True, slots=True)
class TierCount:
    tier: int
    count: int
    nominal_share_x100: int
    realised_share_x100: int  # percent x 100 of the partition's rated lines, half up


@dataclass(frozen=True, slots=True)
class PartitionThresholds:
    partition: str
    rated: int
    thresholds: tuple[Threshold, ...]  # top boundary first
    tiers: tuple[TierCount, ...]  # top tier first


def nearest_rank(cumulative_share_x100: int, n: int) -> int:
    """1-based rank ``ceil(p * N)`` with p in hundredths of a percent, in integers."""
    return (cumulative_share_x100 * n + 9_999) // 10_000


def round_to_step(score_x100: int, step: int) -> int:
    """Round a non-negative score (hundredths) half up to a multiple of ``step`` points."""
    unit = step * 100
    return step * ((score_x100 + unit // 2) // unit)


def cut_points(scores: np.ndarray, counts: np.ndarray, policy: RatingPolicy) -> list[Threshold]:
    """Thresholds for one partition from its distinct scores (hundredths) and their counts.

    An empty partition has no cut points (and so no tiers) unless they are fixed.
    """
    tiers = policy.tiers
    cumulative = policy.cumulative_shares_x100
    if policy.fixed_thresholds is not None:
        return [
            Threshold(tiers - i, share, None, None, value)
            for i, (share, value) in enumerate(zip(cumulative, policy.fixed_thresholds))
        ]
    n = int(counts.sum())
    if n == 0:
        return []
    order = np.argsort(scores)[::-1]
    descending = scores[order]
    reached = np.cumsum(counts[order])
    out = []
    for i, share in enumerate(cumulative):
        rank = nearest_rank(share, n)
        raw = int(descending[np.searchsorted(reached, rank, side="left")])
        out.append(Threshold(tiers - i, share, rank, raw, round_to_step(raw, policy.round_to)))
    return out


def tier_expr(score_x100: pl.Expr, bounds: Sequence[pl.Expr]) -> pl.Expr:
    """1 + the number of thresholds (in points) the score reaches: ties go up, and equal
    thresholds give the higher tier."""
    return (pl.sum_horizontal([score_x100 >= b * 100 for b in bounds]) + 1).cast(pl.Int8)


def tier_counts(counts_by_tier: dict[int, int], policy: RatingPolicy) -> tuple[TierCount, ...]:
    """Count and share per tier, one-star included; realised shares in hundredths of a
    percent, rounded half up."""
    rated = sum(counts_by_tier.values())
    out = []
    for i, nominal in enumerate(policy.shares_x100):
        tier = policy.tiers - i
        count = counts_by_tier.get(tier, 0)
        realised = (count * 20_000 + rated) // (2 * rated) if rated else 0
        out.append(TierCount(tier, count, nominal, realised))
    return tuple(out)


def document(partitions: Sequence[PartitionThresholds]) -> list[dict[str, object]]:
    """Partitions as the ``partitions`` of ``tiering thresholds --json``: shares in percent
    (a whole number as an int), raw cut points as exact decimal text."""
    def share(x100: int) -> int | float:
        return x100 // 100 if x100 % 100 == 0 else x100 / 100

    return [{
        "partition": p.partition, "rated": p.rated,
        "thresholds": [{"tier": t.tier, "cumulative_share": share(t.cumulative_share_x100),
                        "rank": t.rank, "rounded": t.rounded,
                        "raw": None if t.raw_x100 is None
                        else f"{t.raw_x100 // 100}.{t.raw_x100 % 100:02d}"}
                       for t in p.thresholds],
        "tiers": [{"tier": c.tier, "count": c.count,
                   "nominal_share": share(c.nominal_share_x100),
                   "realised_share": c.realised_share_x100 / 100} for c in p.tiers],
    } for p in partitions]
