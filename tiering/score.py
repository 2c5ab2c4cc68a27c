"""The value score of SPEC sections 2-3, as polars expressions over exact integers.

Months are integer month indexes (``year * 12 + month - 1``) so windows and tenure are plain
subtraction. Money is integer fen and scores integer hundredths of a point: nothing here is
ever a float, so a score on a threshold compares exactly.
"""

from __future__ import annotations

import re

import polars as pl

from tiering.policy import RatingPolicy

WINDOW_MONTHS = 12
MONTH_RE = r"\s*(\d{4})[-/]?(\d{2})(?:[-/]\d{2})?\s*"
# Reason codes in the SPEC's order of precedence: the first that applies is reported.
REASONS = ("future_join", "new", "inactive", "line_type", "not_billed", "no_history")
REASON_TYPE = pl.Enum(REASONS)  # a byte per line instead of a string


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse_month_text(text: str) -> int | None:
    """The month index of ``YYYY-MM``, ``YYYYMM`` or a ``YYYY-MM-DD`` date; None otherwise."""
    m = re.fullmatch(MONTH_RE, text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return month_index(int(m.group(1)), int(m.group(2)))


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


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


def coefficient_x100(tenure: pl.Expr, policy: RatingPolicy) -> pl.Expr:
    """The tenure coefficient in hundredths, from the policy's bands."""
    expr: pl.Expr = pl.lit(None, dtype=pl.Int64)
    for band in reversed(policy.tenure_bands):
        inside = tenure >= band.first
        if band.last is not None:
            inside &= tenure <= band.last
        expr = pl.when(inside).then(pl.lit(band.coefficient_x100, dtype=pl.Int64)).otherwise(expr)
    return expr


def score_x100(arpu: pl.Expr, coefficient: pl.Expr) -> pl.Expr:
    """Composite value score in hundredths: ``max(ARPU, 0) x coefficient``."""
    return arpu.clip(lower_bound=0) * coefficient


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
