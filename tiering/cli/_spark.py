"""``tiering run --engine spark``: the monthly rating on a Spark cluster (``tiering.spark``).

Imported only when that engine is asked for, so the plain install never loads pyspark.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import click

from tiering.cli._common import print_json
from tiering.errors import InputError


def run_spark(month: str, billing: Sequence[str], subscribers: str, overrides: str | None,
              policy_path: str | None, amount_unit: str, columns: Mapping[str, str],
              master: str, conf: Mapping[str, str], out: str | None, as_json: bool) -> None:
    """Rate on Spark and write the month to ``out`` (a Parquet directory)."""
    if out is None:
        # The store's month format (a Parquet file set per month) has not landed on main;
        # until it does, Spark writes only what a cluster table points at.
        raise InputError("--engine spark writes the month with --out DIR (a Parquet "
                         "directory); writing into the store is not available yet")
    try:
        from pyspark.sql import SparkSession

        from tiering import spark as ts
    except ImportError:
        raise InputError("--engine spark needs pyspark: pip install 'tiering[spark]' "
                         "(and a Java runtime)") from None
    from tiering import __version__
    from tiering.cli._rating import _echo_counts, _echo_thresholds
    from tiering.policy import load_policy
    from tiering.thresholds import document

    policy = load_policy(policy_path)
    started = time.perf_counter()
    # A session already running in this process (a test's, a notebook's) is used, not
    # stopped; one started here is stopped at the end.
    own = SparkSession.getActiveSession() is None
    spark = ts.session(master, conf)
    session_s = round(time.perf_counter() - started, 3)
    try:
        result = ts.rate(spark, month, ts.read(spark, list(billing), "billing"),
                         ts.read(spark, subscribers, "subscribers"),
                         overrides=ts.read(spark, overrides, "overrides") if overrides else None,
                         policy=policy, amount_unit=amount_unit, columns=columns)
        write_started = time.perf_counter()
        result.write_parquet(out, policy, __version__)
        timings = {"spark_session": session_s, **result.timings,
                   "write": round(time.perf_counter() - write_started, 3)}
    finally:
        if own:
            spark.stop()
    elapsed = round(time.perf_counter() - started, 3)
    doc = {"month": result.month, "partitions": document(result.partitions)}
    if as_json:
        print_json({"month": result.month, "engine": "spark", "out": out,
                    "counts": result.counts, "unrated": result.unrated, "seconds": elapsed,
                    "timings": timings, **doc})
        return
    click.echo(f"rated month {result.month} on Spark ({master}) into {out} in {elapsed:.1f} s "
               f"(session start {session_s:.1f} s)")
    _echo_counts(result.counts, result.unrated)
    _echo_thresholds(doc)
