"""``bench lookup``: the CLI look-up against a bare DuckDB process, and the in-process API;
``--parts N`` first rewrites the month as N files, as the partitioned engine writes one."""

from __future__ import annotations

import compileall
import json
import shutil
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

CLI_ROUNDS = 9  # the machine is shared: the best of more rounds is the code's own time
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


@contextmanager
def in_parts(store: Path, parts: int) -> Iterator[Path]:
    """A copy of ``store`` whose months are each ``parts`` files, the ids hash-partitioned
    across them and each written as the store writes a file (tiering.store.write_lines: in id
    order, its row groups and pages), as the rating in parts writes a month; ``parts=1``:
    the store itself."""
    if parts == 1:
        yield store
        return
    import duckdb
    import polars as pl

    from tiering.store import write_lines
    from tiering.store.catalog import data_dir, lines_view, month_files

    with tempfile.TemporaryDirectory(prefix="tiering-bench-") as scratch:
        copy = Path(scratch) / store.name
        shutil.copyfile(store, copy)
        con = duckdb.connect(str(copy))
        try:
            written: dict[str, list[Path]] = {}
            for month, files in month_files(con, store).items():
                lines = pl.read_parquet(files)
                part = lines["subscriber_id"].hash(seed=0) % parts
                folder = data_dir(copy) / f"month={month}" / "run-parts"
                folder.mkdir(parents=True)
                written[month] = [folder / f"part-{k}.parquet" for k in range(parts)]
                for k, file in enumerate(written[month]):
                    write_lines(lines.filter(part == k), file)
            con.execute("DELETE FROM month_files")
            con.executemany("INSERT INTO month_files VALUES (?, ?)", [
                [month, str(f.relative_to(data_dir(copy)))]
                for month, files in written.items() for f in files])
            con.execute(f"CREATE OR REPLACE VIEW lines AS {lines_view(written)}")
        finally:
            con.close()
        yield copy


def precompile() -> None:
    """Write tiering's bytecode before the CLI is timed, as installing a package does (pip
    compiles it; DuckDB's own modules, the bare contender's, are compiled so): a checkout
    run with PYTHONDONTWRITEBYTECODE=1, as on this machine, would otherwise compile every
    module it imports at every start (measured: 30-40 ms of a look-up)."""
    import tiering

    compileall.compile_dir(Path(tiering.__file__).parent, quiet=1)


def some_id(extract: Extract, seed: int) -> str:
    ids = pq.read_table(extract.subscribers, columns=["subscriber_id"])["subscriber_id"]
    return str(ids[int(np.random.default_rng(seed).integers(len(ids)))])


def measure(extract: Extract, store: Path, seed: int) -> dict[str, Any]:
    sid = some_id(extract, seed)
    precompile()
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
