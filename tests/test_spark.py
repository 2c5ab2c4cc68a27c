"""The Spark engine against the embedded one: every column of every line equal, and the
same cut points, tier counts, counts and rejections (issue 13).

Selected with ``-m spark``. One local[2] session serves the whole test session; fixtures
are small, so the cost is Spark's start-up and a few jobs per case. Skipped only where
pyspark is not installed and CI is not set (``.ci/run`` sets it, so CI never skips them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

import tiering

if not os.environ.get("CI"):
    pytest.importorskip("pyspark", reason="pip install -e '.[spark]' to run the Spark tests")

from pyspark.sql import SparkSession  # noqa: E402

from tiering import spark as ts  # noqa: E402
from tiering.errors import InputError  # noqa: E402
from tiering.policy import load_policy  # noqa: E402

pytestmark = pytest.mark.spark
MONTH = "2026-11"
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    session = ts.session("local[2]", {
        # Tiny inputs: a handful of shuffle partitions, not 200 empty tasks per stage.
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        "spark.ui.enabled": "false", "spark.driver.memory": "1g"})
    yield session
    session.stop()


def _lines(frame: pl.DataFrame) -> list[tuple]:
    """Rows in id order, enum/categorical columns as text: the values, not the encodings."""
    return frame.with_columns(pl.col("reason", "partition").cast(pl.String),
                              pl.col("subscriber_id").cast(pl.String)).sort(
        "subscriber_id").rows()


def _spark_lines(result: ts.SparkRateResult) -> pl.DataFrame:
    frame = pl.from_arrow(result.lines.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def assert_same(spark: SparkSession, billing, subscribers, *, overrides=None, policy=None,
                amount_unit: str = "yuan", month: str = MONTH) -> ts.SparkRateResult:
    """Rate with both engines and compare everything the run produces."""
    want = tiering.rate(month, billing, subscribers, overrides=overrides, policy=policy,
                        amount_unit=amount_unit)
    got = ts.rate(spark, month, ts.read(spark, [str(b) for b in _many(billing)], "billing"),
                  ts.read(spark, str(subscribers), "subscribers"),
                  overrides=None if overrides is None else ts.read(spark, str(overrides),
                                                                   "overrides"),
                  policy=policy, amount_unit=amount_unit)
    mine = _spark_lines(got)
    assert mine.columns == want.lines.columns
    assert _lines(mine) == _lines(want.lines)
    assert got.partitions == want.partitions
    assert got.counts == want.counts
    assert got.unrated == want.unrated
    assert got.overrides.equals(want.overrides)
    return got


def _many(billing) -> list:
    return list(billing) if isinstance(billing, (list, tuple)) else [billing]


@pytest.mark.parametrize("name", ["small", "degenerate"])
def test_hand_checked_fixtures(spark: SparkSession, name: str) -> None:
    fixture = FIXTURES / name
    over = fixture / "overrides.csv"
    assert_same(spark, fixture / "billing.csv", fixture / "subscribers.csv",
                overrides=over if over.exists() else None)
