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

    # An aggregate over each column keeps it in the scan. strlen is a text's stored byte
    # length, so text costs its read and nothing more; max(length(id)) (counting characters)
    # or max(id) (comparing strings) would time string work no rating does, and count(id)
    # is answered from the file's statistics without reading the column at all. Numbers and
    # dates are summed (as days), which costs next to nothing per value: max(column) alone
    # is answered from the file's statistics (0.4 s for 112 M rows, reading nothing).
    con = duckdb.connect()
    types = _types(con, billing)
    reads = ", ".join(
        f"max(strlen({c}))" if types[c] == "VARCHAR" else
        f"sum(epoch({c}))" if types[c] == "DATE" else f"sum({c})"
        for c in ("subscriber_id", "bill_month", "amount"))
    *values, rows = con.execute(f"SELECT {reads}, count(*) FROM read_parquet(?)",
                                [billing]).fetchall()[0]
    return {"rows": rows, "read": [str(v) for v in values]}


def anchor(month: str, billing: str, subscribers: str, out: str) -> dict[str, Any]:
    import duckdb

    year, mon = map(int, month.split("-"))
    con = duckdb.connect()
    types = {**_types(con, subscribers), **_types(con, billing)}
    script = ANCHOR_SQL.read_text().format(
        m=year * 12 + mon - 1, billing=_literal(billing), subscribers=_literal(subscribers),
        out=_literal(out), join_month=_month_index("join_date", types["join_date"]),
        bill_month=_month_index("b.bill_month", types["bill_month"]),
        fen=_fen("b.amount", types["amount"]))
    doc: dict[str, Any] = json.loads(con.execute(script).fetchall()[0][0])
    return doc


def _types(con: Any, path: str) -> dict[str, str]:
    return {name: str(kind) for name, kind, *_ in con.execute(
        "DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()}


def _month_index(col: str, kind: str) -> str:
    """year * 12 + month - 1 of a month or date column, written for its type."""
    if kind == "DATE":
        return f"(year({col}) * 12 + month({col}) - 1)"
    if kind in ("INTEGER", "BIGINT"):  # 202611
        return f"({col} // 100 * 12 + {col} % 100 - 1)"
    return (f"(CAST(left({col}, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER) "
            f"- 1)")


def _fen(col: str, kind: str) -> str:
    if kind == "DOUBLE":
        return f"CAST(round({col} * 100) AS BIGINT)"
    if kind == "VARCHAR":
        return f"CAST(CAST({col} AS DECIMAL(18, 2)) * 100 AS BIGINT)"
    return f"CAST({col} * 100 AS BIGINT)"


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
        # Wall time, and the calling thread's CPU time: on a shared machine a call's wall
        # time includes the slices other processes were given (4 ms and more each), its CPU
        # time only the call's own work (the GC, allocations, the search itself).
        timed = [_both(partial(one, i)) for i in singles]
        latencies = np.array([wall for wall, _ in timed])
        cpu = np.array([on_cpu for _, on_cpu in timed])

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
        "single_lines_cpu_p50_ms": float(np.percentile(cpu, 50) * 1e3),
        "single_lines_cpu_p99_ms": float(np.percentile(cpu, 99) * 1e3),
        "single_lookups": len(singles),
        "batch_ids": len(batch),
        "batch_lines_s": batch_lines,
        "batch_effective_tiers_s": batch_tiers,
        "one_shot_store_lines_p50_ms": float(np.percentile(one_shots, 50) * 1e3),
        "one_shot_lookups": len(one_shots),
    }


def _seconds(fn: Callable[[], None]) -> float:
    return _both(fn)[0]


def _both(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall and thread CPU seconds of one call."""
    start, on_cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - start, time.thread_time() - on_cpu


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


KINDS: dict[str, Callable[..., dict[str, object]]] = {
    "floor": floor, "anchor": anchor, "library": library, "lookup-api": lookup_api,
    "spark-start": spark_start, "plain-spark": plain_spark}


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
