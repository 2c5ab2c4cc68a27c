"""``bench history``: what a run costs as the store's history grows (issue 11).

Rates the extract's month into an empty store, then the eleven months before it (twelve
months stored), then the first month again four times; each run is its own ``tiering run``
process. Per run: the wall time, the bytes the process wrote to disk (its rusage: the
catalog copy, the month's files, their fsync) and the store's size after it. The same month
into an empty store and into a store of twelve months is the like-for-like comparison
(other months rate other numbers of lines). Targets: with twelve months stored a run
writes at most 1.25x the first run's bytes and takes no longer; five runs of a month leave
the store within 1.15x of its size after the first.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.extract import MONTH, Extract
from bench.measure import run_child
from bench.rating import tiering_command


def _months(last: str, n: int) -> list[str]:
    year, month = map(int, last.split("-"))
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


def _size(store: Path) -> int:
    files = [store, *Path(f"{store}.d").rglob("*")]
    return sum(p.stat().st_size for p in files if p.is_file())


def measure(extract: Extract, months: int = 12, reruns: int = 4) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="tiering-history-") as scratch:
        store = Path(scratch) / "s.duckdb"
        plan = [MONTH, *_months(MONTH, months)[:-1], *[MONTH] * reruns]
        for i, month in enumerate(plan):
            sample = run_child([*tiering_command(), "run", "--month", month, "--billing",
                                str(extract.billing), "--subscribers",
                                str(extract.subscribers), "--store", str(store), "--json"])
            runs.append({"run": i + 1, "month": month, "rerun": i >= months,
                         "wall_s": round(sample.wall_s, 3),
                         "written_mb": round(sample.written_bytes / 1e6, 1),
                         "store_mb": round(_size(store) / 1e6, 1)})
    first, full = runs[0], runs[months]  # the same month: empty store, twelve months
    return {
        "runs": runs,
        "written_vs_first": round(full["written_mb"] / max(first["written_mb"], 0.1), 2),
        "time_vs_first": round(full["wall_s"] / first["wall_s"], 2),
        "reruns_store_growth": round(runs[-1]["store_mb"] / runs[months - 1]["store_mb"], 3),
    }


def text(doc: dict[str, Any]) -> str:
    out = [f"{'run':>4} {'month':8} {'wall s':>8} {'written MB':>11} {'store MB':>9}"]
    for r in doc["runs"]:
        out.append(f"{r['run']:>4} {r['month']:8} {r['wall_s']:>8.2f} {r['written_mb']:>11.1f} "
                   f"{r['store_mb']:>9.1f}{'  (re-run)' if r['rerun'] else ''}")
    out.append(f"run {len(doc['runs']) - 3} / run 1 (the same month, 12 stored / none): "
               f"written {doc['written_vs_first']}x (target <= 1.25), time "
               f"{doc['time_vs_first']}x (target <= 1); store after the last re-run / with "
               f"12 months: {doc['reruns_store_growth']}x (target <= 1.15)")
    return "\n".join(out)
