"""Fuzzing the readers and the policy loader: arbitrary bytes and values may only give a
correct result or a clean TieringError — never another exception, never a changed store."""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

import tiering
from tiering.errors import TieringError
from tiering.policy import load_policy
from tiering.store import Store

SUBS = "subscriber_id,join_date,status\nA1,2020-01-15,active\nA2,2021-03-02,active\n"
BILL = "subscriber_id,bill_month,amount\nA1,2026-01,10.00\nA2,2026-02,20.50\n"
DEFAULT = (Path(__file__).parent.parent / "tiering/data/default_policy.toml").read_text()
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

cell = st.text(alphabet=string.printable + "é李\x00\ufeff", max_size=12)
rows = st.lists(st.lists(cell, min_size=1, max_size=4), max_size=6)


def _csv(header: str, body: list[list[str]]) -> bytes:
    return (header + "\n" + "\n".join(",".join(r) for r in body)).encode("utf-8", "replace")


def _rate_or_clean_error(tmp: Path, billing: bytes, subscribers: bytes) -> None:
    (tmp / "b.csv").write_bytes(billing)
    (tmp / "s.csv").write_bytes(subscribers)
    store = tmp / "t.duckdb"
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    try:
        result = tiering.rate("2026-11", tmp / "b.csv", tmp / "s.csv")
    except TieringError as exc:
        assert str(exc)
    else:
        assert result.lines.height == result.counts["subscribers"]
        assert result.counts["rated"] == sum(p.rated for p in result.partitions)
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def _store(tmp: Path) -> None:
    store = tmp / "t.duckdb"
    if not store.exists():
        (tmp / "b0.csv").write_text(BILL)
        (tmp / "s0.csv").write_text(SUBS)
        Store(store).write_month(tiering.rate("2026-11", tmp / "b0.csv", tmp / "s0.csv"))


@FUZZ
@given(body=rows)
def test_billing_rows_fuzz(tmp_path: Path, body: list[list[str]]):
    _store(tmp_path)
    _rate_or_clean_error(tmp_path, _csv("subscriber_id,bill_month,amount", body), SUBS.encode())


@FUZZ
@given(body=rows)
def test_subscriber_rows_fuzz(tmp_path: Path, body: list[list[str]]):
    _store(tmp_path)
    _rate_or_clean_error(tmp_path, BILL.encode(),
                         _csv("subscriber_id,join_date,status,billed_in_month", body))


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes(tmp_path: Path, data: bytes):
    _store(tmp_path)
    _rate_or_clean_error(tmp_path, data, SUBS.encode())
    _rate_or_clean_error(tmp_path, BILL.encode(), data)


@FUZZ
@given(data=st.binary(max_size=300))
def test_policy_bytes(tmp_path: Path, data: bytes):
    (tmp_path / "p.toml").write_bytes(data)
    try:
        load_policy(tmp_path / "p.toml")
    except TieringError as exc:
        assert str(exc)


scalar = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=5),
                   st.booleans(), st.lists(st.integers(-5, 200), max_size=6))


@FUZZ
@given(key=st.sampled_from(["shares", "round_to", "unrated_service_tier", "min_tenure_months",
                            "fixed_thresholds", "thresholds_by_region", "warning_at",
                            "targets", "timezone", "clock", "unit", "coefficient"]),
       value=scalar)
def test_policy_values(tmp_path: Path, key: str, value: object):
    import json

    text = DEFAULT
    literal = json.dumps(value) if not isinstance(value, float) or value == value else "nan"
    if literal in ("Infinity", "-Infinity"):
        literal = literal.replace("Infinity", "inf")
    for line in DEFAULT.splitlines():
        if line.strip().startswith(f"{key} =") or line.strip().startswith(f"# {key} ="):
            text = text.replace(line, f"{key} = {literal}", 1)
            break
        if f"{key} = " in line and "{" in line:
            head, _, rest = line.partition(f"{key} = ")
            tail = rest[rest.index(" }"):] if " }" in rest else ""
            text = text.replace(line, f"{head}{key} = {literal}{tail}", 1)
            break
    (tmp_path / "p.toml").write_text(text)
    try:
        load_policy(tmp_path / "p.toml")
    except TieringError as exc:
        assert str(exc)
