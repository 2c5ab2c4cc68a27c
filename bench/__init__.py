"""Benchmark harness for issue 6: the rating at operator scale, and the look-up latency.

    python -m bench run --subscribers 1000000 [--seed 7] [--sorted-ids] [--repeat 3] [--json]
    python -m bench lookup --subscribers 1000000 [--json]

``run`` times, each as a separate process and alternating round by round, a DuckDB scan of the
needed billing columns (the floor), a hand-written DuckDB SQL of the rating (the anchor),
``tiering run`` end to end and the ``tiering.rate`` library call, and fails unless the anchor
and the engine agree on thresholds and tier counts. Extracts are generated once per
(size, seed, id order) under ``bench/data/``.
"""
