"""``bench run``: the monthly rating, four contenders side by side, and the agreement check."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.agreement import differences, from_anchor, from_engine, from_library, points
from bench.extract import MONTH, Extract
from bench.measure import Series, alternate

FLOOR, ANCHOR, RUN, LIBRARY = "floor", "anchor", "tiering run", "tiering.rate"
BUDGET_RUN = "tiering run --memory {}"
SPARK_START, SPARK = "spark session start", "tiering run --engine spark"
PLAIN_SPARK = "plain PySpark job"
SPARK_MASTER = "local[2]"
Command = Callable[[int], Sequence[str]]


def tiering_command() -> list[str]:
    """The installed console script, next to this interpreter (the venv's)."""
    found = shutil.which("tiering", path=str(Path(sys.executable).parent)) or shutil.which(
        "tiering")
    if found is None:
        raise SystemExit("no `tiering` command: install the project first (pip install -e .)")
    return [found]


def child(kind: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "bench.children", kind, *args]


def contenders(extract: Extract, scratch: Path, engine: str = "embedded",
               budgets: Sequence[str] = ()) -> list[tuple[str, Command]]:
    """Every command line; outputs get a fresh name per round so no round starts from the
    previous one's store or file. ``engine="spark"`` adds the Spark session's start-up on
    its own (start, one trivial job, stop), the plain PySpark job (the Spark anchor,
    ``bench/plain_spark.py``) and ``tiering run --engine spark`` on local[2], in place of
    the library call."""
    billing, subs = str(extract.billing), str(extract.subscribers)
    tiering = tiering_command()
    if engine == "spark":
        return [
            (FLOOR, lambda r: child("floor", billing)),
            (ANCHOR, lambda r: child("anchor", MONTH, billing, subs,
                                     str(scratch / f"anchor-{r}.parquet"))),
            (RUN, lambda r: [*tiering, "run", "--month", MONTH, "--billing", billing,
                             "--subscribers", subs, "--store",
                             str(scratch / f"store-{r}.duckdb"), "--json"]),
            (SPARK_START, lambda r: child("spark-start", SPARK_MASTER)),
            (PLAIN_SPARK, lambda r: child("plain-spark", SPARK_MASTER, MONTH, billing, subs,
                                          str(scratch / f"plain-spark-{r}"))),
            (SPARK, lambda r: [*tiering, "run", "--engine", "spark", "--master", SPARK_MASTER,
                               "--month", MONTH, "--billing", billing, "--subscribers", subs,
                               "--out", str(scratch / f"spark-{r}"), "--json"]),
        ]
    def run(extra: Sequence[str], name: str) -> Command:
        return lambda r: [*tiering, "run", "--month", MONTH, "--billing", billing,
                          "--subscribers", subs, "--store",
                          str(scratch / f"store-{name}-{r}.duckdb"), "--json", *extra]

    return [
        (FLOOR, lambda r: child("floor", billing)),
        (ANCHOR, lambda r: child("anchor", MONTH, billing, subs,
                                 str(scratch / f"anchor-{r}.parquet"))),
        (RUN, run((), "default")),
        *[(BUDGET_RUN.format(b), run(("--memory", b), b)) for b in budgets],
        (LIBRARY, lambda r: child("library", MONTH, billing, subs)),
    ]


def measure(extract: Extract, repeat: int, engine: str = "embedded",
            budgets: Sequence[str] = ()) -> list[Series]:
    with tempfile.TemporaryDirectory(prefix="tiering-bench-", dir=extract.directory) as scratch:
        return alternate(contenders(extract, Path(scratch), engine, budgets), repeat)


def agreement(series: list[Series]) -> dict[str, Any]:
    """The anchor against ``tiering run`` (cut points and tier counts), the library call
    (tier counts) and, with ``--engine spark``, the plain PySpark job and ``tiering run
    --engine spark`` (cut points and tier counts), from each one's last round."""
    out = {s.name: json.loads(s.last_stdout) for s in series}
    anchor = from_anchor(out[ANCHOR])
    problems = differences(anchor, from_engine(out[RUN]), RUN)
    for name in out:
        if name.startswith("tiering run --memory"):
            problems += differences(anchor, from_engine(out[name]), name)
    if LIBRARY in out:
        problems += differences(anchor, from_library(out[LIBRARY]), LIBRARY)
    if SPARK in out:
        problems += differences(anchor, from_engine(out[SPARK]), SPARK)
    if PLAIN_SPARK in out:
        problems += differences(anchor, from_anchor(out[PLAIN_SPARK]), PLAIN_SPARK)
    return {
        "ok": not problems,
        "differences": problems,
        "rated": anchor.rated,
        "cut_points": {str(t): {"rank": c.rank, "raw": points(c.raw_x100),
                                "rounded": c.rounded}
                       for t, c in sorted(anchor.cuts.items(), reverse=True)},
        "tiers": {str(t): n for t, n in sorted(anchor.tiers.items(), reverse=True)},
    }


def results(series: list[Series]) -> list[dict[str, Any]]:
    by_name = {s.name: s for s in series}
    floor, anchor = by_name[FLOOR].best_wall_s, by_name[ANCHOR].best_wall_s
    spark = by_name[PLAIN_SPARK].best_wall_s if PLAIN_SPARK in by_name else None
    return [{
        "contender": s.name,
        "wall_s": round(s.best_wall_s, 3),
        "wall_s_rounds": [round(x.wall_s, 3) for x in s.samples],
        "peak_rss_bytes": s.peak_rss_bytes,
        "peak_rss_gb": round(s.peak_rss_bytes / 1e9, 3),
        "x_floor": round(s.best_wall_s / floor, 2),
        "x_anchor": round(s.best_wall_s / anchor, 2),
        **({"x_plain_spark": round(s.best_wall_s / spark, 2)} if spark else {}),
        **_timings(s),
    } for s in series]


def _timings(s: Series) -> dict[str, Any]:
    """A ``tiering run --json``'s own stage timings (its last round), for the profile."""
    try:
        doc = json.loads(s.last_stdout)
    except ValueError:
        return {}
    return {"timings": doc["timings"]} if isinstance(doc, dict) and "timings" in doc else {}
