"""The billing pass split by a hash of the id gives what one pass gives, and a pass that
runs out of memory is retried split."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

import tiering
from tiering import billing
from tiering.readers import open_table

MONTH = 2026 * 12 + 10  # 2026-11 as a month index


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from fixtures.generate import generate

    return generate(3_000, tmp_path_factory.mktemp("billing"), seed=11, fmt="csv")


def _summary(path: Path, parts: int) -> pl.DataFrame:
    table = open_table(str(path), "billing", None)
    return billing.summarise(table, MONTH, "yuan", 12, parts=parts).per_key.sort("text_key")


@pytest.mark.parametrize("parts", [2, 3, 16])
def test_split_passes_equal_one_pass(extract: tuple[Path, Path], parts: int) -> None:
    _, bills = extract
    one = _summary(bills, 1)
    assert one.height > 2_000  # the fixture really bills most of its lines
    assert _summary(bills, parts).equals(one)


def test_out_of_memory_is_retried_split(extract: tuple[Path, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    subs, bills = extract
    def lines() -> pl.DataFrame:
        return tiering.rate("2026-11", str(bills), str(subs)).export_frame().sort(
            "subscriber_id")

    expected = lines()
    seen: list[int] = []
    real = billing._group

    def tight(*args: object) -> pl.DataFrame:  # (con, rel, parsed, lo, hi, parts, ...)
        parts = args[5]
        seen.append(parts)  # type: ignore[arg-type]
        if parts < 16:
            raise duckdb.OutOfMemoryException("Out of Memory Error: test")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(billing, "_group", tight)
    assert lines().equals(expected)
    assert seen[0] == 1 and seen[1] == 4 and set(seen[2:]) == {16}


def test_passes_are_planned_from_the_memory_limit(extract: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, bills = extract
    table = open_table(str(bills), "billing", None)
    seen: list[int] = []
    real = billing._group

    def spy(*args: object) -> pl.DataFrame:  # (con, rel, parsed, lo, hi, parts, ...)
        seen.append(args[5])  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(billing, "_group", spy)
    monkeypatch.setenv("TIERING_DUCKDB_MEMORY", "1GB")
    lines = 6_000_000  # 2.1 GB of groups at GROUP_BYTES: three passes under 1 GB
    assert lines * billing.GROUP_BYTES == 2_100_000_000
    billing.summarise(table, MONTH, "yuan", 12, lines=lines)
    assert seen == [3, 3, 3]
    seen.clear()
    billing.summarise(table, MONTH, "yuan", 12, lines=3_000)
    assert seen == [1]
