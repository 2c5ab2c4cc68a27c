"""Launcher of one timed process: ``python -m bench.spawn USAGE_FILE COMMAND...``.

Runs the command (its output passes through) and writes its wall time and peak RSS to
USAGE_FILE. Why a launcher: on Linux a child's ``ru_maxrss`` starts at the peak RSS of the
process it was forked from (exec keeps the old address space's high-water mark), so measured
straight from the bench, which may have just generated a large extract, every contender would
look at least as big as the bench. This process stays a bare Python (about 12 MB), below any
contender's own peak, so the figure is the contender's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(usage_file: str, argv: list[str]) -> int:
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    # wait4 gives this child's own rusage; getrusage(RUSAGE_CHILDREN) would be the maximum
    # over every child reaped so far.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    with open(usage_file, "w") as f:
        json.dump({"wall_s": wall, "peak_rss_bytes": usage.ru_maxrss * 1024,  # KiB
                   "written_bytes": usage.ru_oublock * 512}, f)  # 512-byte blocks
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
