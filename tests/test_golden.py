"""Golden tests: the engine against fixtures whose expected values were worked out by hand
(see fixtures/*/HAND_CHECK.md), not produced by the engine."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

import tiering
from tiering.store import Store

COLUMNS = ("tenure_months", "window_months", "arpu_yuan", "arpu_score", "coefficient", "score",
           "tier", "reason")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _rate(fixture: Path, parts: int | None = None) -> tiering.RateResult:
    overrides = fixture / "overrides.csv"
    return tiering.rate("2026-11", fixture / "billing.csv", fixture / "subscribers.csv",
                        overrides=overrides if overrides.exists() else None, parts=parts)


# In memory, and in three parts of whole customers (the way of a month beyond its budget).
PARTS = pytest.mark.parametrize("parts", [None, 3])


@PARTS
@pytest.mark.parametrize("name", ["small", "degenerate"])
def test_every_line_matches_the_hand_worked_value(name: str, parts: int | None,
                                                  request: pytest.FixtureRequest):
    fixture = request.getfixturevalue(name)
    lines = {r["subscriber_id"]: r for r in _rate(fixture, parts).lines.iter_rows(named=True)}
    expected = _csv(fixture / "expected.csv")
    assert sorted(lines) == sorted(e["subscriber_id"] for e in expected)
    for e in expected:
        got = lines[e["subscriber_id"]]
        assert {c: _text(got[c]) for c in COLUMNS} == {c: e[c] for c in COLUMNS}, e["subscriber_id"]


@PARTS
@pytest.mark.parametrize("name", ["small", "degenerate"])
def test_thresholds_and_tier_counts_match(name: str, parts: int | None,
                                          request: pytest.FixtureRequest):
    fixture = request.getfixturevalue(name)
    (part,) = _rate(fixture, parts).partitions
    got = [(t.tier, t.cumulative_share_x100 // 100, t.rank, f"{t.raw_x100 / 100:.2f}", t.rounded)
           for t in part.thresholds]
    want = [(int(r["tier"]), int(r["cumulative_share"]), int(r["rank"]), r["raw"],
             int(r["rounded"])) for r in _csv(fixture / "expected_thresholds.csv")]
    assert got == want
    counts = {int(r["tier"]): int(r["count"]) for r in _csv(fixture / "expected_tiers.csv")}
    assert {t.tier: t.count for t in part.tiers} == {t: counts.get(t, 0) for t in range(1, 6)}


@PARTS
@pytest.mark.parametrize("name", ["small", "degenerate"])
def test_effective_tier_on_2026_11_15(name: str, parts: int | None,
                                      request: pytest.FixtureRequest, tmp_path: Path):
    fixture = request.getfixturevalue(name)
    store = Store(tmp_path / "t.duckdb")
    store.write_month(_rate(fixture, parts))
    expected = _csv(fixture / "expected.csv")
    _, _, rows = store.lines([e["subscriber_id"] for e in expected], at=date(2026, 11, 15))
    got = {r["subscriber_id"]: r["effective"].tier for r in rows}
    assert got == {e["subscriber_id"]: int(e["effective_tier"]) for e in expected}


def test_counts_report_ignored_billing_rows(small: Path):
    counts = _rate(small).counts
    # HAND_CHECK.md: 3 rows for unknown ids, 268 rows in all.
    assert counts["unknown_subscriber_rows"] == 3
    assert counts["billing_rows"] == 268
    assert counts["subscribers"] == 30 and counts["rated"] == 22
