"""The agreement check: the anchor SQL and the engine must find the same cut points and tiers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

PARTITION = "all"  # the bench rates with the default policy: one partition


@dataclass(frozen=True, slots=True)
class Cut:
    rank: int
    raw_x100: int
    rounded: int

    def __str__(self) -> str:
        return f"rank {self.rank:,} raw {points(self.raw_x100)} rounded {self.rounded}"


@dataclass(frozen=True, slots=True)
class TierCounts:
    """What every rating of one month must agree on (the library call reports only this)."""

    rated: int
    tiers: dict[int, int]  # tier -> number of lines; tiers without lines are left out


@dataclass(frozen=True, slots=True)
class Rating(TierCounts):
    cuts: dict[int, Cut]  # lower bound of a tier -> its cut point


def from_anchor(doc: dict[str, Any]) -> Rating:
    return Rating(
        rated=doc["rated"],
        tiers=_nonzero(doc["tiers"] or {}),
        # DuckDB aggregates nothing to null: with no rated line there are no cut points.
        cuts={t["tier"]: Cut(t["rank"], t["raw_x100"], t["rounded"])
              for t in doc["thresholds"] or []},
    )


def from_engine(doc: dict[str, Any]) -> Rating:
    """From the document of ``tiering run --json`` (or ``tiering thresholds --json``)."""
    (part,) = [p for p in doc["partitions"] if p["partition"] == PARTITION]
    return Rating(
        rated=part["rated"],
        tiers=_nonzero({t["tier"]: t["count"] for t in part["tiers"]}),
        cuts={t["tier"]: Cut(t["rank"], _hundredths(t["raw"]), t["rounded"])
              for t in part["thresholds"]},
    )


def from_library(doc: dict[str, Any]) -> TierCounts:
    return TierCounts(rated=doc["rated"], tiers=_nonzero(doc["tiers"]))


def differences(expected: Rating, actual: TierCounts, who: str) -> list[str]:
    """What ``actual`` (named ``who``) gets differently from the anchor; empty if nothing."""
    out = []
    if expected.rated != actual.rated:
        out.append(f"{who}: {actual.rated:,} rated lines, anchor {expected.rated:,}")
    if isinstance(actual, Rating):
        out += _cut_differences(expected.cuts, actual.cuts, who)
    return out + _count_differences(expected.tiers, actual.tiers, who)


def _cut_differences(expected: dict[int, Cut], actual: dict[int, Cut], who: str) -> list[str]:
    return [f"{who}: {tier}-star cut point {actual.get(tier) or 'missing'}, "
            f"anchor {expected.get(tier) or 'missing'}"
            for tier in sorted(expected.keys() | actual.keys(), reverse=True)
            if expected.get(tier) != actual.get(tier)]


def _count_differences(expected: dict[int, int], actual: dict[int, int], who: str) -> list[str]:
    return [f"{who}: {actual.get(tier, 0):,} {tier}-star lines, anchor {expected.get(tier, 0):,}"
            for tier in sorted(expected.keys() | actual.keys(), reverse=True)
            if expected.get(tier, 0) != actual.get(tier, 0)]


def points(x100: int) -> str:
    """A non-negative score in hundredths as exact decimal text."""
    return f"{x100 // 100}.{x100 % 100:02d}"


def _nonzero(counts: dict[Any, int]) -> dict[int, int]:
    return {int(t): n for t, n in counts.items() if n}


def _hundredths(text: str) -> int:
    return int(Decimal(text) * 100)
