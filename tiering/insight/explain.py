"""One line's rating, step by step, from the facts its month stored.

Every number is computed by the rules of tiering.score (ARPU, its rounding, the tenure band,
the score, the ARPU a cut point needs) on a one-row frame of the stored facts, so what is
shown is what the rating does, not a restatement of it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from tiering import score as sc
from tiering.insight.diff import move_reason, pairs
from tiering.months import month_text, parse_month
from tiering.policy import Policy

# Digits shown of an ARPU quotient that does not end (220549 / 1100 = 200.4990909...).
QUOTIENT_PLACES = 6


def quotient_text(num: int, den: int) -> str:
    """``num / den`` in decimals, exact when it ends within QUOTIENT_PLACES places, else
    cut there and marked with an ellipsis (display only: the rule rounds the exact value)."""
    exact = Decimal(num) / Decimal(den)
    shown = exact.quantize(Decimal(1).scaleb(-QUOTIENT_PLACES))
    if shown == exact:
        return format(exact.normalize(), "f") if exact != 0 else "0"
    return format(shown, "f") + "…"


def _facts(row: dict[str, Any], month: int, policy: Policy) -> dict[str, Any]:
    """The rules of tiering.score applied to one stored line."""
    rp = policy.rating
    tenure = pl.col("tenure_months")
    join_month = pl.lit(month) - tenure + 1
    frame = pl.DataFrame({"tenure_months": [row["tenure_months"]],
                          "window_fen": [row["window_fen"]]},
                         schema={"tenure_months": pl.Int64, "window_fen": pl.Int64})
    out = frame.with_columns(
        window_start=sc.window_start(month, join_month).cast(pl.Int64),
        band=sc.tenure_band(tenure, rp),
        coefficient_x100=sc.coefficient_x100(tenure, rp),
    ).with_columns(
        window_months=pl.lit(month) - pl.col("window_start"),
    ).with_columns(
        arpu=sc.arpu_yuan(pl.col("window_fen"), pl.col("window_months")),
    ).with_columns(
        score_x100=sc.score_x100(pl.col("arpu"), pl.col("coefficient_x100")),
    )
    return out.row(0, named=True)


def _needed(points: int, coefficient_x100: int) -> int:
    frame = pl.DataFrame({"p": [points], "c": [coefficient_x100]})
    return int(frame.select(sc.arpu_needed(pl.col("p"), pl.col("c"))).item())


def _hundredths(x100: int) -> str:
    return f"{Decimal(x100) / 100:.2f}"


def explain(row: dict[str, Any], month: str, policy: Policy, partition: dict[str, Any] | None
            ) -> dict[str, Any]:
    """The steps of one stored line's rating (``explain --json`` without ``effective``,
    ``previous`` and ``bills``, which the caller adds)."""
    m = parse_month(month)
    facts = _facts(row, m, policy)
    rated = row["reason"] is None
    n = facts["window_months"]
    doc: dict[str, Any] = {
        "subscriber_id": row["subscriber_id"], "customer_id": row["customer_id"],
        "month": month, "region": row["region"], "partition": row["partition"],
        "rated": rated, "reason": row["reason"],
        "reason_text": None if rated else sc.reason_text(row["reason"], policy.rating),
        "tenure_months": row["tenure_months"],
        # A future joiner has no window yet (it would start after it ends).
        "window": None if n <= 0 else {
            "first": month_text(facts["window_start"]), "last": month_text(m - 1),
            "months": n, "rows": row["window_rows"], "sum_fen": row["window_fen"]},
        "arpu": None, "tenure_band": None, "score": None, "tier": row["tier"],
        "thresholds": partition["thresholds"] if partition else [], "next_tier": None,
    }
    if not rated:
        return doc
    doc["arpu"] = {"sum_fen": row["window_fen"], "months": n,
                   "exact": quotient_text(row["window_fen"], 100 * n),
                   "rounded": facts["arpu"], "rule": "half away from zero (四舍五入)"}
    band = policy.rating.tenure_bands[facts["band"]]
    doc["tenure_band"] = {"from": band.first, "to": band.last,
                          "coefficient": _hundredths(band.coefficient_x100)}
    doc["score"] = {"arpu_score": max(facts["arpu"], 0),
                    "coefficient": _hundredths(facts["coefficient_x100"]),
                    "score": _hundredths(facts["score_x100"])}
    above = [t for t in doc["thresholds"]
             if row["tier"] is not None and t["tier"] == row["tier"] + 1]
    if above:
        needed = _needed(above[0]["rounded"], facts["coefficient_x100"])
        doc["next_tier"] = {"tier": above[0]["tier"], "cut_point": above[0]["rounded"],
                            "arpu_needed": needed, "arpu_increase": needed - facts["arpu"]}
    return doc


def change(previous: pl.DataFrame, current: pl.DataFrame, doc_previous: dict[str, Any],
           doc_current: dict[str, Any]) -> dict[str, Any]:
    """What changed for one line since an earlier month, with tiering.insight.diff's reason
    (one-line frames of tiering.insight.stored.month_with_service's columns)."""
    both = pairs(previous, current)
    why = both.select(move_reason(doc_previous, doc_current).cast(pl.String)).item()
    shown = ["tier", "effective_tier", "score", "arpu_yuan", "coefficient", "tenure_months",
             "window_months", "reason"]

    def text(frame: pl.DataFrame) -> dict[str, Any]:
        row = frame.select(shown).row(0, named=True)
        return {k: f"{v:.2f}" if isinstance(v, Decimal) else v for k, v in row.items()}

    return {"month": doc_previous["month"], "move_reason": why,
            "then": text(previous), "now": text(current)}


def bills_by_month(bills: pl.DataFrame, window_first: str, window_last: str) -> list[dict[str, Any]]:
    """A line's bills summed per month of its window (``bills``: month index, fen, rows),
    a month without a row as 0."""
    lo, hi = parse_month(window_first), parse_month(window_last)
    by_month = {r["month"]: r for r in bills.iter_rows(named=True)}
    out = []
    for month in range(lo, hi + 1):  # at most twelve months
        r = by_month.get(month, {"fen": 0, "rows": 0})
        out.append({"month": month_text(month), "sum_fen": r["fen"],
                    "amount_yuan": _hundredths(r["fen"]), "rows": r["rows"]})
    return out
