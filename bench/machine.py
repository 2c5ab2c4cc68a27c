"""What the figures were measured on, for the BENCHMARKS.md tables."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("tiering", "polars", "duckdb", "pyarrow", "numpy", "pyspark")


def describe() -> dict[str, object]:
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gb": round(int((_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0])
                           * 1024 / 1e9, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
