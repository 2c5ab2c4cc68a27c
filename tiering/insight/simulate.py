"""A stored month rated again under another policy, written nowhere.

The month's stored facts go through tiering.engine.rerate (the rules of a run, without the
billing extract); this module only compares the result with what is stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from tiering.engine import rerate
from tiering.insight.diff import base_tier, matrix, moves, pairs
from tiering.policy import Policy
from tiering.thresholds import PartitionThresholds


def _share(x100: int) -> int | float:
    """A share in percent as ``thresholds --json`` writes it: 5, 12.5."""
    value = Decimal(x100) / 100
    return int(value) if value == value.to_integral_value() else float(value)


def thresholds_doc(month: str, partitions: tuple[PartitionThresholds, ...]) -> dict[str, Any]:
    """Partitions' cut points and tier counts in the shape of ``thresholds --json``."""
    return {"month": month, "partitions": [{
        "partition": p.partition, "rated": p.rated,
        "thresholds": [{"tier": t.tier, "cumulative_share": _share(t.cumulative_share_x100),
                        "rank": t.rank,
                        "raw": None if t.raw_x100 is None else f"{Decimal(t.raw_x100) / 100:.2f}",
                        "rounded": t.rounded} for t in p.thresholds],
        "tiers": [{"tier": c.tier, "count": c.count,
                   "nominal_share": _share(c.nominal_share_x100),
                   "realised_share": float(Decimal(c.realised_share_x100) / 100)}
                  for c in p.tiers],
    } for p in partitions]}


def workload(current: pl.DataFrame, simulated: pl.DataFrame, now: Policy, new: Policy
             ) -> list[dict[str, Any]]:
    """Per SLA class: lines per service tier (``base_tier``: highest of own tier and the
    customer's best line, else the unrated service tier; manual overrides left out, they do
    not depend on the rating policy) times the class's target for the tier, now and
    simulated (each under its own policy's SLA table)."""
    def per_tier(frame: pl.DataFrame) -> dict[int, int]:
        return dict(frame.group_by("base_tier").len().iter_rows())

    lines_now, lines_new = per_tier(current), per_tier(simulated)
    out = []
    for name, c_now in now.sla.classes.items():
        c_new = new.sla.classes.get(name)
        tiers = sorted({*range(1, now.rating.tiers + 1), *range(1, new.rating.tiers + 1)},
                       reverse=True)
        rows = [{"tier": t,
                 "lines_now": lines_now.get(t, 0), "target_now":
                     c_now.target(t) if t <= now.rating.tiers else None,
                 "lines_simulated": lines_new.get(t, 0), "target_simulated":
                     c_new.target(t) if c_new is not None and t <= new.rating.tiers else None}
                for t in tiers]
        out.append({
            "class": name, "unit": c_now.unit, "clock": c_now.clock, "tiers": rows,
            "total_now": sum(r["lines_now"] * (r["target_now"] or 0) for r in rows),
            "total_simulated": None if c_new is None or c_new.unit != c_now.unit else sum(
                r["lines_simulated"] * (r["target_simulated"] or 0) for r in rows),
        })
    return out


def simulate(lines: pl.DataFrame, month: str, now: Policy, new: Policy,
             doc_now: dict[str, Any]) -> dict[str, Any]:
    """The ``simulate --json`` document for a month's stored lines (``Store.month_lines``)
    rated again under ``new``."""
    rerated, partitions = rerate(lines, month, new)
    current = lines.with_columns(base_tier=base_tier(now.rating.unrated_service_tier))
    simulated = rerated.with_columns(base_tier=base_tier(new.rating.unrated_service_tier))
    both = pairs(current, simulated, ("tier",))
    return {
        "month": month, "policy_fingerprint": new.fingerprint,
        "stored_policy_fingerprint": now.fingerprint,
        "thresholds": {"current": doc_now, "simulated": thresholds_doc(month, partitions)},
        "matrix": matrix(both, max(now.rating.tiers, new.rating.tiers)),
        "moves": moves(both),
        "workload": workload(current, simulated, now, new),
    }
