"""The Spark engine against the embedded one: every column of every line equal, and the
same cut points, tier counts, counts and rejections (issue 13).

Selected with ``-m spark``. One local[2] session serves the whole test session; fixtures
are small, so the cost is Spark's start-up and a few jobs per case. Skipped only where
pyspark is not installed and CI is not set (``.ci/run`` sets it, so CI never skips them).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
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
        "spark.ui.enabled": "false", "spark.driver.memory": "1g",
        # Compiling generated code costs more than it saves on a few thousand rows: every
        # expression is interpreted, and no stage is re-planned at run time.
        "spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false"})
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


def _policy(tmp_path: Path, **changes: str):
    """The shipped policy with some [rating] lines changed (``key = value`` as TOML)."""
    text = (ROOT / "tiering" / "data" / "default_policy.toml").read_text()
    for key, value in changes.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(f"{key} =")
                 or ln.startswith(f"# {key} =")]
        text = text.replace(lines[0], f"{key} = {value}")
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return load_policy(path)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated extract (refunds, itemised rows, rows outside the window), with
    customers of several lines and regions of mixed case and spacing so that per-region thresholds see
    'North' and ' north' as one region."""
    from fixtures.generate import generate

    out = tmp_path_factory.mktemp("generated")
    subs, bill = generate(3_000, out, month=MONTH, seed=11, fmt="parquet")
    frame = pl.read_parquet(subs)
    n = frame.height
    row = pl.int_range(n)
    frame = frame.with_columns(
        region=pl.when(row % 3 == 0).then(pl.col("region").str.to_uppercase()).when(
            row % 3 == 1).then(pl.lit(" ") + pl.col("region")).otherwise(pl.col("region")),
        # Families: the first 600 lines in customers of three (random ids rarely share one).
        customer_id=pl.when(row < 600).then(pl.format("F{}", row // 3)).otherwise(
            pl.col("customer_id")))
    frame.write_parquet(subs)
    return out


def test_generated_extract(spark: SparkSession, generated: Path) -> None:
    got = assert_same(spark, generated / "billing.parquet", generated / "subscribers.parquet")
    assert got.counts["rated"] > 2_000 and got.counts["outside_window_rows"] > 0
    lines = _spark_lines(got)
    families = lines.filter(pl.col("customer_id").str.starts_with("F"))
    assert families.group_by("customer_id").agg(pl.col("tier").n_unique())["tier"].max() > 1


def test_per_region_thresholds_and_fixed_thresholds(spark: SparkSession, generated: Path,
                                                    tmp_path: Path) -> None:
    by_region = _policy(tmp_path, thresholds_by_region="true", shares="[10, 10, 20, 30, 30]",
                        round_to="5")
    got = assert_same(spark, generated / "billing.parquet", generated / "subscribers.parquet",
                      policy=by_region)
    assert [p.partition for p in got.partitions] == ["centre", "east", "north", "south", "west"]
    fixed = _policy(tmp_path, fixed_thresholds="[260, 140, 90, 30]")
    assert_same(spark, generated / "billing.parquet", generated / "subscribers.parquet",
                policy=fixed)


def test_typed_columns(spark: SparkSession, tmp_path: Path) -> None:
    """Integer ids, dates, integer months (202611), a date month, floats on the fen,
    booleans, and integer fen with amount_unit='fen'."""
    subs = pl.DataFrame({
        "subscriber_id": [11, 12, 13, 14],
        "join_date": [date(2020, 1, 5), date(2026, 3, 1), date(2015, 6, 30),
                      date(2024, 2, 29)],
        "status": ["ACTIVE ", "active", "active", "Active"],
        "customer_id": ["K1", "K1", None, " "],
        "billed_in_month": [True, None, True, False],
    })
    subs.write_parquet(tmp_path / "subs.parquet")
    bill = pl.DataFrame({
        "subscriber_id": [11, 11, 12, 13, 99, 14, 11, 13],
        "bill_month": [202512, 202601, 202610, 202611, 202601, 202603, 202510, 202605],
        "amount": [1050.5, 20.25, 99.99, 7.0, 1.0, -3.5, 500.0, 0.125 * 4],
    })
    bill.write_parquet(tmp_path / "bill_int_float.parquet")
    assert_same(spark, tmp_path / "bill_int_float.parquet", tmp_path / "subs.parquet")
    dated = bill.with_columns(
        bill_month=pl.date(pl.col("bill_month") // 100, pl.col("bill_month") % 100, 15),
        amount=(pl.col("amount") * 100).round().cast(pl.Int64))
    dated.write_parquet(tmp_path / "bill_date_fen.parquet")
    assert_same(spark, tmp_path / "bill_date_fen.parquet", tmp_path / "subs.parquet",
                amount_unit="fen")


def test_unknown_ids_rows_outside_the_window_and_early_bills(spark: SparkSession,
                                                           tmp_path: Path) -> None:
    (tmp_path / "subs.csv").write_text(
        "subscriber_id,join_date,status,line_type,region,billed_in_month\n"
        "0138,2026-02-10, active ,PERSONAL,N,Y\n"
        "138,2025-01-01,active,,n ,0\n"
        "139,2026-04-01,active,personal,,t\n"
        "140,2024-01-05,inactive,personal,S,\n")
    (tmp_path / "bill.csv").write_text(
        "subscriber_id,bill_month,amount\n"
        "0138,2025-12,10.00\n0138,2026-03,20.10\n0138,202605,-5.5\n138,202610,1.01\n"
        "138,2026-10-31,2.50\n139,2026-01,100\n139,2026-10,50.50\n"
        "77,2026-10,1.00\n140,2026-11,3\n")
    got = assert_same(spark, tmp_path / "bill.csv", tmp_path / "subs.csv")
    assert got.counts["unknown_subscriber_rows"] == 1
    assert got.counts["outside_window_rows"] == 3  # 0138 2025-12 and 139 2026-01: early


def _rejected(spark: SparkSession, tmp_path: Path, *, subs: str, bill: str) -> str:
    """Both engines reject; return the Spark engine's message. Each case has its own
    directory: Spark may remember a path's listing within a session."""
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))
    (tmp_path / "subs.csv").write_text(subs)
    (tmp_path / "bill.csv").write_text(bill)
    with pytest.raises(InputError):
        tiering.rate(MONTH, tmp_path / "bill.csv", tmp_path / "subs.csv")
    with pytest.raises(InputError) as caught:
        ts.rate(spark, MONTH, ts.read(spark, str(tmp_path / "bill.csv"), "billing"),
                ts.read(spark, str(tmp_path / "subs.csv"), "subscribers"))
    return str(caught.value)


SUBS = ("subscriber_id,join_date,status\n"
        "A1,2020-01-15,active\nA2,2021-03-02,active\nA3,2019-07-30,active\n")
BILL = ("subscriber_id,bill_month,amount\n"
        "A1,2026-01,10.00\nA2,2026-02,20.50\nA3,2026-03,30\n")


def test_missing_column(spark: SparkSession, tmp_path: Path) -> None:
    out = _rejected(spark, tmp_path, subs=SUBS, bill=BILL.replace("amount", "amt"))
    assert "bill.csv" in out and "missing column 'amount'" in out


def test_bad_billing_values_are_counted_per_column(spark: SparkSession, tmp_path: Path) -> None:
    bill = BILL + "A1,2026-13,1.00\nA2,2026-04,10.005\nA2,2026-05,NaN\nA3,2026-06,inf\n" \
                  "A3,2026-07,1e3\n"
    out = _rejected(spark, tmp_path, subs=SUBS, bill=bill)
    assert "/bill.csv: 1 row, column 'bill_month'" in out and "'2026-13'" in out
    assert "4 rows, column 'amount': not an amount in yuan with at most 2 decimals" in out
    assert "'10.005', 'NaN', 'inf', '1e3'" in out


def test_bad_subscriber_values_and_duplicates(spark: SparkSession, tmp_path: Path) -> None:
    out = _rejected(spark, tmp_path, subs=SUBS.replace("2021-03-02", "03/02/2021"), bill=BILL)
    assert "1 row, column 'join_date': not a date (YYYY-MM-DD); first: '03/02/2021'" in out
    out = _rejected(spark, tmp_path, subs=SUBS + "A2,2022-02-02,active\n", bill=BILL)
    assert "2 rows, column 'subscriber_id': duplicate subscriber" in out


def test_empty_and_out_of_window_billing(spark: SparkSession, tmp_path: Path) -> None:
    out = _rejected(spark, tmp_path, subs=SUBS, bill="subscriber_id,bill_month,amount\n")
    assert "no rows (empty input)" in out
    out = _rejected(spark, tmp_path, subs=SUBS, bill=BILL.replace("2026-0", "2024-0"))
    assert "none of its 3 rows falls in the ARPU window" in out


def _cli(*args: str):
    from click.testing import CliRunner

    from tiering.cli import main

    return CliRunner().invoke(main, ["run", "--month", MONTH, *args])


def test_cli_writes_the_month_as_a_parquet_directory(spark: SparkSession, tmp_path: Path
                                                     ) -> None:
    small = FIXTURES / "small"
    inputs = ["--billing", str(small / "billing.csv"), "--subscribers",
              str(small / "subscribers.csv"), "--overrides", str(small / "overrides.csv")]
    out = tmp_path / "tiers"
    done = _cli(*inputs, "--engine", "spark", "--out", str(out), "--json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    embedded = _cli(*inputs, "--store", str(tmp_path / "t.duckdb"), "--json")
    assert embedded.exit_code == 0, embedded.output
    want = json.loads(embedded.output)
    assert doc["partitions"] == want["partitions"] and doc["counts"] == want["counts"]
    written = pl.read_parquet(out / "part-*.parquet")
    rated = tiering.rate(MONTH, small / "billing.csv", small / "subscribers.csv",
                         overrides=small / "overrides.csv")
    assert _lines(written) == _lines(rated.lines)
    sidecar = json.loads((out / ts.SIDECAR).read_text())
    assert sidecar["month"] == MONTH and sidecar["partitions"] == want["partitions"]
    assert pl.read_parquet(out / ts.OVERRIDES_FILE).equals(rated.overrides)
    # A second run replaces the directory; a failing one leaves it as it was.
    assert _cli(*inputs, "--engine", "spark", "--out", str(out)).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text("subscriber_id,bill_month,amount\n13800000001,2026-10,1.001\n")
    failed = _cli("--billing", str(bad), "--subscribers", str(small / "subscribers.csv"),
                  "--engine", "spark", "--out", str(out))
    assert failed.exit_code == 2 and "column 'amount'" in failed.output
    assert sorted(p.name for p in out.iterdir()) == before
    assert not (tmp_path / "new").exists()
    # Into the store: the embedded look-ups answer from what Spark wrote.
    stored = tmp_path / "spark.duckdb"
    assert _cli(*inputs, "--engine", "spark", "--store", str(stored)).exit_code == 0
    from tiering.store import Store

    ids = rated.lines["subscriber_id"].to_list()
    _, _, got_rows = Store(stored).lines(ids, at=date(2026, 11, 15))
    _, _, want_rows = Store(tmp_path / "t.duckdb").lines(ids, at=date(2026, 11, 15))
    assert got_rows == want_rows
    assert Store(stored).thresholds(MONTH) == Store(tmp_path / "t.duckdb").thresholds(MONTH)
    # The run record fingerprints the local inputs as the embedded engine's does.
    assert (Store(stored).run_record(MONTH)["inputs"]
            == Store(tmp_path / "t.duckdb").run_record(MONTH)["inputs"])


def test_the_plain_pyspark_bench_anchor_agrees(spark: SparkSession, generated: Path,
                                               tmp_path: Path) -> None:
    """The bench's plain PySpark job (its Spark anchor) rates as the engines do: the same
    rated lines, cut points and tier counts."""
    import sys

    sys.path.insert(0, str(ROOT))  # bench/ is not installed: it runs from the checkout
    from bench.agreement import differences, from_anchor, from_engine
    from bench.plain_spark import rate as plain_rate
    from tiering.thresholds import document

    billing, subs = generated / "billing.parquet", generated / "subscribers.parquet"
    doc = plain_rate(spark, MONTH, str(billing), str(subs), str(tmp_path / "plain"))
    want = tiering.rate(MONTH, billing, subs)
    engine = from_engine({"partitions": document(want.partitions)})
    assert engine.rated > 2_000 and len(engine.cuts) == 4
    assert differences(engine, from_anchor(doc), "plain PySpark") == []
