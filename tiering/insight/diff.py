"""Month-to-month migration: who moved between two rated months, and why.

Pure functions over two months' lines (``Store.month_lines`` plus ``effective_tier`` and
``base_tier``, see tiering.insight.stored) and their thresholds documents. Everything is a
polars expression over all lines at once: a month holds millions of lines.

Why a line moved (docs/rules.md, "Month to month"): a line present in both months moved when
its own tier changed, or when its effective tier changed and an override sets it in one of
the months. The reason is the first that explains the move, in the order of MOVE_REASONS:

- ``arpu``: rated in both months, and the new ARPU under the old coefficient and the old cut
  points already gives a tier other than the old one;
- ``tenure_band``: not arpu, and the new ARPU under the new coefficient (the new score)
  under the old cut points gives another tier;
- ``cut_point``: not those: the new score keeps the old tier under the old cut points, the
  new cut points (or partition) move it;
- ``eligibility``: rated in one month and unrated in the other (arpu, tenure_band and
  cut_point need a score in both months, so this is the first reason that can explain it);
- ``override``: the own tier did not change, the effective tier did, and in at least one of
  the months an override sets it (it is above the tier the line's own and its customer's
  lines give). A line whose effective tier moved only because another line of its customer
  moved is not listed: that line is, under its own id.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tiering import score as sc
from tiering.thresholds import tier_expr

MOVE_REASONS = ("arpu", "tenure_band", "cut_point", "eligibility", "override")
MOVE_REASON_TYPE = pl.Enum(MOVE_REASONS)
# The columns of a month a comparison reads (effective_tier and base_tier added by
# tiering.insight.stored).
COMPARED = ("tier", "reason", "arpu_yuan", "coefficient_x100", "score_x100", "score",
            "coefficient", "partition", "effective_tier", "base_tier")
# Column order of the file of moved lines (``diff --out``).
MOVED_COLUMNS = ("subscriber_id", "customer_id", "move_reason", "from_tier", "to_tier",
                 "from_effective_tier", "to_effective_tier", "from_score", "to_score",
                 "from_arpu_yuan", "to_arpu_yuan", "from_coefficient", "to_coefficient",
                 "from_partition", "to_partition", "from_unrated_reason", "to_unrated_reason")


def base_tier(unrated_service_tier: int) -> pl.Expr:
    """The service tier without overrides: the own tier or the customer's best line, the
    higher, else the unrated service tier (highest applies, SPEC 5, less the overrides)."""
    return pl.coalesce(pl.max_horizontal("tier", "customer_tier"),
                       pl.lit(unrated_service_tier)).cast(pl.Int8)


def pairs(before: pl.DataFrame, after: pl.DataFrame, columns: tuple[str, ...] = COMPARED
          ) -> pl.DataFrame:
    """The lines of both months, one row each: ``from_<column>`` and ``to_<column>``."""
    def side(frame: pl.DataFrame, prefix: str, extra: tuple[str, ...]) -> pl.DataFrame:
        return frame.select("subscriber_id", *extra,
                            *(pl.col(c).alias(f"{prefix}_{c}") for c in columns))

    return side(before, "from", ()).join(side(after, "to", ("customer_id",)),
                                         on="subscriber_id", how="inner")


def new_and_gone(before: pl.DataFrame, after: pl.DataFrame) -> tuple[int, int]:
    """Lines only in the later month, lines only in the earlier one."""
    ids_before, ids_after = before.select("subscriber_id"), after.select("subscriber_id")
    return (ids_after.join(ids_before, on="subscriber_id", how="anti").height,
            ids_before.join(ids_after, on="subscriber_id", how="anti").height)


def matrix(pairs_: pl.DataFrame, tiers: int) -> list[dict[str, Any]]:
    """Every cell of (tier then) x (tier now), top tier first and unrated (null) last in
    both directions, zero cells included: the same shape whatever moved."""
    counts = {(f, t): n for f, t, n in pairs_.group_by("from_tier", "to_tier").len().iter_rows()}
    axis: list[int | None] = [*range(tiers, 0, -1), None]
    return [{"from_tier": f, "to_tier": t, "count": counts.get((f, t), 0)}
            for f in axis for t in axis]


def moves(pairs_: pl.DataFrame) -> dict[str, int]:
    """Counts of lines of both months: up, down, unchanged (same tier, or unrated in both),
    rated (unrated then, a tier now), unrated (a tier then, unrated now)."""
    f, t = pl.col("from_tier"), pl.col("to_tier")
    row = pairs_.select(
        up=(t > f).sum(), down=(t < f).sum(), unchanged=f.eq_missing(t).sum(),
        rated=(f.is_null() & t.is_not_null()).sum(),
        unrated=(f.is_not_null() & t.is_null()).sum()).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


def bounds(doc: dict[str, Any], partition: pl.Expr) -> list[pl.Expr]:
    """A month's rounded cut points (points, top boundary first) for each line's partition,
    as expressions (null where the partition has none: a month with no rated line)."""
    parts = doc["partitions"]
    n = max((len(p["thresholds"]) for p in parts), default=0)
    return [partition.replace_strict(
        {p["partition"]: p["thresholds"][i]["rounded"] if p["thresholds"] else None
         for p in parts}, default=None, return_dtype=pl.Int64) for i in range(n)]


def tier_under(score_x100: pl.Expr, cut: list[pl.Expr]) -> pl.Expr:
    """The tier a score gets under some cut points (tiering.thresholds.tier_expr); null
    where there are none."""
    if not cut:
        return pl.lit(None, dtype=pl.Int8)
    return pl.when(cut[0].is_not_null()).then(tier_expr(score_x100, cut))


def move_reason(doc_from: dict[str, Any], doc_to: dict[str, Any]) -> pl.Expr:
    """Why each line of :func:`pairs` moved (null: it did not), per the module's rules."""
    def col(side: str, name: str) -> pl.Expr:
        return pl.col(f"{side}_{name}")

    old_cuts = bounds(doc_from, col("from", "partition"))
    own_moved = col("from", "tier").ne_missing(col("to", "tier"))
    rated_both = col("from", "reason").is_null() & col("to", "reason").is_null()
    new_arpu = sc.score_x100(col("to", "arpu_yuan"), col("from", "coefficient_x100"))
    new_score = col("to", "score_x100")
    overridden = (col("from", "effective_tier").ne_missing(col("from", "base_tier"))
                  | col("to", "effective_tier").ne_missing(col("to", "base_tier")))
    effective_moved = col("from", "effective_tier").ne_missing(col("to", "effective_tier"))

    def because(code: str) -> pl.Expr:
        return pl.lit(code, dtype=MOVE_REASON_TYPE)

    return (pl.when(own_moved & ~rated_both).then(because("eligibility"))
            .when(own_moved & tier_under(new_arpu, old_cuts).ne_missing(col("from", "tier")))
            .then(because("arpu"))
            .when(own_moved & tier_under(new_score, old_cuts).ne_missing(col("from", "tier")))
            .then(because("tenure_band"))
            .when(own_moved).then(because("cut_point"))
            .when(effective_moved & overridden).then(because("override"))
            .otherwise(None))


def moved_lines(pairs_: pl.DataFrame, doc_from: dict[str, Any], doc_to: dict[str, Any]
                ) -> pl.DataFrame:
    """Every line that moved, with why (MOVED_COLUMNS), in subscriber id order."""
    return (pairs_.lazy()
            .with_columns(move_reason=move_reason(doc_from, doc_to))
            .filter(pl.col("move_reason").is_not_null())
            .rename({"from_reason": "from_unrated_reason", "to_reason": "to_unrated_reason"})
            .select(MOVED_COLUMNS)
            .sort("subscriber_id")
            .collect())


def reason_counts(moved: pl.DataFrame) -> dict[str, int]:
    counts = dict(moved.group_by("move_reason").len().iter_rows())
    return {r: int(counts.get(r, 0)) for r in MOVE_REASONS}


def compare(before: pl.DataFrame, after: pl.DataFrame, doc_from: dict[str, Any],
            doc_to: dict[str, Any], tiers: int) -> tuple[dict[str, Any], pl.DataFrame]:
    """The ``diff --json`` document and the moved lines."""
    both = pairs(before, after)
    moved = moved_lines(both, doc_from, doc_to)
    new, gone = new_and_gone(before, after)
    doc = {
        "from": doc_from["month"], "to": doc_to["month"], "lines_in_both": both.height,
        "matrix": matrix(both, tiers), "moves": moves(both), "new": new, "gone": gone,
        "moved": moved.height, "reasons": reason_counts(moved),
        "thresholds": {"from": doc_from, "to": doc_to},
    }
    return doc, moved
