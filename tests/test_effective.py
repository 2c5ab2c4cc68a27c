"""Highest applies (就高原则): the store's SQL answer equals the pure rule in tiering.sla on
every line of the hand-checked fixture, on every day around the overrides' validity edges."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import tiering
from tiering.sla import effective_tier
from tiering.store import Store


def test_store_and_pure_rule_agree(small: Path, tmp_path: Path):
    result = tiering.rate("2026-11", small / "billing.csv", small / "subscribers.csv",
                          overrides=small / "overrides.csv")
    store = Store(tmp_path / "t.duckdb")
    store.write_month(result)
    lines = list(result.lines.iter_rows(named=True))
    with open(small / "overrides.csv", newline="") as f:
        overrides = list(csv.DictReader(f))
    ids = [r["subscriber_id"] for r in lines]
    for day in range(40):
        on = date(2025, 12, 20) + timedelta(days=day * 9)
        _, _, rows = store.lines(ids, at=on)
        got = {r["subscriber_id"]: r["effective"].tier for r in rows}
        for line in lines:
            siblings = [x["tier"] for x in lines
                        if line["customer_id"] and x["customer_id"] == line["customer_id"]]
            active = [int(o["tier"]) for o in overrides
                      if (o["subscriber_id"] == line["subscriber_id"]
                          or (o["customer_id"] and o["customer_id"] == line["customer_id"]))
                      and date.fromisoformat(o["valid_from"]) <= on
                      and (not o["valid_to"] or on <= date.fromisoformat(o["valid_to"]))]
            assert got[line["subscriber_id"]] == effective_tier(
                line["tier"], siblings, active), (line["subscriber_id"], on)


def test_unrated_alone_is_served_at_the_policy_tier():
    assert effective_tier(None, [None], []) == 1
    assert effective_tier(None, [], [3]) == 3
    assert effective_tier(2, [4, None], [3]) == 4
