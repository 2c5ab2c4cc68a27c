"""``bench lookup``: the CLI look-up against a bare DuckDB process, and the in-process API."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bench.extract import MONTH, Extract
from bench.measure import alternate, run_child
from bench.rating import child, tiering_command

CLI_ROUNDS = 5
LOOKUP, BARE = "tiering lookup", "python -c 'import duckdb'"


@contextmanager
def store_for(extract: Extract, given: Path | None) -> Iterator[Path]:
    """The given store, or a fresh one rated from the extract (not timed)."""
    if given is not None:
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="tiering-bench-") as scratch:
        store = Path(scratch) / "store.duckdb"
        run_child([*tiering_command(), "run", "--month", MONTH, "--billing", str(extract.billing),
                   "--subscribers", str(extract.subscribers), "--store", str(store)])
        yield store


def some_id(extract: Extract, seed: int) -> str:
    ids = pq.read_table(extract.subscribers, columns=["subscriber_id"])["subscriber_id"]
    return str(ids[int(np.random.default_rng(seed).integers(len(ids)))])


def measure(extract: Extract, store: Path, seed: int) -> dict[str, Any]:
    sid = some_id(extract, seed)
    cli = alternate([
        (LOOKUP, lambda r: [*tiering_command(), "lookup", sid, "--store", str(store)]),
        (BARE, lambda r: [sys.executable, "-c", "import duckdb"]),
    ], CLI_ROUNDS)
    lookup, bare = cli
    api = json.loads(run_child(child("lookup-api", str(store), str(extract.subscribers),
                                     str(seed))).stdout)
    return {
        "cli": {
            "id": sid,
            "rounds": CLI_ROUNDS,
            "lookup_s": round(lookup.best_wall_s, 3),
            "bare_duckdb_s": round(bare.best_wall_s, 3),
            "x_bare": round(lookup.best_wall_s / bare.best_wall_s, 2),
            "lookup_peak_rss_gb": round(lookup.peak_rss_bytes / 1e9, 3),
        },
        "api": api,
    }
