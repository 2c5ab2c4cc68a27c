"""A run's memory budget, and how a month is split to stay within it.

A month is rated in memory when its lines fit the budget (the fastest way), else in parts:
each part a group of whole customers (``partitions.py``), small enough for polars to hold
while DuckDB sums the billing of every line (in passes of a hash slice of the lines each,
as its memory allows) into a table it spills to disk.
"""

from __future__ import annotations

from tiering import sql
from tiering.errors import InputError

# Peak resident bytes per line rated in memory: 3.3 GB at ten million lines (DuckDB's
# grouping, then polars' frames; bench run at 10M).
IN_MEMORY_BYTES = 350
# Resident bytes per line of a part while polars scores it and assigns its tiers (the
# joined facts, the scored lines and the sorted copy written out; allocator slack included).
PART_BYTES = 600
# What the interpreter and the libraries hold before any line (python, polars, duckdb,
# pyarrow imported: ~0.25 GB).
BASELINE = 300 << 20
MIN_BUDGET = 512 << 20
MAX_PARTS = 4096


def default_budget() -> int:
    """A quarter of the memory this process may use (the machine's or its container's):
    room for the page cache the extract is read through, and for whatever else runs."""
    return sql.usable_memory() // 4


def parse_budget(memory: str | None) -> int:
    """Bytes of a budget like ``2GB`` or ``1536MiB``; the default when None."""
    if memory is None:
        return default_budget()
    text = memory.strip()
    if not sql.SIZE.fullmatch(text):
        raise InputError(f"memory budget: not a size like 2GB or 512MiB: {memory!r}")
    value = sql.size_bytes(text)
    if value < MIN_BUDGET:
        raise InputError(f"memory budget: {memory!r} is less than the {MIN_BUDGET >> 20} MiB a "
                         "run needs for the libraries alone")
    return value


def plan_parts(lines: int, budget: int) -> int:
    """1 when ``lines`` fit the budget in memory, else the number of parts."""
    room = budget - BASELINE
    if lines * IN_MEMORY_BYTES <= room:
        return 1
    return min(MAX_PARTS, max(2, -(-lines * PART_BYTES // room)))


def duckdb_share(budget: int) -> str:
    """DuckDB's memory limit within the budget: what the baseline leaves, less a fifth for
    what DuckDB allocates outside its limit (measured: ~15% at 1 GB)."""
    return f"{max(256 << 20, (budget - BASELINE) * 4 // 5) >> 20}MiB"
