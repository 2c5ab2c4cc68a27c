"""The in-memory index of a month (tiering.store.index) gives the answers of the SQL look-ups
and of the pure rule (tiering.sla.effective_tier) on random stores, serves a swapped-in store,
answers without a query once built, and leaves the months it cannot index to SQL."""

from __future__ import annotations

import string
import tempfile
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiering
from tiering.errors import NotFound
from tiering.store.index import codec_for
from tiering.sla import effective_tier
from tiering.store import StoreReader
from tiering.store.reader import FEW_ROWS
from tiering.store.writer import publishing

POLICY = tiering.load_policy()
FIRST_DAY = date(2026, 9, 1)


@dataclass(frozen=True)
class Line:
    subscriber_id: str
    customer_id: str | None
    tier: int | None


@dataclass(frozen=True)
class Override:
    subscriber_id: str | None
    customer_id: str | None
    tier: int
    valid_from: date
    valid_to: date | None
    reason: str | None

    def active(self, line: Line, on: date) -> bool:
        mine = self.subscriber_id == line.subscriber_id or (
            self.customer_id is not None and self.customer_id == line.customer_id)
        return mine and self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


def write_store(path: Path, months: dict[str, tuple[list[Line], list[Override]]], *,
                reverse: bool = False, parts: int = 1) -> None:
    """A store holding exactly these lines and overrides (the rating is not under test
    here); ``reverse`` stores the lines against id order, as another writer might;
    ``parts`` writes each month as that many files, the ids hash-partitioned across them
    and each file in id order (as the partitioned engine writes a month)."""
    with publishing(path) as pub:
        for month, (lines, overrides) in months.items():
            best: dict[str, int] = {}
            for x in lines:
                if x.customer_id is not None and x.tier is not None:
                    best[x.customer_id] = max(best.get(x.customer_id, 0), x.tier)
            folder = pub.new_month_dir(month)
            split = [[x for x in lines if _part(x.subscriber_id, parts) == k]
                     for k in range(parts)]
            files = [folder / f"part-{k}.parquet" for k, some in enumerate(split) if some]
            for file, some in zip(files, (some for some in split if some), strict=True):
                _write_part(file, some, best, reverse)
            pub.replace_month(month, files)
            pub.con.execute("INSERT INTO runs VALUES (?, now(), 'test', 'fp', ?, ?, '{}', "
                            "'{}', '{}', '{}')",
                            [month, POLICY.text, POLICY.rating.unrated_service_tier])
            for o in overrides:
                pub.con.execute("INSERT INTO overrides VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [month, o.subscriber_id, o.customer_id, o.tier, o.valid_from,
                                 o.valid_to, o.reason])


def _part(subscriber_id: str, parts: int) -> int:
    return zlib.crc32(subscriber_id.encode()) % parts


def _write_part(file: Path, lines: list[Line], best: dict[str, int], reverse: bool) -> None:
    ordered = sorted(lines, key=lambda x: x.subscriber_id, reverse=reverse)
    n = len(ordered)
    frame = pl.DataFrame({
        "subscriber_id": [x.subscriber_id for x in ordered],
        # Typed: a part whose lines all lack a customer is still a text column, as the
        # store's writer (tiering.store.write_lines) makes it.
        "customer_id": pl.Series([x.customer_id for x in ordered], dtype=pl.String),
        "region": ["north"] * n, "tenure_months": [30] * n, "window_months": [12] * n,
        "arpu_yuan": [50] * n, "arpu_score": [50] * n,
        "coefficient": pl.Series([Decimal("1.20")] * n, dtype=pl.Decimal(6, 2)),
        "score": pl.Series([Decimal("60.00")] * n, dtype=pl.Decimal(18, 2)),
        "tier": pl.Series([x.tier for x in ordered], dtype=pl.Int8),
        "reason": pl.Series([None] * n, dtype=pl.String),
        "coefficient_x100": [120] * n, "score_x100": [6000] * n,
        "partition": ["all"] * n,
        "customer_tier": pl.Series([best.get(x.customer_id) if x.customer_id else None
                                    for x in ordered], dtype=pl.Int8),
        "window_fen": [60000] * n, "window_rows": pl.Series([12] * n, dtype=pl.Int32),
        "active": [True] * n, "personal": [True] * n,
        "billed": pl.Series([None] * n, dtype=pl.Boolean),
    }, schema_overrides={"tenure_months": pl.Int32, "window_months": pl.Int32})
    frame.write_parquet(file)


def expected_tier(line: Line, lines: list[Line], overrides: list[Override], on: date) -> int:
    siblings = [x.tier for x in lines
                if line.customer_id is not None and x.customer_id == line.customer_id]
    active = [o.tier for o in overrides if o.active(line, on)]
    return effective_tier(line.tier, siblings, active, policy=POLICY)


# --- random stores ------------------------------------------------------------------------
# Digits up to 18 long pack into integer keys; longer digits, mixed case and non-ASCII text
# are kept as bytes: both kinds of key, and ids that are prefixes of one another.
ALPHABETS = [string.digits, string.ascii_letters + "-", "ab李雷📱é"]
CUSTOMERS = ["C1", "C2", "C3"]
REASONS = ["vip", "retention", None]


@st.composite
def months(draw: st.DrawFn, ids: list[str]) -> tuple[list[Line], list[Override]]:
    lines = [Line(i, draw(st.sampled_from([None, *CUSTOMERS])),
                  draw(st.none() | st.integers(1, 5))) for i in ids]
    targets = st.sampled_from(ids + ["not-a-line"]).map(lambda i: (i, None)) | st.sampled_from(
        CUSTOMERS).map(lambda c: (None, c))
    overrides = []
    for _ in range(draw(st.integers(0, 6))):
        sid, cid = draw(targets)
        start = FIRST_DAY + timedelta(days=draw(st.integers(0, 120)))
        span = draw(st.none() | st.integers(0, 60))
        overrides.append(Override(sid, cid, draw(st.integers(1, 5)), start,
                                  None if span is None else start + timedelta(days=span),
                                  draw(st.sampled_from(REASONS))))
    return lines, overrides


@st.composite
def stores(draw: st.DrawFn) -> dict[str, tuple[list[Line], list[Override]]]:
    alphabet = draw(st.sampled_from(ALPHABETS))
    longest = draw(st.sampled_from([2, 12, 22]))
    ids = draw(st.lists(st.text(alphabet, min_size=1, max_size=longest), min_size=1,
                        max_size=25, unique=True))
    chosen = draw(st.sampled_from([["2026-10"], ["2026-10", "2026-11"]]))
    return {m: draw(months(ids)) for m in chosen}


def _answer(reader: StoreReader, ids: list[str], **kw: Any) -> Any:
    try:
        return reader.lines(ids, **kw)
    except NotFound as exc:
        return str(exc)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(store=stores(), days=st.lists(st.integers(0, 150), min_size=1, max_size=3),
       parts=st.sampled_from([1, 3]), data=st.data())
def test_index_sql_and_pure_rule_agree(store: dict[str, tuple[list[Line], list[Override]]],
                                       days: list[int], parts: int, data: st.DataObject):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "t.duckdb"
        write_store(path, store, parts=parts)
        ids = [x.subscriber_id for x in next(iter(store.values()))[0]]
        asked = data.draw(st.lists(st.sampled_from(ids), max_size=8)) + ["zz", ids[0] * 3]
        dates = [FIRST_DAY + timedelta(days=d) for d in days]
        with StoreReader(path, index_after=None) as sql, StoreReader(path, index_after=0) as idx:
            for month, (lines, overrides) in store.items():
                for on in dates:
                    by_index = _answer(idx, asked, month=month, at=on)
                    assert repr(by_index) == repr(_answer(sql, asked, month=month, at=on))
                    for i in asked[:3]:
                        assert _answer(idx, [i], month=month, at=on) == _answer(
                            sql, [i], month=month, at=on)
                    if not isinstance(by_index, str):
                        got = {r["subscriber_id"]: r["effective"].tier for r in by_index[2]}
                        want = {x.subscriber_id: expected_tier(x, lines, overrides, on)
                                for x in lines if x.subscriber_id in asked}
                        assert got == want
                assert idx._indexes[month] is not None  # the index answered, not SQL
            every = [i for i in ids + ["zz"] for _ in dates]
            on_dates = [d for _ in ids + ["zz"] for d in dates]
            tiers = idx.effective_tiers(pl.Series(every), pl.Series(on_dates))
            assert tiers.to_list() == sql.effective_tiers(pl.Series(every),
                                                          pl.Series(on_dates)).to_list()
            assert tiers.dtype == pl.Int8 and tiers.name == "effective_tier"


# --- keys -----------------------------------------------------------------------------------
# Any text UTF-8 can hold (no lone surrogates); 16 characters stay within MAX_KEY_BYTES.
TEXT = st.characters(exclude_categories=["Cs"])


@settings(max_examples=200, deadline=None, database=None)
@given(stored=st.lists(st.text(TEXT.filter(lambda c: c != "\x00"), min_size=1, max_size=16),
                       min_size=1, max_size=30, unique=True),
       asked=st.lists(st.text(TEXT, max_size=20), max_size=10))
def test_keys_keep_the_order_of_the_bytes_and_find_exactly_the_stored_ids(
        stored: list[str], asked: list[str]):
    stored.sort(key=lambda s: s.encode())
    codec = codec_for(pa.array(stored))
    assert codec is not None
    keys, usable = codec.keys(pa.array(stored))
    assert usable.all() and (keys[1:] > keys[:-1]).all()
    probe = asked + stored
    mine, mine_usable = codec.keys(pa.array(probe))
    at = np.minimum(np.searchsorted(keys, mine), len(keys) - 1)
    found = mine_usable & (keys[at] == mine)
    assert found.tolist() == [p in stored for p in probe]


def test_integer_keys_for_phone_numbers_bytes_for_long_ids():
    phones = codec_for(pa.array(["13800000001", "13800000002", "1390000000"]))
    long_ones = codec_for(pa.array(["x" * 30, "y" * 64]))
    assert phones is not None and phones.weights is not None
    assert long_ones is not None and long_ones.weights is None
    assert codec_for(pa.array(["z" * 65])) is None  # too long: no index
    assert codec_for(pa.array([], pa.string())) is None  # no line: nothing to index


# --- the rule's edges, through every path ------------------------------------------------------

LINES = [Line("13800000001", "C1", 2), Line("13800000002", "C1", None),
         Line("13800000003", None, None), Line("13800000004", None, 3)]


@pytest.fixture(params=[None, 0], ids=["sql", "index"])
def index_after(request: pytest.FixtureRequest) -> int | None:
    param: int | None = request.param
    return param


def test_an_override_counts_on_the_days_it_is_valid(tmp_path: Path, index_after: int | None):
    overrides = [Override("13800000003", None, 4, date(2026, 10, 10), date(2026, 10, 12), "vip"),
                 Override(None, "C1", 5, date(2026, 10, 20), None, "account")]
    write_store(tmp_path / "t.duckdb", {"2026-10": (LINES, overrides)})
    with StoreReader(tmp_path / "t.duckdb", index_after=index_after) as reader:
        def effective(i: str, day: int) -> Any:
            return reader.lines([i], at=date(2026, 10, day))[2][0]["effective"]

        assert [effective("13800000003", d).tier for d in (9, 10, 12, 13)] == [1, 4, 4, 1]
        assert effective("13800000003", 9).default_used
        assert effective("13800000003", 10).override_reason == "vip"
        assert [effective("13800000002", d).tier for d in (19, 20, 31)] == [2, 5, 5]
        assert effective("13800000002", 20).override_reason == "account"
        assert effective("13800000004", 20).override_tier is None


def test_equal_overrides_report_one_reason_and_a_lower_one_none(tmp_path: Path,
                                                               index_after: int | None):
    """Of active overrides of equal tier the greatest reason is reported (a missing one is the
    least); the reason is that of the highest override even when it has none, not that of a
    lower one."""
    day = date(2026, 10, 1)
    overrides = [Override("13800000001", None, 3, day, None, None),
                 Override("13800000001", None, 3, day, None, "c"),
                 Override("13800000003", None, 4, day, None, "b"),
                 Override("13800000003", None, 4, day, None, "a"),
                 Override("13800000003", None, 2, day, None, "z"),
                 Override("13800000004", None, 5, day, None, None),
                 Override("13800000004", None, 4, day, None, "lower")]
    write_store(tmp_path / "t.duckdb", {"2026-10": (LINES, overrides)})
    with StoreReader(tmp_path / "t.duckdb", index_after=index_after) as reader:
        rows = reader.lines(["13800000001", "13800000003", "13800000004"], at=day)[2]
    assert [(r["effective"].override_tier, r["effective"].override_reason) for r in rows] == [
        (3, "c"), (4, "b"), (5, None)]


# --- the index's life ----------------------------------------------------------------------

def test_a_swapped_store_is_served_from_a_new_index(tmp_path: Path):
    path = tmp_path / "t.duckdb"
    write_store(path, {"2026-10": (LINES, [])})
    with StoreReader(path, index_after=0) as reader:
        assert reader.lines(["13800000004"], at=date(2026, 10, 5))[2][0]["tier"] == 3
        write_store(path, {"2026-10": ([Line("13800000004", None, 5)], []),  # a run's swap
                           "2026-11": ([Line("13900000009", None, 1)], [])})
        assert reader.lines(["13800000004"], month="2026-10")[2][0]["tier"] == 5
        with pytest.raises(NotFound):
            reader.lines(["13800000001"], month="2026-10")
        month, _, rows = reader.lines(["13900000009"])
        assert (month, rows[0]["tier"]) == ("2026-11", 1)


def test_once_built_the_index_answers_without_a_query(tmp_path: Path):
    path = tmp_path / "t.duckdb"
    write_store(path, {"2026-10": (LINES, [Override(None, "C1", 4, date(2026, 10, 1), None,
                                                    "account")])})
    with StoreReader(path, index_after=1) as reader:
        on = date(2026, 10, 5)
        first = reader.lines(["13800000002"], at=on)  # SQL: a single call pays no index
        assert reader._indexes == {}
        assert reader.lines(["13800000002"], at=on) == first  # the second builds it

        class NoQueries:
            def __getattr__(self, name: str) -> Any:
                raise AssertionError(f"a query ({name}) although the month is indexed")

        reader._con = NoQueries()  # type: ignore[assignment]
        assert reader.lines(["13800000002"], at=on) == first
        tiers = reader.effective_tiers(pl.Series(["13800000002", "13800000003", "x"]),
                                       pl.Series([on] * 3))
        assert tiers.to_list() == [4, 1, None]
        reader._con = None  # closed by hand: the fake has nothing to close


@pytest.mark.parametrize("odd_id", ["a\x00b", "x" * 70], ids=["nul", "long"])
def test_a_month_that_cannot_be_indexed_is_answered_by_sql(tmp_path: Path, odd_id: str):
    path = tmp_path / "t.duckdb"
    write_store(path, {"2026-10": ([*LINES, Line(odd_id, None, 4)], [])})
    with StoreReader(path, index_after=0) as reader:
        rows = reader.lines([odd_id, "13800000004"], at=date(2026, 10, 5))[2]
        assert reader._indexes["2026-10"] is None
        assert [r["subscriber_id"] for r in rows] == sorted([odd_id, "13800000004"])
        assert reader.effective_tiers(pl.Series([odd_id]), pl.Series([date(2026, 10, 5)])
                                      ).to_list() == [4]


def test_many_lines_stored_out_of_id_order_are_found(tmp_path: Path):
    """More lines than FEW_ROWS (a gather, not row by row), written against id order."""
    path = tmp_path / "t.duckdb"
    lines = [Line(f"1380000{i:04d}", CUSTOMERS[i % 4] if i % 4 < 3 else None,
                  None if i % 5 == 0 else 1 + i % 5) for i in range(0, 500, 7)]
    write_store(path, {"2026-10": (lines, [Override(None, "C2", 5, date(2026, 10, 1), None,
                                                     "account")])}, reverse=True)
    ids = [x.subscriber_id for x in lines]
    assert len(ids) > FEW_ROWS
    with StoreReader(path, index_after=None) as sql, StoreReader(path, index_after=0) as idx:
        on = date(2026, 10, 5)
        assert repr(idx.lines([*ids, "x"], at=on)) == repr(sql.lines([*ids, "x"], at=on))
        assert [idx.lines([i], at=on)[2][0]["tier"] for i in ids] == [x.tier for x in lines]


def test_a_month_in_several_files_is_found_in_each(tmp_path: Path):
    """A month written as several files (ids hash-partitioned, each file in id order, as the
    partitioned engine writes one): one-shot SQL, the index (whose keys, file after file,
    are not in order until it sorts them) and the pure rule agree on every line."""
    path = tmp_path / "t.duckdb"
    lines = [Line(f"1380000{i:04d}", CUSTOMERS[i % 4] if i % 4 < 3 else None,
                  None if i % 5 == 0 else 1 + i % 5) for i in range(0, 700, 3)]
    overrides = [Override(None, "C2", 5, date(2026, 10, 1), None, "account"),
                 Override(lines[7].subscriber_id, None, 4, date(2026, 10, 1), None, "vip")]
    write_store(path, {"2026-10": (lines, overrides)}, parts=5)
    assert len(list(tmp_path.glob("t.duckdb.d/month=2026-10/*/part-*.parquet"))) == 5
    ids = [x.subscriber_id for x in lines]
    on = date(2026, 10, 5)
    with StoreReader(path, index_after=None) as sql, StoreReader(path, index_after=0) as idx:
        singles = [sql.lines([i], at=on)[2][0] for i in ids]
        assert [idx.lines([i], at=on)[2][0] for i in ids] == singles
        assert idx.lines(ids, at=on)[2] == sorted(singles, key=lambda r: r["subscriber_id"])
        assert idx._indexes["2026-10"] is not None
        assert [r["effective"].tier for r in singles] == [
            expected_tier(x, lines, overrides, on) for x in lines]
        tiers = idx.effective_tiers(pl.Series([*ids, "x"]), pl.Series([on] * (len(ids) + 1)))
        assert tiers.to_list() == [*(r["effective"].tier for r in singles), None]
