"""Property tests: the engine against the plain reference of ``tests/reference.py``.

The reference is pure Python (ints and Fractions, loops) written from SPEC sections 1-5; the
engine is only ever the thing under test. Hypothesis draws small extracts (<= 50 lines, months
around 2025-09..2027-01, a small set of amounts with refunds, zeros, .5-yuan averages and many
exact ties) and small policy variants (2-6 tiers, odd shares, round_to, tenure bands, fixed
thresholds, per-region partitions).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import tiering
from tiering.policy import parse_policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from reference import (
    REASONS,
    RefResult,
    month_index,
    reference_rate,
)


def budget(examples: int) -> settings:
    """Sized so the file runs in well under a minute on 2 cores; no example database is
    written into the work tree."""
    return settings(max_examples=examples, deadline=None, database=None,
                    report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow])


# --- building inputs --------------------------------------------------------------------------

MONTHS = ["2026-11"] * 6 + ["2026-01", "2026-12", "2027-01"]
# .5-yuan-average makers: 6.00 / 12 months = 0.5, 3.00 / 6 = 0.5, 30.00 / 12 = 2.5, 18.00 / 12
# = 1.5; refunds and zeros; a few legal but unusual spellings.
AMOUNTS = ["0.00", "0.50", "-0.50", "3.00", "6.00", "-6.00", "18.00", "30.00", "-30.00",
           "12.35", "0.01", "-0.01", "99.99", "100.00", "45.00", "150.00", "7", "1.5",
           "+2.50", " 20.00 ", "300.00", "-3.00", "0.29", "5.71", "5.70", "-0.07"]
FLAT = ["0.00", "6.00", "10.00", "25.00", "50.00", "100.00", "100.00", "200.00", "-6.00",
        "30.00", "66.50"]
TENURES = [-2, 0, 1, 2, 6, 7, 7, 8, 11, 12, 13, 13, 14, 24, 25, 36, 37, 60, 61, 120, 121, 150]
STATUS = ["active"] * 6 + ["Active", " ACTIVE ", "suspended", "closed"]
LINE_TYPES = ["personal"] * 5 + ["Personal ", "", "data_card", "IoT"]
BILLED = ["true"] * 4 + ["T", "yes", " Y ", "1", "false", "f", "No", "n", "0", ""]
# Regions partition trimmed and case-insensitively (SPEC 1; partitions named in lower case).
REGIONS = ["north", "south", "east", "North", " EAST "]
OPTIONAL = ("customer_id", "line_type", "region", "billed_in_month")


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def sid_of(i: int) -> str:
    # Opaque text ids; some with a leading zero (must never be reformatted).
    return f"0138{i:07d}" if i % 7 == 3 else f"138{i:08d}"


@st.composite
def extracts(draw: Any, *, max_subs: int = 40, with_region: bool = False) -> dict[str, Any]:
    """A rating month, subscriber rows (dicts of text) and billing rows (id, month, amount).
    Each optional column is present or not; ``with_region`` forces the region column."""
    month = draw(st.sampled_from(MONTHS))
    m = month_index(month)
    n = draw(st.integers(1, max_subs))
    present = {c: draw(st.booleans()) for c in OPTIONAL}
    present["region"] |= with_region
    subs: list[dict[str, str]] = []
    bills: list[tuple[str, str, str]] = []
    for i in range(n):
        sid = sid_of(i)
        tenure = draw(st.sampled_from(TENURES))
        join = m - tenure + 1
        row = {"subscriber_id": sid,
               "join_date": f"{month_text(join)}-{draw(st.integers(1, 28)):02d}",
               "status": draw(st.sampled_from(STATUS))}
        if present["customer_id"]:
            row["customer_id"] = draw(st.sampled_from(["C1", "C2", "C3", "", f"own{i}"]))
        if present["line_type"]:
            row["line_type"] = draw(st.sampled_from(LINE_TYPES))
        if present["region"]:
            row["region"] = draw(st.sampled_from(REGIONS + [""]))
        if present["billed_in_month"]:
            row["billed_in_month"] = draw(st.sampled_from(BILLED))
        subs.append(row)
        if draw(st.booleans()):
            # The same amount every month from M-14 to M: many exact ties.
            amount = draw(st.sampled_from(FLAT))
            bills += [(sid, month_text(m + k), amount) for k in range(-14, 1)]
        else:
            for _ in range(draw(st.integers(0, 5))):
                bills.append((sid, month_text(m + draw(st.integers(-15, 1))),
                              draw(st.sampled_from(AMOUNTS))))
    # Rows of an unknown subscriber; one always sits in M-1, so the extract has a row inside
    # M-12..M-1 even when every line is unrated (the all-outside case has its own test).
    for _ in range(draw(st.integers(1, 2))):
        bills.append(("19999999999", month_text(m - 1), "50.00"))
    # And a subscriber's row inside M-12..M-1: a run whose window rows all miss the
    # subscriber list is rejected (tests/test_bad_input.py covers that case).
    if not any(s != "19999999999" and m - 12 <= month_index(b) <= m - 1 for s, b, _ in bills):
        bills.append((subs[0]["subscriber_id"], month_text(m - 1), draw(st.sampled_from(AMOUNTS))))
    bills = draw(st.permutations(bills))
    return {"month": month, "subs": subs, "bills": bills}


def sla_for(tiers: int) -> dict[str, Any]:
    return {"classes": {"maintenance": {"clock": "24x7", "unit": "h",
                                        "targets": [8 * (i + 1) for i in range(tiers)]}}}


def number(x100: int) -> int | float:
    """A policy number written the way a TOML file would hold it."""
    return x100 // 100 if x100 % 100 == 0 else float(str(Decimal(x100) / 100))


@st.composite
def raw_policies(draw: Any, *, by_region: bool = False, fixed: bool | None = False
                 ) -> dict[str, Any]:
    """The raw mapping of a policy file. ``fixed``: True forces fixed thresholds, None allows
    them sometimes, False never."""
    if not by_region and fixed is False and draw(st.booleans()):
        shares: list[Any] = [5, 10, 15, 40, 30]
        rating: dict[str, Any] = {"shares": shares, "thresholds_by_region": False,
                                  "round_to": 10, "min_tenure_months": 7,
                                  "tenure_bands": [
                                      {"from": 7, "to": 12, "coefficient": 1.0},
                                      {"from": 13, "to": 24, "coefficient": 1.1},
                                      {"from": 25, "to": 36, "coefficient": 1.2},
                                      {"from": 37, "to": 60, "coefficient": 1.3},
                                      {"from": 61, "to": 120, "coefficient": 1.4},
                                      {"from": 121, "coefficient": 1.5}]}
        return {"rating": rating, "sla": sla_for(5)}
    tiers = draw(st.integers(2, 6))
    step = draw(st.sampled_from([100, 100, 1]))  # whole percents, or hundredths of a percent
    cuts = sorted(draw(st.sets(st.integers(1, 10_000 // step - 1),
                               min_size=tiers - 1, max_size=tiers - 1)))
    edges = [0] + [c * step for c in cuts] + [10_000]
    shares = [number(b - a) for a, b in itertools.pairwise(edges)]
    min_tenure = draw(st.sampled_from([1, 3, 7, 7, 8, 13]))
    bounds = sorted(draw(st.sets(st.integers(min_tenure, 130), max_size=3)) - {min_tenure})
    firsts = [min_tenure] + bounds
    coefs = [draw(st.sampled_from([50, 99, 100, 105, 110, 125, 133, 150, 200])) for _ in firsts]
    bands = []
    for j, (first, coef) in enumerate(zip(firsts, coefs)):
        band: dict[str, Any] = {"from": first, "coefficient": number(coef)}
        if j + 1 < len(firsts):
            band["to"] = firsts[j + 1] - 1
        bands.append(band)
    rating = {"shares": shares, "round_to": draw(st.sampled_from([1, 5, 10, 10, 20, 25])),
              "thresholds_by_region": by_region, "min_tenure_months": min_tenure,
              "tenure_bands": bands}
    if fixed or (fixed is None and draw(st.integers(0, 3)) == 0):
        rating["fixed_thresholds"] = sorted(
            draw(st.lists(st.integers(0, 400), min_size=tiers - 1, max_size=tiers - 1)),
            reverse=True)
    return {"rating": rating, "sla": sla_for(tiers)}


def frames(ex: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    cols = list(ex["subs"][0])
    subs = pl.DataFrame({c: [r[c] for r in ex["subs"]] for c in cols},
                        schema={c: pl.String for c in cols})
    bills = pl.DataFrame({"subscriber_id": [b[0] for b in ex["bills"]],
                          "bill_month": [b[1] for b in ex["bills"]],
                          "amount": [b[2] for b in ex["bills"]]},
                         schema={"subscriber_id": pl.String, "bill_month": pl.String,
                                 "amount": pl.String})
    return bills, subs


def run(ex: dict[str, Any], raw: dict[str, Any] | None = None, **kw: Any) -> Any:
    bills, subs = frames(ex)
    policy = parse_policy(raw, source="test", base_dir=None) if raw is not None else None
    return tiering.rate(ex["month"], bills, subs, policy=policy, **kw)


def reference(ex: dict[str, Any], raw: dict[str, Any] | None = None, **kw: Any) -> RefResult:
    return reference_rate(ex["month"], ex["bills"], ex["subs"], raw, **kw)


# --- comparing engine and reference -----------------------------------------------------------

def engine_lines(result: Any) -> dict[Any, dict[str, Any]]:
    rows = result.lines.iter_rows(named=True)
    out = {r["subscriber_id"]: r for r in rows}
    assert len(out) == result.lines.height, "a subscriber appears twice in the lines"
    return out


def x100(value: Fraction | None) -> int | None:
    if value is None:
        return None
    v = value * 100
    assert v.denominator == 1
    return int(v)


def assert_matches(result: Any, ref: RefResult, *, by_region: bool = False) -> None:
    """Every line, every partition's thresholds and tier counts, and the run counts."""
    got = engine_lines(result)
    assert set(got) == set(ref.lines), "lines dropped or invented"
    for sid, want in ref.lines.items():
        g = got[sid]
        ctx = f"subscriber {sid!r}: engine {g} vs reference {want}"
        assert g["tenure_months"] == want.tenure_months, ctx
        assert g["reason"] == want.reason, ctx
        assert g["tier"] == want.tier, ctx
        assert g["customer_id"] == want.customer_id, ctx
        assert g["customer_tier"] == want.customer_tier, ctx
        if want.reason is None:
            assert g["window_months"] == want.window_months, ctx
            assert g["arpu_yuan"] == want.arpu_yuan, ctx
            assert g["arpu_score"] == want.arpu_score, ctx
            assert g["coefficient_x100"] == want.coefficient_x100, ctx
            assert g["score_x100"] == want.score_x100, ctx
            assert Fraction(g["coefficient"]) == want.coefficient, ctx
            assert Fraction(g["score"]) == want.score, ctx
        else:
            # SPEC 7: an unrated row leaves the ARPU and score columns empty.
            for col in ("arpu_yuan", "arpu_score", "score", "score_x100"):
                assert g[col] is None, ctx

    # Partition membership: one "all" partition, or one per region (absent region: its own).
    names: dict[Any, str] = {}
    for sid, want in ref.lines.items():
        name = got[sid]["partition"]
        if not by_region:
            assert name == "all", f"{sid!r}: partition {name!r}"
        elif want.partition is not None:
            assert name == want.partition, f"{sid!r}: partition {name!r} != {want.partition!r}"
        assert names.setdefault(want.partition, name) == name, f"{sid!r}: split partition"
    assert len(set(names.values())) == len(names), f"partitions merged: {names}"

    parts = {p.partition: p for p in result.partitions if p.rated > 0}
    assert set(parts) == {names[k] for k in ref.partitions}
    for key, want_p in ref.partitions.items():
        p = parts[names[key]]
        assert p.rated == want_p.rated, key
        assert [(t.tier, t.cumulative_share_x100, t.rank, t.raw_x100, t.rounded)
                for t in p.thresholds] == [
            (t.tier, x100(t.cumulative_share), t.rank, x100(t.raw), t.rounded)
            for t in want_p.thresholds], f"partition {key!r} thresholds"
        tiers = len(want_p.counts)
        assert [(c.tier, c.count, c.realised_share_x100) for c in p.tiers] == [
            (t, want_p.counts[t], want_p.realised_share_x100(t))
            for t in range(tiers, 0, -1)], f"partition {key!r} tier counts"

    rated = sum(1 for x in ref.lines.values() if x.reason is None)
    assert result.counts["rated"] == rated
    assert result.counts["subscribers"] == len(ref.lines)
    reasons = Counter(x.reason for x in ref.lines.values() if x.reason is not None)
    assert result.unrated == {r: reasons.get(r, 0) for r in REASONS}


# --- 1. engine == reference on generated extracts ---------------------------------------------

@budget(25)
@given(ex=extracts(), raw=st.none() | raw_policies(fixed=False))
def test_engine_equals_reference(ex: dict[str, Any], raw: dict[str, Any] | None) -> None:
    assert_matches(run(ex, raw), reference(ex, raw))


@budget(25)
@given(ex=extracts(), raw=st.none() | raw_policies(fixed=False), parts=st.integers(2, 5))
def test_rating_in_parts_equals_reference(ex: dict[str, Any], raw: dict[str, Any] | None,
                                          parts: int) -> None:
    """A month rated in parts (the way of a month beyond its memory budget) is the month
    rated at once, customers with lines in several parts included."""
    assert_matches(run(ex, raw, parts=parts), reference(ex, raw))


@budget(15)
@given(ex=extracts(max_subs=50, with_region=True), raw=raw_policies(by_region=True, fixed=False),
       parts=st.integers(2, 4))
def test_rating_in_parts_by_region_equals_reference(ex: dict[str, Any], raw: dict[str, Any],
                                                    parts: int) -> None:
    assert_matches(run(ex, raw, parts=parts), reference(ex, raw), by_region=True)


# --- 2. rounding half away from zero, on crafted one-line extracts ----------------------------

def rate_lines(specs: list[tuple[str, int, list[tuple[int, str]]]], month: str = "2026-11",
               raw: dict[str, Any] | None = None) -> tuple[dict[Any, dict[str, Any]], Any]:
    """Rate active lines given as (id, tenure, [(month offset from M, amount), ...]) in one
    run (one engine call per example keeps the file fast); every line must be rated."""
    m = month_index(month)
    ex = {"month": month,
          "subs": [{"subscriber_id": sid, "join_date": f"{month_text(m - tenure + 1)}-15",
                    "status": "active"} for sid, tenure, _ in specs],
          "bills": [(sid, month_text(m + k), a) for sid, _, rows in specs for k, a in rows]}
    result = run(ex, raw)
    lines = engine_lines(result)
    assert all(line["reason"] is None for line in lines.values()), lines
    return lines, result


def fen_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@budget(12)
@given(tenure=st.sampled_from([7, 8, 10, 12, 13, 40, 200]), k=st.integers(0, 300),
       negative=st.booleans(), spread=st.booleans())
@example(tenure=13, k=0, negative=False, spread=False)  # 6.00 over 12 months = 0.5 -> 1
@example(tenure=13, k=0, negative=True, spread=False)  # -0.5 -> -1
@example(tenure=13, k=2, negative=False, spread=True)  # 2.5 -> 3 (banker's: 2)
@example(tenure=13, k=2, negative=True, spread=True)  # -2.5 -> -3 (banker's: -2)
def test_arpu_rounds_half_away_from_zero(tenure: int, k: int, negative: bool,
                                         spread: bool) -> None:
    n = min(tenure - 1, 12)  # window months
    sign = -1 if negative else 1
    total = sign * (100 * n * k + 50 * n)  # average exactly sign * (k + 1/2) yuan
    if spread:  # (k + 0.5) yuan in each window month (itemised: two rows per month)
        rows = [(-j, fen_text(sign * 100 * k)) for j in range(1, n + 1)]
        rows += [(-j, fen_text(sign * 50)) for j in range(1, n + 1)]
    else:  # one bill carries it all
        rows = [(-1, fen_text(total))]
    # One fen either side of the half decides it the ordinary way.
    lines, _ = rate_lines([("half", tenure, rows),
                           ("below", tenure, [(-1, fen_text(total - sign))]),
                           ("above", tenure, [(-1, fen_text(total + sign))])])
    half = lines["half"]
    assert half["window_months"] == n
    assert half["arpu_yuan"] == sign * (k + 1), (total, n)
    assert half["arpu_score"] == (k + 1 if sign > 0 else 0)
    assert lines["below"]["arpu_yuan"] == sign * k
    assert lines["above"]["arpu_yuan"] == sign * (k + 1)


ROUNDING_TABLE = [  # (sum of fen in the window, window months, ARPU), worked by hand
    (600, 12, 1), (-600, 12, -1), (1800, 12, 2), (-1800, 12, -2), (3000, 12, 3),
    (-3000, 12, -3), (599, 12, 0), (-599, 12, 0), (300, 6, 1), (-300, 6, -1), (0, 12, 0),
    (149_400, 12, 125), (-1, 12, 0), (550, 11, 1), (549, 11, 0), (-550, 11, -1),
]


def test_arpu_rounding_table() -> None:
    specs = [(f"r{i}", 13 if n == 12 else n + 1, [(-1, fen_text(fen))])
             for i, (fen, n, _) in enumerate(ROUNDING_TABLE)]
    lines, _ = rate_lines(specs)
    got = [(lines[f"r{i}"]["window_months"], lines[f"r{i}"]["arpu_yuan"],
            lines[f"r{i}"]["arpu_score"]) for i in range(len(ROUNDING_TABLE))]
    assert got == [(n, arpu, max(arpu, 0)) for _, n, arpu in ROUNDING_TABLE]


@budget(8)
@given(j=st.integers(0, 40), tenure=st.sampled_from([130, 13, 40]),
       delta=st.sampled_from([0, 0, -1, 1]))
def test_threshold_rounds_half_up(j: int, tenure: int, delta: int) -> None:
    """One rated line: every cut point is its score; a score ending in exactly 5 points goes
    up (15 -> 20, 45 -> 50: banker's would give 40); a hundredth less goes down."""
    coef = {130: Fraction(3, 2), 13: Fraction(11, 10), 40: Fraction(13, 10)}[tenure]
    # Choose an ARPU whose score is as close above a ...5 point as the coefficient allows.
    arpu = math.ceil((10 * j + 5) / coef) + delta
    assume(arpu >= 0)
    lines, result = rate_lines([("1", tenure, [(-1, fen_text(arpu * 100 * 12))])])
    line = lines["1"]
    score = arpu * coef
    assert line["score_x100"] == score * 100
    result_thresholds = [t for p in result.partitions for t in p.thresholds]
    assert [t.raw_x100 for t in result_thresholds] == [int(score * 100)] * 4
    # Half up to tens, written out case by case rather than with a formula.
    tens, rest = divmod(score, 10)
    expected = int(tens) * 10 + (10 if rest >= 5 else 0)
    assert all(t.rounded == expected for t in result_thresholds), (score, result_thresholds)
    if score % 10 == 5:
        assert expected == score + 5
    # The line's tier: ties go up; below every threshold it is one-star.
    assert line["tier"] == (5 if score >= expected else 1)


# --- 3. monotonicity ----------------------------------------------------------------------

@budget(12)
@given(ex=extracts(), raw=raw_policies(by_region=False, fixed=None) | raw_policies(
    by_region=True, fixed=None))
def test_thresholds_and_tiers_are_monotone(ex: dict[str, Any], raw: dict[str, Any]) -> None:
    result = run(ex, raw)
    tiers = len(raw["rating"]["shares"])
    for p in result.partitions:
        t = p.thresholds
        assert [x.tier for x in t] == list(range(tiers, 1, -1)) or p.rated == 0
        assert all(a.rounded >= b.rounded for a, b in itertools.pairwise(t)), t
        if "fixed_thresholds" not in raw["rating"]:
            assert all(a.raw_x100 >= b.raw_x100 for a, b in itertools.pairwise(t)), t
            assert all(a.rank <= b.rank for a, b in itertools.pairwise(t)), t
            assert all(1 <= x.rank <= p.rated for x in t), t
        assert sum(c.count for c in p.tiers) == p.rated
    lines = result.lines.filter(pl.col("reason").is_null())
    for (_name,), part in lines.group_by("partition"):
        pairs = sorted(zip(part["score_x100"].to_list(), part["tier"].to_list()))
        assert all(1 <= tier <= tiers for _, tier in pairs)
        for (s1, t1), (s2, t2) in itertools.pairwise(pairs):
            assert t1 <= t2, f"score {s1} has tier {t1} but higher score {s2} has tier {t2}"
            if s1 == s2:
                assert t1 == t2, f"equal scores {s1} in different tiers"


# --- 5. per-region partitions and fixed thresholds --------------------------------------------

@budget(12)
@given(ex=extracts(max_subs=50, with_region=True), raw=raw_policies(by_region=True, fixed=False))
def test_by_region_equals_reference(ex: dict[str, Any], raw: dict[str, Any]) -> None:
    assert_matches(run(ex, raw), reference(ex, raw), by_region=True)


@budget(10)
@given(ex=extracts(), raw=raw_policies(by_region=False, fixed=True)
       | raw_policies(by_region=True, fixed=True))
def test_fixed_thresholds_equal_reference(ex: dict[str, Any], raw: dict[str, Any]) -> None:
    result = run(ex, raw)
    by_region = raw["rating"]["thresholds_by_region"]
    assert_matches(result, reference(ex, raw), by_region=by_region)
    fixed = raw["rating"]["fixed_thresholds"]
    for p in result.partitions:
        if p.rated:
            assert [t.rounded for t in p.thresholds] == fixed
            assert all(t.rank is None and t.raw_x100 is None for t in p.thresholds)


def test_region_partition_ignores_case() -> None:
    """SPEC 1: text values are compared trimmed and case-insensitively."""
    subs = [{"subscriber_id": str(i), "join_date": "2020-01-01", "status": "active",
             "region": r} for i, r in enumerate(["north", "North", " NORTH", "north"])]
    bills = [(str(i), "2026-10", f"{12 * a}.00") for i, a in enumerate([100, 50, 20, 10])]
    ex = {"month": "2026-11", "subs": subs, "bills": bills}
    raw = {"rating": {"shares": [5, 10, 15, 40, 30], "thresholds_by_region": True,
                      "tenure_bands": [{"from": 7, "coefficient": 1}]}, "sla": sla_for(5)}
    result = run(ex, raw)
    assert result.lines["partition"].cast(pl.String).n_unique() == 1, result.lines.select(
        "subscriber_id", "region", "partition", "tier")


def test_bills_before_joining_are_outside_the_window() -> None:
    """SPEC 2-3: the window starts at max(join month, M-12). A line whose only rows inside
    M-12..M-1 predate its join month has no history; a pre-join row never counts as revenue."""
    ex = {"month": "2026-11",
          "subs": [{"subscriber_id": "1", "join_date": "2026-05-01", "status": "active"},
                   {"subscriber_id": "2", "join_date": "2026-05-01", "status": "active"},
                   {"subscriber_id": "3", "join_date": "2020-01-01", "status": "active"}],
          "bills": [("1", "2026-04", "60.00"),
                    ("2", "2026-04", "60.00"), ("2", "2026-06", "6.00"),
                    ("3", "2026-10", "12.00")]}
    lines = engine_lines(run(ex))
    assert lines["1"]["reason"] == "no_history", lines["1"]
    assert (lines["2"]["window_months"], lines["2"]["arpu_yuan"]) == (6, 1), lines["2"]
    assert_matches(run(ex), reference(ex))


def test_an_extract_without_a_row_in_the_window_is_rejected() -> None:
    """A decision (README): N = 0 from eligibility succeeds (SPEC 4), but an extract with no
    billing row at all inside the window is the wrong file or month (issue 5: bad input)."""
    ex = {"month": "2026-11",
          "subs": [{"subscriber_id": "1", "join_date": "2020-01-01", "status": "active"}],
          "bills": [("1", "2026-11", "10.00"), ("1", "2025-10", "10.00")]}
    with pytest.raises(tiering.InputError, match="none of its 2 rows falls in the ARPU window"):
        run(ex)


# --- 6. input representations -----------------------------------------------------------------

def _with_amounts(bills: pl.DataFrame, kind: str) -> tuple[pl.DataFrame, str]:
    dec = [Decimal(a.strip()) for a in bills["amount"].to_list()]
    if kind == "float":
        col = pl.Series("amount", [float(d) for d in dec], dtype=pl.Float64)
    elif kind == "fen":
        col = pl.Series("amount", [int(d * 100) for d in dec], dtype=pl.Int64)
    else:
        col = pl.Series("amount", [d.quantize(Decimal("0.01")) for d in dec],
                        dtype=pl.Decimal(14, 2))
    return bills.with_columns(col), ("fen" if kind == "fen" else "yuan")


def _same(a: Any, b: Any) -> None:
    key = pl.col("subscriber_id").cast(pl.String)
    la = a.lines.with_columns(key).sort("subscriber_id")
    lb = b.lines.with_columns(key).sort("subscriber_id")
    assert la.equals(lb), (la, lb)
    assert a.partitions == b.partitions
    assert a.unrated == b.unrated


@budget(8)
@given(ex=extracts(), raw=st.none() | raw_policies(fixed=False),
       kind=st.sampled_from(["float", "fen", "decimal"]))
def test_amount_representations_agree(ex: dict[str, Any], raw: dict[str, Any] | None,
                                      kind: str) -> None:
    bills, subs = frames(ex)
    policy = parse_policy(raw, source="test", base_dir=None) if raw is not None else None
    as_text = tiering.rate(ex["month"], bills, subs, policy=policy)
    other_bills, unit = _with_amounts(bills, kind)
    other = tiering.rate(ex["month"], other_bills, subs, policy=policy, amount_unit=unit)
    _same(as_text, other)
    # And against the reference, fed the same typed values.
    typed = list(zip(bills["subscriber_id"].to_list(),
                     bills["bill_month"].to_list(), other_bills["amount"].to_list()))
    assert_matches(other, reference_rate(ex["month"], typed, ex["subs"], raw, amount_unit=unit))


# Floats whose value times 100 is not exact in binary (0.29 * 100 = 28.999999999999996).
INEXACT = [0.29, 0.57, 0.07, 1.15, 4.35, 12.35, 2.01, 0.58, 1.13, 5.55]


def test_float_amounts_land_on_the_fen() -> None:
    """Sums placed exactly on a half (600 fen / 12 months = 0.5 -> 1) and one fen below it
    (599 -> 0), each made of two inexact floats: a fen lost or gained flips the ARPU."""
    subs, bills, want = [], [], {}
    for i, x in enumerate(INEXACT):
        for total, arpu in ((600, 1), (599, 0), (-600, -1), (-599, 0)):
            sid = f"{i}:{total}"
            y = float(Decimal(total) / 100 - Decimal(str(x)))
            subs.append({"subscriber_id": sid, "join_date": "2020-01-01", "status": "active"})
            bills += [(sid, "2026-03", x), (sid, "2026-07", y)]
            want[sid] = arpu
    frame = pl.DataFrame({"subscriber_id": [b[0] for b in bills],
                          "bill_month": [b[1] for b in bills],
                          "amount": [b[2] for b in bills]},
                         schema={"subscriber_id": pl.String, "bill_month": pl.String,
                                 "amount": pl.Float64})
    result = tiering.rate("2026-11", frame, pl.DataFrame(subs))
    got = {r["subscriber_id"]: r["arpu_yuan"] for r in result.lines.iter_rows(named=True)}
    assert got == want


@budget(8)
@given(ex=extracts(), raw=st.none() | raw_policies(fixed=None),
       sub_int=st.booleans(), bill_int=st.booleans())
def test_integer_ids_give_the_same_tiers(ex: dict[str, Any], raw: dict[str, Any] | None,
                                         sub_int: bool, bill_int: bool) -> None:
    assume(sub_int or bill_int)
    # Integer-looking text ids without leading zeros, so both spellings name the same line.
    ids = {r["subscriber_id"]: str(13_800_000_000 + i) for i, r in enumerate(ex["subs"])}
    ids["19999999999"] = "19999999999"
    ex = {"month": ex["month"],
          "subs": [dict(r, subscriber_id=ids[r["subscriber_id"]]) for r in ex["subs"]],
          "bills": [(ids[s], m, a) for s, m, a in ex["bills"]]}
    bills, subs = frames(ex)
    policy = parse_policy(raw, source="test", base_dir=None) if raw is not None else None
    as_text = tiering.rate(ex["month"], bills, subs, policy=policy)
    if sub_int:
        subs = subs.with_columns(pl.col("subscriber_id").cast(pl.Int64))
    if bill_int:
        bills = bills.with_columns(pl.col("subscriber_id").cast(pl.Int64))
    as_int = tiering.rate(ex["month"], bills, subs, policy=policy)
    _same(as_text, as_int)
    assert_matches(as_text, reference(ex, raw))


def test_integer_ids_are_kept_as_given() -> None:
    """SPEC 1: subscriber_id is an opaque key, integer or string, kept as given."""
    subs = pl.DataFrame({"subscriber_id": [13800000001, 13800000002],
                         "join_date": ["2020-05-01", "2020-01-01"], "status": ["active"] * 2})
    bills = pl.DataFrame({"subscriber_id": [13800000001, 13800000002],
                          "bill_month": ["2026-10", "2026-10"], "amount": ["60.00", "12.00"]})
    result = tiering.rate("2026-11", bills, subs)
    assert result.lines["subscriber_id"].dtype.is_integer(), result.lines["subscriber_id"]
    assert sorted(result.lines["subscriber_id"].to_list()) == [13800000001, 13800000002]


@pytest.mark.parametrize("subs_type", [pl.String, pl.UInt64])
def test_unsigned_ids_beyond_int64_are_rated(subs_type: pl.DataType) -> None:
    """An unsigned 64-bit id column (Parquet uint64) may hold ids above the int64 range: they
    join as text, never fail the run with a cast error."""
    big = 2**64 - 1
    subs = pl.DataFrame({"subscriber_id": [str(big), "138"], "join_date": ["2020-01-01"] * 2,
                         "status": ["active"] * 2}).with_columns(
        pl.col("subscriber_id").cast(subs_type))
    bills = pl.DataFrame({"subscriber_id": pl.Series([big, 138, 139], dtype=pl.UInt64),
                          "bill_month": ["2026-10"] * 3, "amount": ["120.00", "24.00", "1"]})
    result = tiering.rate("2026-11", bills, subs)
    got = {str(r["subscriber_id"]): r["arpu_yuan"] for r in result.lines.iter_rows(named=True)}
    assert got == {str(big): 10, "138": 2}
    assert result.counts["unknown_subscriber_rows"] == 1


# --- 4. a realistic large extract -------------------------------------------------------------

N_LARGE = 20_000


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from fixtures.generate import generate

    out = tmp_path_factory.mktemp("large")
    sub_path, bill_path = generate(N_LARGE, out, fmt="parquet")
    subs = pl.read_parquet(sub_path)
    bills = pl.read_parquet(bill_path)
    # The reference reads plain Python values (amounts arrive as decimal.Decimal).
    sub_rows = subs.to_dicts()
    bill_rows = list(zip(bills["subscriber_id"].to_list(), bills["bill_month"].to_list(),
                         bills["amount"].to_list()))
    return {"sub_path": sub_path, "bill_path": bill_path, "subs": sub_rows, "bills": bill_rows}


def _scores(ref: RefResult, partition: Any) -> list[Fraction]:
    return sorted((x.score for x in ref.lines.values()
                   if x.reason is None and x.partition == partition), reverse=True)


def test_large_extract_equals_reference_and_shares(large: dict[str, Any]) -> None:
    result = tiering.rate("2026-11", str(large["bill_path"]), str(large["sub_path"]))
    ref = reference_rate("2026-11", large["bills"], large["subs"], None)
    assert_matches(result, ref)
    (part,) = result.partitions
    n = part.rated
    assert n > N_LARGE // 2  # most generated lines are rated
    scores = _scores(ref, "all")

    def at_least(points: Fraction) -> int:
        return sum(1 for s in scores if s >= points)

    counts = {c.tier: c.count for c in part.tiers}
    for t in part.thresholds:
        raw = Fraction(t.raw_x100, 100)
        want_rank = math.ceil(Fraction(t.cumulative_share_x100, 10_000) * n)
        # Nearest rank, as guaranteed: at least ceil(pN) lines score >= C_p, fewer score > C_p.
        assert t.rank == want_rank
        assert at_least(raw) >= want_rank > sum(1 for s in scores if s > raw)
        # Rounding moves the boundary by at most 5 points (C - 5 < T <= C + 5), so the lines
        # at or above tier t are bracketed by the lines within 5 points of the raw cut.
        realised = sum(c for tier, c in counts.items() if tier >= t.tier)
        assert realised == at_least(Fraction(t.rounded))
        assert at_least(raw + 5) <= realised <= sum(1 for s in scores if s > raw - 5)
    # Empirical, not a guarantee: nothing bounds |realised - nominal| in general (a
    # concentrated distribution can put any share of the lines between C_p and T_p; only the
    # bracket above holds). On this seeded, smooth (lognormal) extract the largest gap is ~3.1
    # points (one-star: the 70% cut 37.40 rounds up to 40), so 5 points flags a real change.
    for c in part.tiers:
        assert abs(c.realised_share_x100 - c.nominal_share_x100) <= 500, part.tiers
    assert sum(c.count for c in part.tiers) == n


def test_large_extract_by_region_equals_reference(large: dict[str, Any]) -> None:
    raw = {"rating": {"shares": [5, 10, 15, 40, 30], "thresholds_by_region": True,
                      "tenure_bands": [{"from": 7, "to": 12, "coefficient": 1.0},
                                       {"from": 13, "to": 24, "coefficient": 1.1},
                                       {"from": 25, "to": 36, "coefficient": 1.2},
                                       {"from": 37, "to": 60, "coefficient": 1.3},
                                       {"from": 61, "to": 120, "coefficient": 1.4},
                                       {"from": 121, "coefficient": 1.5}]},
           "sla": sla_for(5)}
    policy = parse_policy(raw, source="test", base_dir=None)
    result = tiering.rate("2026-11", str(large["bill_path"]), str(large["sub_path"]),
                          policy=policy)
    ref = reference_rate("2026-11", large["bills"], large["subs"], raw)
    assert_matches(result, ref, by_region=True)
    assert len(ref.partitions) == 5
