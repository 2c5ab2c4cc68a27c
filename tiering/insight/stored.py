"""What the insight commands read from the store, through its public API only
(``Store.months``, ``run_record``, ``thresholds``, ``month_lines``, ``effective_tiers``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from tiering.insight.diff import base_tier
from tiering.months import parse_month
from tiering.store import Store


LINE_TYPES = {"customer_id": pl.String, "region": pl.String, "tenure_months": pl.Int32,
              "window_months": pl.Int32, "arpu_yuan": pl.Int64, "arpu_score": pl.Int64,
              "coefficient": pl.Decimal(6, 2), "score": pl.Decimal(18, 2), "tier": pl.Int8,
              "reason": pl.String, "coefficient_x100": pl.Int64, "score_x100": pl.Int64,
              "partition": pl.String, "customer_tier": pl.Int8}


def first_day(month: str) -> date:
    """The day a month's tiers take effect: diff and report read effective tiers on it."""
    index = parse_month(month)
    return date(index // 12, index % 12 + 1, 1)


def previous_month(store: Store, month: str) -> str | None:
    """The latest stored month before ``month``."""
    earlier = [m for m in store.months() if m < month]
    return earlier[-1] if earlier else None


def month_with_service(store: Store, month: str) -> pl.DataFrame:
    """A month's lines (``Store.month_lines``) with ``effective_tier`` on the month's first
    day (highest applies, overrides included) and ``base_tier``, the tier the rating alone
    gives (own tier or the customer's best line, else the unrated service tier): where the
    two differ, an override decides."""
    lines = store.month_lines(month)
    record = store.run_record(month)
    at = pl.repeat(first_day(month), lines.height, dtype=pl.Date, eager=True)
    effective = store.effective_tiers(lines["subscriber_id"], at)
    return lines.with_columns(effective_tier=effective.cast(pl.Int8),
                              base_tier=base_tier(record["unrated_service_tier"]))


def line_frame(row: dict[str, Any], unrated_service_tier: int) -> pl.DataFrame:
    """One row of ``StoreReader.lines`` (read on the month's first day) as a one-line
    frame of :func:`month_with_service`'s columns."""
    fields = {k: v for k, v in row.items() if k not in ("effective", "month")}
    # Typed as the store's columns: a null alone would make a column of no type.
    return pl.DataFrame([fields], schema_overrides=LINE_TYPES).with_columns(
        effective_tier=pl.lit(row["effective"].tier, dtype=pl.Int8),
        base_tier=base_tier(unrated_service_tier))


def tiers_of(store: Store, month: str) -> int:
    """How many tiers the month was rated into (its policy's shares)."""
    with store.reader() as reader:
        return reader.policy(month).rating.tiers


def month_summary(record: dict[str, Any]) -> dict[str, Any]:
    """One stored month as ``months --json`` lists it."""
    counts = record["counts"]
    return {"month": record["month"], "run_at": record["run_at"],
            "lines": counts["subscribers"], "rated": counts["rated"],
            "version": record["version"], "policy_fingerprint": record["policy_fingerprint"],
            "inputs": record["inputs"]}
