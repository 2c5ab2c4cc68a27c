"""The monthly rating (SPEC sections 2-5) as a plain PySpark job, written the way a data
engineer would write it instead of using ``tiering``: the Spark bench's anchor (issue 13),
beside the DuckDB one in ``anchor.sql`` and computing the same thing (the same scores, cut
points and tiers, checked by the bench's agreement check). Join, the per-line ARPU window,
group, the count per distinct score collected to the driver, nearest-rank cut points there,
tiers on the cluster, Parquet out. Exact integers throughout: money in fen, scores in
hundredths of a point; ANSI mode on (Spark 4's default), so an overflow fails the job.

Nothing of ``tiering`` is used but the session's master and driver memory (the engine's own
defaults for local mode), so the two Spark contenders run on the same resources.
"""

from __future__ import annotations

import json
from typing import Any

SHARES = ((5, 5), (4, 15), (3, 30), (2, 70))  # tier, cumulative percent of the rated lines
BANDS = ((121, 150), (61, 140), (37, 130), (25, 120), (13, 110))  # tenure from -> coefficient


def main(master: str, month: str, billing: str, subscribers: str, out: str) -> dict[str, Any]:
    """The bench child: a session of its own, the job, the stop."""
    from pyspark.sql import SparkSession

    from tiering.spark import local_defaults

    builder = SparkSession.builder.master(master).appName("plain-pyspark").config(
        "spark.sql.ansi.enabled", "true").config("spark.ui.showConsoleProgress", "false")
    for key, value in local_defaults(master).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        return rate(spark, month, billing, subscribers, out)
    finally:
        spark.stop()


def rate(spark: Any, month: str, billing: str, subscribers: str, out: str) -> dict[str, Any]:
    """The job in ``spark``; returns what ``anchor.sql`` returns (rated lines, cut points,
    tier counts read back from ``out``)."""
    from pyspark.sql import functions as F

    year, mon = map(int, month.split("-"))
    m = year * 12 + mon - 1

    def month_index(text: str) -> Any:
        return (F.substring(text, 1, 4).cast("int") * 12
                + F.substring(text, 6, 2).cast("int") - 1)

    subs = spark.read.parquet(subscribers).select(
        "subscriber_id", month_index("join_date").alias("join_month"),
        "status", "line_type", "billed_in_month")
    subs = subs.select(
        "subscriber_id", (F.lit(m) - F.col("join_month") + 1).alias("tenure"),
        F.greatest("join_month", F.lit(m - 12)).alias("window_start"),
        ((F.lower(F.trim("status")) == "active")
         & F.coalesce(F.lower(F.trim("line_type")), F.lit("")).isin("", "personal")
         & F.coalesce(F.lower(F.trim("billed_in_month")), F.lit("")).isin(
             "", "true", "t", "yes", "y", "1")).alias("flags_ok"))
    bills = spark.read.parquet(billing).select(
        "subscriber_id", month_index("bill_month").alias("bill_month"),
        (F.col("amount") * 100).cast("bigint").alias("fen"))
    # A young line's window starts at its join month, so the window is per line.
    billed = bills.join(subs.select("subscriber_id", "window_start"), "subscriber_id").where(
        F.col("bill_month").between(F.col("window_start"), F.lit(m - 1))).groupBy(
        "subscriber_id").agg(F.sum("fen").alias("fen"))
    # Months without a row count 0: divide by the window length; half away from zero on
    # the magnitude (integer division truncates).
    magnitude = F.expr(f"(abs(fen) * 2 + 100 * ({m} - window_start)) "
                       f"div (200 * ({m} - window_start))")
    arpu = F.when(F.col("fen") < 0, -magnitude).otherwise(magnitude)
    coefficient = F.lit(100)
    for start, c in reversed(BANDS):
        coefficient = F.when(F.col("tenure") >= start, c).otherwise(coefficient)
    rated = subs.where((F.col("tenure") >= 7) & F.col("flags_ok")).join(
        billed, "subscriber_id").select(
        "subscriber_id",
        (F.greatest(arpu, F.lit(0)) * coefficient).cast("bigint").alias("score_x100"))
    scored = subs.select("subscriber_id").join(rated, "subscriber_id", "left").cache()

    histogram = sorted(scored.where(F.col("score_x100").isNotNull()).groupBy(
        "score_x100").count().collect(), reverse=True)
    n = sum(r["count"] for r in histogram)
    cuts, seen, i = [], 0, 0
    for tier, pct in SHARES:
        rank = (pct * n + 99) // 100  # ceil(p * N)
        while i < len(histogram) and seen + histogram[i]["count"] < rank:
            seen += histogram[i]["count"]
            i += 1
        if rank and i < len(histogram):
            raw = histogram[i]["score_x100"]
            cuts.append({"tier": tier, "rank": rank, "raw_x100": raw,
                         "rounded": 10 * ((raw + 500) // 1000)})
    tier = F.lit(1)
    for cut in cuts:
        tier = tier + (F.col("score_x100") >= 100 * cut["rounded"]).cast("int")
    scored.select("subscriber_id", "score_x100", F.when(
        F.col("score_x100").isNotNull() & F.lit(bool(cuts)), tier).alias("tier")).write.parquet(
        out)
    tiers = spark.read.parquet(out).where(F.col("tier").isNotNull()).groupBy(
        "tier").count().collect()
    return {"rated": n, "thresholds": cuts, "tiers": {str(r["tier"]): r["count"]
                                                      for r in tiers}}


if __name__ == "__main__":
    import sys

    print(json.dumps(main(*sys.argv[1:])))
