"""Timing child processes: wall time and the child's own peak RSS, best of n, alternating."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Sample:
    wall_s: float
    peak_rss_bytes: int
    stdout: str
    written_bytes: int = 0  # what the process wrote to disk (its rusage's blocks out)


@dataclass(slots=True)
class Series:
    """Every round of one contender."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def best_wall_s(self) -> float:
        return min(s.wall_s for s in self.samples)

    @property
    def peak_rss_bytes(self) -> int:
        # The worst round: a peak is a requirement on the machine, not a lucky draw.
        return max(s.peak_rss_bytes for s in self.samples)

    @property
    def last_stdout(self) -> str:
        return self.samples[-1].stdout


class ChildFailed(RuntimeError):
    pass


def run_child(argv: Sequence[str]) -> Sample:
    """Run one process to its end through the launcher (see ``bench.spawn`` for why)."""
    with tempfile.TemporaryDirectory(prefix="tiering-bench-") as scratch:
        usage_file = Path(scratch) / "usage.json"
        done = subprocess.run([sys.executable, "-m", "bench.spawn", str(usage_file), *argv],
                              cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise ChildFailed(f"{' '.join(argv)}\nexited with {done.returncode}:\n"
                              f"{done.stderr[-4000:]}")
        usage = json.loads(usage_file.read_text())
    return Sample(usage["wall_s"], usage["peak_rss_bytes"], done.stdout, usage["written_bytes"])


def alternate(contenders: Sequence[tuple[str, Callable[[int], Sequence[str]]]],
              rounds: int) -> list[Series]:
    """Run every contender once per round; each round starts one contender later, so none
    always runs first (cold caches) or right after the heaviest one.

    A contender is a name and a function from the round number to its command line.
    """
    series = [Series(name) for name, _ in contenders]
    for r in range(rounds):
        for i in _rotated(len(contenders), r):
            series[i].samples.append(run_child(contenders[i][1](r)))
    return series


def _rotated(n: int, r: int) -> list[int]:
    return [(r + i) % n for i in range(n)]
