"""Benchmark of the SLA engine (not a test): scalar `deadline` per call, vectorized throughput.

Run: python -m bench sla   (or python -m bench.sla_bench [--tickets 1000000])
Polars is pinned to one thread (POLARS_MAX_THREADS=1) so the figure is per core.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # must precede the polars import

import argparse
import time
import timeit
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from tiering.policy import Policy, parse_policy
from tiering.sla import Ticket, deadline, deadlines, status

SH = ZoneInfo("Asia/Shanghai")
EXTRA_CLASS = """
[sla.classes.repair]
clock = "business"
calendar = "CN"
unit = "h"
targets = [4, 8, 16, 24, 40]
"""


def bench_policy() -> Policy:
    """The default policy plus an `h` class on the business clock."""
    import tomllib

    text = resources.files("tiering.data").joinpath("default_policy.toml").read_text("utf-8")
    return parse_policy(tomllib.loads(text + EXTRA_CLASS), source="bench", base_dir=None)


def scalar(policy: Policy) -> None:
    opened = datetime(2026, 9, 4, 18, 30, tzinfo=SH)
    for cls in ("feedback", "repair", "maintenance"):
        deadline(3, cls, opened, policy=policy)  # warm the calendar cache
        runs = timeit.repeat(lambda: deadline(3, cls, opened, policy=policy),
                             number=20_000, repeat=5)
        print(f"scalar deadline  {cls:12s} {min(runs) / 20_000 * 1e6:7.1f} µs/call (best of 5)")
    four = [(datetime(2026, 9, 7, h, tzinfo=SH), datetime(2026, 9, 7, h + 1, tzinfo=SH))
            for h in (10, 13, 15, 17)]
    now = datetime(2026, 9, 8, 11, tzinfo=SH)
    for k in (1, 4):
        for cls in ("feedback", "repair"):
            ticket = Ticket(3, cls, opened, tuple(four[:k]))
            runs = timeit.repeat(lambda: status(ticket, now, policy=policy), number=5_000,
                                 repeat=5)
            print(f"scalar status    {cls:12s} + {k} pause(s) {min(runs) / 5_000 * 1e6:7.1f} "
                  f"µs/call (best of 5)")


def tickets(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = int(datetime(2026, 1, 5, tzinfo=SH).timestamp()) * 1_000_000
    opened = start + rng.integers(0, 300 * 86_400, n) * 1_000_000
    classes = np.array(["feedback", "repair", "maintenance", "construction"])[
        rng.integers(0, 4, n)]
    paused = rng.random(n) < 0.2
    p_start = opened + rng.integers(0, 3 * 86_400, n) * 1_000_000
    p_end = p_start + rng.integers(600, 86_400, n) * 1_000_000
    df = pl.DataFrame({
        "tier": rng.integers(1, 6, n),
        "issue_class": classes,
        "opened_at": pl.Series(opened).cast(pl.Datetime("us", "Asia/Shanghai")),
        "ps": pl.Series(p_start).cast(pl.Datetime("us", "Asia/Shanghai")),
        "pe": pl.Series(p_end).cast(pl.Datetime("us", "Asia/Shanghai")),
        "paused": paused,
    })
    return df.select(
        "tier", "issue_class", "opened_at",
        pl.when("paused").then(pl.concat_list(pl.struct(start="ps", end="pe")))
        .otherwise(pl.lit([], pl.List(pl.Struct({"start": pl.Datetime("us", "Asia/Shanghai"),
                                                   "end": pl.Datetime("us", "Asia/Shanghai")}))))
        .alias("pauses"),
    )


def vectorized(policy: Policy, n: int) -> None:
    df = tickets(n)
    now = datetime(2026, 11, 20, 12, tzinfo=SH)
    deadlines(df.head(1000), now=now, policy=policy)  # warm caches
    best = min(_timed(lambda: deadlines(df, now=now, policy=policy)) for _ in range(3))
    out = deadlines(df, now=now, policy=policy)
    business = df["issue_class"].is_in(["feedback", "repair"]).sum()
    print(f"vectorized deadlines {n:,} tickets ({business:,} on the business clock, "
          f"{int(df['pauses'].list.len().gt(0).sum()):,} with a pause, "
          f"{out['error'].null_count():,} computed): {best:.3f} s (best of 3) = "
          f"{n / best:,.0f} tickets/s on one core")


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    args = parser.parse_args()
    policy = bench_policy()
    scalar(policy)
    vectorized(policy, args.tickets)


if __name__ == "__main__":
    main()
