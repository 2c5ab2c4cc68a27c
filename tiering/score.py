"""The value score of SPEC sections 2-3, as polars expressions over exact integers.

Months are integer month indexes (``year * 12 + month - 1``) so windows and tenure are plain
subtraction. Money is integer fen and scores integer hundredths of a point: nothing here is
ever a float, so a score on a threshold compares exactly.
"""

from __future__ import annotations

import polars as pl

# Month text lives in tiering.months (no polars, for the CLI); re-exported for the rules.
from tiering.months import month_index, month_text, parse_month_text  # noqa: F401
from tiering.policy import RatingPolicy

WINDOW_MONTHS = 12
# Reason codes in the SPEC's order of precedence: the first that applies is reported.
REASONS = ("future_join", "new", "inactive", "line_type", "not_billed", "no_history")
REASON_TYPE = pl.Enum(REASONS)  # a byte per line instead of a string
# What each reason code means, in one line (the run summary and docs/rules.md say it so).
REASON_TEXT = {
    "future_join": "joined after the rating month",
    "new": "tenure under {min_tenure} months (the join month counts as month 1)",
    "inactive": "status is not active in the rating month",
    "line_type": "not a personal line (data card, IoT, test line)",
    "not_billed": "billed_in_month is false",
    "no_history": "no billing row at all inside the ARPU window",
}


def reason_text(code: str, policy: RatingPolicy) -> str:
    return REASON_TEXT[code].format(min_tenure=policy.min_tenure_months)


def tenure_months(month: int, join_month: pl.Expr) -> pl.Expr:
    """The join month counts as month 1."""
    return pl.lit(month) - join_month + 1


def window_start(month: int, join_month: pl.Expr) -> pl.Expr:
    """First month of the ARPU window: ``max(join_month, M - 12)``; it ends at ``M - 1``."""
    return pl.max_horizontal(join_month, pl.lit(month - WINDOW_MONTHS))


def round_half_away(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` rounded half away from zero (四舍五入), exactly, for integer ``den > 0``."""
    magnitude = (num.abs() * 2 + den) // (den * 2)
    return pl.when(num < 0).then(-magnitude).otherwise(magnitude)


def arpu_yuan(sum_fen: pl.Expr, window_months: pl.Expr) -> pl.Expr:
    """Average monthly revenue in whole yuan; a month without a billing row counts as 0."""
    return round_half_away(sum_fen, window_months * 100)


def tenure_band(tenure: pl.Expr, policy: RatingPolicy) -> pl.Expr:
    """The index in ``policy.tenure_bands`` of the band holding ``tenure`` (null: below the
    first). Bands are contiguous (the policy loader checks it), so a tenure's band is the
    last whose start it reaches: one binary search over the starts, whatever the number of
    bands (a when-chain per band took over 10 s for 2,000 bands)."""
    starts = pl.Series([b.first for b in policy.tenure_bands], dtype=pl.Int64)
    band = pl.lit(starts).search_sorted(tenure.cast(pl.Int64), side="right").cast(pl.Int32) - 1
    return pl.when(band >= 0).then(band)


def coefficient_x100(tenure: pl.Expr, policy: RatingPolicy) -> pl.Expr:
    """The tenure coefficient in hundredths, from the policy's bands."""
    coefficients = pl.Series([b.coefficient_x100 for b in policy.tenure_bands], dtype=pl.Int64)
    band = tenure_band(tenure, policy)
    return pl.when(band.is_not_null()).then(pl.lit(coefficients).gather(band.fill_null(0)))


def score_x100(arpu: pl.Expr, coefficient: pl.Expr) -> pl.Expr:
    """Composite value score in hundredths: ``max(ARPU, 0) x coefficient``."""
    return arpu.clip(lower_bound=0) * coefficient


def arpu_needed(points: pl.Expr, coefficient: pl.Expr) -> pl.Expr:
    """The least ARPU (whole yuan) whose score reaches ``points``: the inverse of
    :func:`score_x100`, ``ceil(points x 100 / coefficient_x100)`` in integers (never below 0:
    a negative ARPU scores as 0)."""
    return (-((-points * 100) // coefficient)).clip(lower_bound=0)


def reason(
    month: int,
    policy: RatingPolicy,
    *,
    join_month: pl.Expr,
    active: pl.Expr,
    personal: pl.Expr,
    billed: pl.Expr,
    has_history: pl.Expr,
) -> pl.Expr:
    """Why a line is not rated (null when it is). Nulls in the flags mean 'column absent'."""
    tenure = tenure_months(month, join_month)
    checks = (
        join_month > month,
        tenure < policy.min_tenure_months,
        ~active,
        personal.not_(),
        billed.not_(),
        ~has_history,
    )
    expr: pl.Expr = pl.lit(None, dtype=REASON_TYPE)
    for code, failed in reversed(list(zip(REASONS, checks, strict=True))):
        expr = pl.when(failed.fill_null(False)).then(pl.lit(code, dtype=REASON_TYPE)).otherwise(
            expr)
    return expr


def month_of(date: pl.Expr) -> pl.Expr:
    """The month index of a date."""
    return date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32) - 1
