"""The benchmark extract: generated once per (size, seed, id order) and reused."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from fixtures.generate import Shape, generate

MONTH = "2026-11"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Extract:
    subscribers: Path
    billing: Path

    @property
    def directory(self) -> Path:
        return self.billing.parent


def extract_key(n: int, seed: int, sorted_ids: bool, shape: Shape = Shape()) -> str:
    # The first shape keeps the name extracts had before shapes existed.
    tail = "" if shape == Shape() else f"-{shape.name}"
    return f"n{n}-seed{seed}-{'sorted' if sorted_ids else 'scattered'}{tail}"


def ensure_extract(n: int, seed: int, sorted_ids: bool, data_dir: Path,
                   shape: Shape = Shape()) -> Extract:
    """The extract for this key, generating it first if it is not there yet."""
    data_dir = data_dir.resolve()  # the children run from the repository root
    final = data_dir / extract_key(n, seed, sorted_ids, shape)
    extract = Extract(final / "subscribers.parquet", final / "billing.parquet")
    if extract.subscribers.is_file() and extract.billing.is_file():
        return extract
    # Generate beside the final place and rename: an interrupted generation is never reused.
    scratch = data_dir / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    generate(n, scratch, month=MONTH, seed=seed, sorted_ids=sorted_ids, fmt="parquet",
             shape=shape)
    shutil.rmtree(final, ignore_errors=True)
    scratch.rename(final)
    return extract


def warm_page_cache(extract: Extract) -> None:
    """Read the files once so the first contender of the first round does not pay for the disk."""
    for path in (extract.subscribers, extract.billing):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
