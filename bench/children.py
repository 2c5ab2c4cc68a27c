"""The timed child processes: ``python -m bench.children KIND ARGS...``.

Each prints one JSON document on stdout. Each imports only what it needs, inside its own
function, so a child's time and memory are its contender's and nothing else's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ANCHOR_SQL = Path(__file__).with_name("anchor.sql")
LOOKUP_DATE = "2026-11-15"  # inside the rated month, so a ticket-style look-up finds it


def floor(billing: str) -> dict[str, object]:
    """The cost of reading the input: every needed billing column, nothing computed."""
    import duckdb

    # An aggregate over each column keeps it in the scan. strlen is the stored byte length,
    # so the ids cost their read and nothing more; max(length(id)) (counting characters) or
    # max(id) (comparing strings) would time string work no rating does, and count(id)
    # is answered from the file's statistics without reading the column at all.
    total, rows, id_len, month_len = duckdb.connect().execute(
        "SELECT sum(amount), count(*), max(strlen(subscriber_id)), max(strlen(bill_month)) "
        "FROM read_parquet(?)", [billing]).fetchall()[0]
    return {"rows": rows, "amount": str(total), "max_id_bytes": id_len,
            "max_month_bytes": month_len}


def anchor(month: str, billing: str, subscribers: str, out: str) -> dict[str, Any]:
    import duckdb

    year, mon = map(int, month.split("-"))
    script = ANCHOR_SQL.read_text().format(
        m=year * 12 + mon - 1, billing=_literal(billing), subscribers=_literal(subscribers),
        out=_literal(out))
    doc: dict[str, Any] = json.loads(duckdb.connect().execute(script).fetchall()[0][0])
    return doc


def library(month: str, billing: str, subscribers: str) -> dict[str, object]:
    """``tiering.rate`` alone; the tier counts read every row of the result, so nothing the
    call might have left lazy goes unpaid."""
    import tiering

    lines = tiering.rate(month, billing, subscribers).lines
    counts = lines.filter(lines["tier"].is_not_null()).group_by("tier").len()
    tiers = {str(t): n for t, n in counts.iter_rows()}
    return {"rows": lines.height, "rated": sum(tiers.values()), "tiers": tiers}


def spark_start(master: str) -> dict[str, object]:
    """A Spark session as ``tiering run --engine spark`` starts one, one trivial job, and
    the stop: the fixed cost of the Spark engine, whatever the month's size."""
    from tiering.spark import session

    spark = session(master)
    rows = spark.range(1).count()
    spark.stop()
    return {"rows": rows}


def plain_spark(master: str, month: str, billing: str, subscribers: str, out: str
                ) -> dict[str, Any]:
    """The rating as a plain PySpark job (``bench/plain_spark.py``), the Spark anchor."""
    from bench.plain_spark import main

    return main(master, month, billing, subscribers, out)


def lookup_api(store: str, subscribers: str, seed: str) -> dict[str, object]:
    """The embedding API, ``Store.reader()`` (one open connection, reused): single-id
    look-ups and batches of 100,000 ids; and, for comparison, the one-shot ``Store.lines``,
    which opens the file for each call."""
    from datetime import date

    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    import tiering

    ids = pq.read_table(subscribers, columns=["subscriber_id"])["subscriber_id"].to_numpy()
    rng = np.random.default_rng(int(seed))
    singles = [str(i) for i in rng.choice(ids, 1_000)]
    batch = [str(i) for i in rng.choice(ids, 100_000, replace=ids.size < 100_000)]
    on = date.fromisoformat(LOOKUP_DATE)
    db = tiering.Store(store)

    with db.reader() as reader:
        def one(i: str) -> None:
            _, _, rows = reader.lines([i], at=on)
            assert len(rows) == 1, f"look-up of {i} returned {len(rows)} rows"

        one(singles[0])  # the first call pays for imports and the first open of the file
        # The second call of a month builds the reader's in-memory index of it (once per
        # month and file); it is timed on its own, and the latencies are those after it.
        index_build = _seconds(partial(one, singles[1]))
        latencies = np.array([_seconds(partial(one, i)) for i in singles])

        def many_lines() -> None:
            _, _, rows = reader.lines(batch, at=on)
            assert len(rows) == len(set(batch)), f"batch returned {len(rows)} rows"

        def many_tiers() -> None:
            tiers = reader.effective_tiers(pl.Series(batch), pl.Series([on] * len(batch)))
            assert tiers.null_count() == 0, f"{tiers.null_count()} ids not found"

        batch_lines = min(_seconds(many_lines) for _ in range(3))
        batch_tiers = min(_seconds(many_tiers) for _ in range(3))

    def one_shot(i: str) -> None:
        _, _, rows = db.lines([i], at=on)
        assert len(rows) == 1, f"look-up of {i} returned {len(rows)} rows"

    one_shots = np.array([_seconds(partial(one_shot, i)) for i in singles[:50]])
    return {
        "api": "Store.reader()",
        "index_build_s": index_build,
        "single_lines_p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "single_lines_p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "single_lookups": len(singles),
        "batch_ids": len(batch),
        "batch_lines_s": batch_lines,
        "batch_effective_tiers_s": batch_tiers,
        "one_shot_store_lines_p50_ms": float(np.percentile(one_shots, 50) * 1e3),
        "one_shot_lookups": len(one_shots),
    }


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


KINDS: dict[str, Callable[..., dict[str, object]]] = {
    "floor": floor, "anchor": anchor, "library": library, "lookup-api": lookup_api,
    "spark-start": spark_start, "plain-spark": plain_spark}


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
