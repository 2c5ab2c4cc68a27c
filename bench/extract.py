"""The benchmark extract: generated once per (size, seed, id order) and reused."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MONTH = "2026-11"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Extract:
    subscribers: Path
    billing: Path

    @property
    def directory(self) -> Path:
        return self.billing.parent


def extract_key(n: int, seed: int, sorted_ids: bool) -> str:
    return f"n{n}-seed{seed}-{'sorted' if sorted_ids else 'scattered'}"


def ensure_extract(n: int, seed: int, sorted_ids: bool, data_dir: Path) -> Extract:
    """The extract for this key, generating it first if it is not there yet."""
    data_dir = data_dir.resolve()  # the children run from the repository root
    final = data_dir / extract_key(n, seed, sorted_ids)
    extract = Extract(final / "subscribers.parquet", final / "billing.parquet")
    if extract.subscribers.is_file() and extract.billing.is_file():
        return extract
    from fixtures.generate import generate

    # Generate beside the final place and rename: an interrupted generation is never reused.
    scratch = data_dir / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    generate(n, scratch, month=MONTH, seed=seed, sorted_ids=sorted_ids, fmt="parquet")
    shutil.rmtree(final, ignore_errors=True)
    scratch.rename(final)
    return extract


def warm_page_cache(extract: Extract) -> None:
    """Read the files once so the first contender of the first round does not pay for the disk."""
    for path in (extract.subscribers, extract.billing):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
