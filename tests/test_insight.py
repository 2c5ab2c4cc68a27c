"""The pure functions of tiering.insight and the rules they call (tiering.score)."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from tiering import score as sc
from tiering.insight import diff, explain, report
from tiering.policy import load_policy

POLICY = load_policy()


def test_quotient_text_is_exact_or_marked():
    assert explain.quotient_text(149400, 1200) == "124.5"
    assert explain.quotient_text(-3000, 1200) == "-2.5"
    assert explain.quotient_text(220549, 1100) == "200.499091…"
    assert explain.quotient_text(0, 1200) == "0"
    assert explain.quotient_text(120000, 1200) == "100"


@given(st.integers(0, 100_000), st.integers(1, 1_000))
def test_arpu_needed_is_the_least_arpu_that_reaches_the_cut(cut: int, coefficient: int):
    frame = pl.DataFrame({"cut": [cut], "c": [coefficient]})
    needed = frame.select(sc.arpu_needed(pl.col("cut"), pl.col("c"))).item()
    reach = pl.DataFrame({"a": [needed, needed - 1]}).select(
        sc.score_x100(pl.col("a"), pl.lit(coefficient)) >= cut * 100)["a"].to_list()
    assert reach[0] and (needed == 0 or not reach[1])


@given(st.integers(7, 400))
def test_tenure_band_holds_the_coefficient(tenure: int):
    rp = POLICY.rating
    band, coef = pl.DataFrame({"t": [tenure]}).select(
        sc.tenure_band(pl.col("t"), rp), sc.coefficient_x100(pl.col("t"), rp).alias("c")).row(0)
    assert rp.tenure_bands[band].coefficient_x100 == coef == rp.coefficient_x100(tenure)


def _doc(month: str, cuts: list[int]) -> dict:
    return {"month": month, "partitions": [{"partition": "all", "rated": 0, "tiers": [],
            "thresholds": [{"tier": 5 - i, "rounded": c} for i, c in enumerate(cuts)]}]}


def _month(rows: list[dict]) -> pl.DataFrame:
    base = {"customer_id": None, "reason": None, "partition": "all", "score": None,
            "coefficient": None}
    frame = pl.DataFrame([base | r for r in rows], schema_overrides={
        "tier": pl.Int8, "reason": pl.String, "customer_id": pl.String,
        "arpu_yuan": pl.Int64, "coefficient_x100": pl.Int64, "score_x100": pl.Int64,
        "effective_tier": pl.Int8, "base_tier": pl.Int8})
    return frame


def line(sid: str, tier: int | None, arpu: int | None, coef: int | None, *,
         reason: str | None = None, effective: int | None = None) -> dict:
    score = None if arpu is None else max(arpu, 0) * coef
    base = tier or 1
    return {"subscriber_id": sid, "tier": tier, "arpu_yuan": arpu, "coefficient_x100": coef,
            "score_x100": score, "reason": reason, "effective_tier": effective or base,
            "base_tier": base}


def test_move_reasons_in_order():
    old_cuts, new_cuts = _doc("2026-10", [300, 200, 100, 50]), _doc("2026-11", [250, 150, 80, 40])
    before = _month([
        line("arpu", 2, 60, 100),            # 60 -> 120 points: 3-star under the old cuts
        line("band", 2, 90, 100),            # 90 x 1.00 -> 90 x 1.20 = 108: 3-star, old cuts
        line("both", 2, 90, 100),            # ARPU alone moves it: arpu comes first
        line("cut", 2, 90, 100),             # same score; 90 >= 80 now
        line("elig", None, None, None, reason="new"),
        line("override", 1, 10, 100, effective=5),
        line("customer", 1, 10, 100, effective=3),
        line("same", 3, 120, 100),
        line("gone", 1, 10, 100),
    ]).with_columns(base_tier=pl.when(pl.col("subscriber_id") == "customer")
                    .then(pl.lit(3, pl.Int8)).otherwise("base_tier"))
    after = _month([
        line("arpu", 3, 120, 100), line("band", 3, 90, 120), line("both", 4, 160, 120),
        line("cut", 3, 90, 100), line("elig", 2, 50, 100), line("override", 1, 10, 100),
        line("customer", 1, 10, 100, effective=4), line("same", 3, 120, 100),
        line("new", 1, 10, 100),
    ]).with_columns(base_tier=pl.when(pl.col("subscriber_id") == "customer")
                    .then(pl.lit(4, pl.Int8)).otherwise("base_tier"))
    doc, moved = diff.compare(before, after, old_cuts, new_cuts, 5)
    assert dict(moved.select("subscriber_id", pl.col("move_reason").cast(pl.String)).rows()) == {
        "arpu": "arpu", "band": "tenure_band", "both": "arpu", "cut": "cut_point",
        "elig": "eligibility", "override": "override"}
    assert (doc["new"], doc["gone"], doc["lines_in_both"]) == (1, 1, 8)
    assert len(doc["matrix"]) == 36 and sum(c["count"] for c in doc["matrix"]) == 8


def test_histogram_counts_every_rated_line_and_keeps_outliers_in_the_last_bar():
    scores = list(range(0, 100_000, 100)) + [50_000_000]  # 0..999.00 points and one huge
    lines = pl.DataFrame({"partition": "all", "score_x100": scores, "tier": 1},
                         schema_overrides={"tier": pl.Int8})
    (h,) = report.histogram(lines, 10)
    assert sum(b["count"] for b in h["bins"]) == len(scores)
    assert h["width"] % 10 == 0 and len(h["bins"]) <= report.HISTOGRAM_BINS + 1
    assert h["bins"][-1]["from"] == report.HISTOGRAM_BINS * h["width"]


def test_report_draws_cut_points_per_region_when_split():
    parts = [{"partition": name, "rated": 2,
              "thresholds": [{"tier": 2, "rounded": cut, "raw": f"{cut}.00"}],
              "tiers": [{"tier": 2, "count": 1, "nominal_share": 50, "realised_share": 50.0},
                        {"tier": 1, "count": 1, "nominal_share": 50, "realised_share": 50.0}]}
             for name, cut in (("gz", 100), ("sz", 80))]
    lines = pl.DataFrame({"partition": ["gz", "gz", "sz", "sz"],
                          "score_x100": [5_000, 15_000, 4_000, 9_000], "tier": [1, 2, 1, 2],
                          "reason": [None] * 4},
                         schema_overrides={"tier": pl.Int8, "reason": pl.String})
    data = report.report_data(lines, {"month": "2026-11", "partitions": parts},
                              {"run_at": __import__("datetime").datetime(2026, 12, 1),
                               "version": "0", "policy_fingerprint": "f" * 64,
                               "unrated": {"new": 0}}, 10, 2, None)
    titles = [title for title, _ in report.figures(data)]
    assert titles == ["Score distribution and cut points: gz",
                      "Score distribution and cut points: sz",
                      "Tier shares: nominal vs realised", "Unrated lines by reason",
                      "Cut points per region"]
    page = report.render(data)
    assert page.count("Plotly.newPlot") == 5 and "<script src" not in page
