"""A plain, slow, obviously-correct reference for SPEC sections 1-5 (rating only).

Pure Python: ints and ``fractions.Fraction``, loops, no polars, nothing from ``tiering``.
The policy is read from the same raw mapping a TOML policy file decodes to, so the reference
does not trust the engine's policy parser either.

    ref = reference_rate("2026-11", billing_rows, subscriber_rows, raw_policy)

``billing_rows``: iterable of (subscriber_id, bill_month, amount); ``subscriber_rows``: iterable
of dicts with subscriber_id, join_date, status and optionally customer_id, line_type, region,
billed_in_month. Values as they would appear in an extract (text, or numbers for amounts).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

REASONS = ("future_join", "new", "inactive", "line_type", "not_billed", "no_history")
WINDOW = 12
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}

DEFAULT_BANDS = [(7, 12, "1.0"), (13, 24, "1.1"), (25, 36, "1.2"), (37, 60, "1.3"),
                 (61, 120, "1.4"), (121, None, "1.5")]


# --- small exact helpers ----------------------------------------------------------------------

def round_half_away(x: Fraction | int) -> int:
    """Nearest integer, .5 away from zero (四舍五入)."""
    x = Fraction(x)
    magnitude = math.floor(abs(x) + Fraction(1, 2))
    return -magnitude if x < 0 else magnitude


@functools.cache
def month_index(text: str) -> int:
    m = re.fullmatch(r"\s*(\d{4})-(\d{2})\s*", text)
    assert m, text
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_of_date(text: str) -> int:
    d = dt.date.fromisoformat(text.strip())
    return d.year * 12 + d.month - 1


def exact(value: Any) -> Fraction:
    """A number given in a policy (int, float, text) as the exact decimal it spells."""
    return Fraction(Decimal(str(value)))


def amount_fen(value: Any, unit: str) -> int:
    if unit == "fen":
        assert isinstance(value, int) and not isinstance(value, bool)
        return value
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value * 100
    if isinstance(value, float):
        scaled = Fraction(value) * 100
        fen = round_half_away(scaled)
        assert abs(scaled - fen) <= Fraction(1, 10_000), value  # on the fen within 1e-6 yuan
        return fen
    # Decimal arithmetic is exact here (amounts have far fewer than 28 digits).
    d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    fen = d * 100
    assert fen == fen.to_integral_value(), f"more than 2 decimals: {value!r}"
    return int(fen)


def clean(value: Any) -> str | None:
    """Trimmed text; empty (or missing) means absent."""
    if value is None:
        return None
    t = str(value).strip()
    return t or None


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    t = clean(value)
    if t is None:
        return None
    t = t.lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS:
        return False
    raise ValueError(value)


# --- the policy, read from the raw mapping ----------------------------------------------------

@dataclass(frozen=True)
class RefPolicy:
    shares: tuple[Fraction, ...]  # percent, top tier first
    fixed: tuple[int, ...] | None
    round_to: int
    by_region: bool
    min_tenure: int
    bands: tuple[tuple[int, int | None, Fraction], ...]

    @property
    def tiers(self) -> int:
        return len(self.shares)

    def cumulative(self) -> list[Fraction]:
        out, acc = [], Fraction(0)
        for s in self.shares[:-1]:
            acc += s
            out.append(acc)
        return out

    def coefficient(self, tenure: int) -> Fraction:
        for first, last, coef in self.bands:
            if tenure >= first and (last is None or tenure <= last):
                return coef
        raise AssertionError(f"no band for tenure {tenure}")


def ref_policy(raw: Mapping[str, Any] | None) -> RefPolicy:
    r = dict((raw or {}).get("rating", {}))
    shares = tuple(exact(s) for s in r.get("shares", [5, 10, 15, 40, 30]))
    fixed = r.get("fixed_thresholds")
    bands = r.get("tenure_bands")
    if bands is None:
        band_t = tuple((a, b, exact(c)) for a, b, c in DEFAULT_BANDS)
    else:
        band_t = tuple((b["from"], b.get("to"), exact(b["coefficient"])) for b in bands)
    return RefPolicy(
        shares=shares,
        fixed=tuple(fixed) if fixed is not None else None,
        round_to=r.get("round_to", 10),
        by_region=r.get("thresholds_by_region", False),
        min_tenure=r.get("min_tenure_months", 7),
        bands=band_t,
    )


# --- the rating -------------------------------------------------------------------------------

@dataclass
class RefLine:
    subscriber_id: Any
    customer_id: str | None
    region: str | None
    tenure_months: int
    window_months: int | None
    sum_fen: int | None
    arpu_yuan: int | None
    arpu_score: int | None
    coefficient: Fraction | None
    score: Fraction | None
    tier: int | None
    reason: str | None
    partition: Any = None
    customer_tier: int | None = None

    @property
    def score_x100(self) -> int | None:
        if self.score is None:
            return None
        x = self.score * 100
        assert x.denominator == 1
        return int(x)

    @property
    def coefficient_x100(self) -> int | None:
        if self.coefficient is None:
            return None
        x = self.coefficient * 100
        assert x.denominator == 1
        return int(x)


@dataclass
class RefThreshold:
    tier: int
    cumulative_share: Fraction  # percent
    rank: int | None
    raw: Fraction | None  # score points
    rounded: int


@dataclass
class RefPartition:
    name: Any
    rated: int
    thresholds: list[RefThreshold]
    counts: dict[int, int]  # tier -> count, every tier present

    def realised_share_x100(self, tier: int) -> int:
        """percent x 100, half up."""
        return round_half_away(Fraction(self.counts[tier] * 10_000, self.rated))


@dataclass
class RefResult:
    lines: dict[Any, RefLine]
    partitions: dict[Any, RefPartition]  # only partitions with rated lines (or fixed mode)


def nearest_rank(p_percent: Fraction, n: int) -> int:
    return math.ceil(p_percent / 100 * n)


def cut_points(scores: list[Fraction], policy: RefPolicy) -> list[RefThreshold]:
    cum = policy.cumulative()
    tiers = policy.tiers
    if policy.fixed is not None:
        return [RefThreshold(tiers - i, p, None, None, t)
                for i, (p, t) in enumerate(zip(cum, policy.fixed))]
    ordered = sorted(scores, reverse=True)
    n = len(ordered)
    out = []
    for i, p in enumerate(cum):
        rank = nearest_rank(p, n)
        raw = ordered[rank - 1]
        rounded = policy.round_to * round_half_away(raw / policy.round_to)
        out.append(RefThreshold(tiers - i, p, rank, raw, rounded))
    return out


def tier_of(score: Fraction, thresholds: list[RefThreshold]) -> int:
    return 1 + sum(1 for t in thresholds if score >= t.rounded)


def reference_rate(
    month: str,
    billing_rows: Iterable[tuple[Any, str, Any]],
    subscriber_rows: Iterable[Mapping[str, Any]],
    raw_policy: Mapping[str, Any] | None = None,
    *,
    amount_unit: str = "yuan",
    region_key=str.lower,
) -> RefResult:
    """``region_key`` maps a (trimmed) region to its partition key when partitioning by region:
    text is compared case-insensitively (SPEC 1), and partitions are named in lower case."""
    pol = ref_policy(raw_policy)
    m = month_index(month)

    # Itemised rows are summed per (subscriber, month).
    per_month: dict[Any, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for sid, bill_month, amount in billing_rows:
        per_month[sid][month_index(bill_month)] += amount_fen(amount, amount_unit)

    lines: dict[Any, RefLine] = {}
    for row in subscriber_rows:
        sid = row["subscriber_id"]
        assert sid not in lines, f"duplicate subscriber {sid!r}"
        join = month_of_date(row["join_date"])
        tenure = m - join + 1
        status = clean(row["status"])
        line_type = clean(row.get("line_type"))
        billed = flag(row.get("billed_in_month"))
        start = max(join, m - WINDOW)
        window = range(start, m)  # start .. M-1
        bills = per_month.get(sid, {})
        has_history = any(k in bills for k in window)
        checks = [
            join > m,
            tenure < pol.min_tenure,
            status is None or status.lower() != "active",
            line_type is not None and line_type.lower() != "personal",
            billed is False,
            not has_history,
        ]
        reason = next((code for code, failed in zip(REASONS, checks) if failed), None)
        line = RefLine(sid, clean(row.get("customer_id")), clean(row.get("region")), tenure,
                       None, None, None, None, None, None, None, reason)
        if reason is None:
            n = len(window)
            total = sum(bills.get(k, 0) for k in window)
            arpu = round_half_away(Fraction(total, 100 * n))
            coef = pol.coefficient(tenure)
            line.window_months = n
            line.sum_fen = total
            line.arpu_yuan = arpu
            line.arpu_score = max(arpu, 0)
            line.coefficient = coef
            line.score = line.arpu_score * coef
        lines[sid] = line

    # Partitions and thresholds.
    groups: dict[Any, list[RefLine]] = defaultdict(list)
    for line in lines.values():
        if pol.by_region:
            line.partition = None if line.region is None else region_key(line.region)
        else:
            line.partition = "all"
        if line.reason is None:
            groups[line.partition].append(line)
    partitions = {}
    for name, members in groups.items():
        thresholds = cut_points([x.score for x in members], pol)
        for x in members:
            x.tier = tier_of(x.score, thresholds)
        counts = {t: 0 for t in range(1, pol.tiers + 1)}
        for x in members:
            counts[x.tier] += 1
        partitions[name] = RefPartition(name, len(members), thresholds, counts)

    # Customer tier: the highest tier among the customer's lines.
    best: dict[str, int] = {}
    for line in lines.values():
        if line.customer_id is not None and line.tier is not None:
            best[line.customer_id] = max(best.get(line.customer_id, 0), line.tier)
    for line in lines.values():
        if line.customer_id is not None:
            line.customer_tier = best.get(line.customer_id)
    return RefResult(lines, partitions)
