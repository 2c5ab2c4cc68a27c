"""The value score of SPEC sections 2-3, as polars expressions over exact integers.

Months are integer month indexes (``year * 12 + month - 1``) so windows and tenure are plain
subtraction. Money is integer fen and scores integer hundredths of a point: nothing here is
ever a float, so a score on a threshold compares exactly.
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from tiering.policy import RatingPolicy

WINDOW_MONTHS = 12
# YYYY-MM, YYYYMM or a date YYYY-MM-DD, in ASCII digits: re.ASCII keeps \d from matching
# full-width or other Unicode digits (２０２５-１０), which are rejected, not normalised.
MONTH_RE = re.compile(r"\s*(\d{4})(?:-?(\d{2})|-(\d{2})-(\d{2}))\s*", re.ASCII)
# Reason codes in the SPEC's order of precedence: the first that applies is reported.
REASONS = ("future_join", "new", "inactive", "line_type", "not_billed", "no_history")
REASON_TYPE = pl.Enum(REASONS)  # a byte per line instead of a string


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse_month_text(text: str) -> int | None:
    """The month index of ``YYYY-MM``, ``YYYYMM`` or a real ``YYYY-MM-DD`` date (not
    2026-02-30); None otherwise."""
    m = MONTH_RE.fullmatch(text)
    if m is None:
        return None
    year, month, date_month, day = m.groups()
    if date_month is not None:
        try:
            date(int(year), int(date_month), int(day))
        except ValueError:
            return None
        month = date_month
    if not 1 <= int(month) <= 12:
        return None
    return month_index(int(year), int(month))


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
    """The tenure coefficient in hundredths, from the policy's bands (null below the first).

    Bands are contiguous (the policy loader checks it), so a tenure's band is the last whose
    start it reaches: one binary search over the starts, whatever the number of bands."""
    starts = pl.Series([b.first for b in policy.tenure_bands], dtype=pl.Int64)
    coefficients = pl.Series([b.coefficient_x100 for b in policy.tenure_bands], dtype=pl.Int64)
    band = pl.lit(starts).search_sorted(tenure.cast(pl.Int64), side="right").cast(pl.Int64) - 1
    return pl.when(band >= 0).then(pl.lit(coefficients).gather(band.clip(lower_bound=0)))


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
