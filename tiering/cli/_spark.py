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
              master: str, conf: Mapping[str, str], out: str | None, store_path: str,
              as_json: bool) -> None:
    """Rate on Spark and write the month to ``out`` (a Parquet directory) or, without it,
    into the store at ``store_path`` (Spark writes the month's Parquet files, the store
    moves them in: ``Store.write_month_files``)."""
    from tiering.store import Store

    store = None if out is not None else Store(store_path)
    if store is not None:
        store.check_writable()  # a bad store fails now, not after the rating
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
        if store is None:
            result.write_parquet(str(out), policy, __version__)
        else:
            ts.write_store(result, store, __version__)
        timings = {"spark_session": session_s, **result.timings,
                   "write": round(time.perf_counter() - write_started, 3)}
    finally:
        if own:
            spark.stop()
    elapsed = round(time.perf_counter() - started, 3)
    doc = {"month": result.month, "partitions": document(result.partitions)}
    if as_json:
        print_json({"month": result.month, "engine": "spark", "out": out or store_path,
                    "counts": result.counts, "unrated": result.unrated, "seconds": elapsed,
                    "timings": timings, **doc})
        return
    click.echo(f"rated month {result.month} on Spark ({master}) into {out or store_path} in {elapsed:.1f} s "
               f"(session start {session_s:.1f} s)")
    _echo_counts(result.counts, result.unrated, policy)
    _echo_thresholds(doc)
