"""The long-lived reader (Store.reader()): the same answers as the one-shot Store calls and
the golden fixture through every request form, a swapped-in store seen on the next call,
hostile ids kept as data, and a command line that imports only what a look-up needs."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

import tiering
from tiering.errors import NotFound, StoreError
from tiering.sla import effective_tier
from tiering.store import Store, StoreReader

ON = date(2026, 11, 15)
HEAVY = ("polars", "pyarrow", "numpy", "holidays", "pandas")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(store: Path, fixture: Path, month: str = "2026-11", *, overrides: bool = True) -> None:
    result = tiering.rate(month, fixture / "billing.csv", fixture / "subscribers.csv",
                          overrides=fixture / "overrides.csv" if overrides else None)
    Store(store).write_month(result)


@pytest.fixture
def store(small: Path, tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    _write(path, small)
    return path


@pytest.fixture
def ids(small: Path) -> list[str]:
    return [e["subscriber_id"] for e in _csv(small / "expected.csv")]


@pytest.fixture(params=[None, 0], ids=["sql", "index"])
def index_after(request: pytest.FixtureRequest) -> int | None:
    """Readers answering every look-up with SQL, or every one from the month's index."""
    param: int | None = request.param
    return param


def test_reader_equals_one_shot_and_golden(store: Path, small: Path, ids: list[str],
                                           index_after: int | None):
    expected = {e["subscriber_id"]: int(e["effective_tier"]) for e in _csv(small / "expected.csv")}
    month, policy, one_shot = Store(store).lines(ids, at=ON)
    with Store(store).reader(index_after=index_after) as reader:
        r_month, r_policy, listed = reader.lines(ids, at=ON)
        singles = [reader.lines([i], at=ON)[2][0] for i in ids]
        tiers = reader.effective_tiers(pl.Series(ids), pl.Series([ON] * len(ids)))
        assert reader.thresholds() == Store(store).thresholds()
        assert reader.months() == Store(store).months() == ["2026-11"]
        assert reader.run_record() == Store(store).run_record()
    assert (r_month, r_policy) == (month, policy) and month == "2026-11"
    assert listed == one_shot == sorted(singles, key=lambda r: r["subscriber_id"])
    assert [r["subscriber_id"] for r in listed] == sorted(ids)
    assert {r["subscriber_id"]: r["effective"].tier for r in listed} == expected
    assert dict(zip(ids, tiers.to_list(), strict=True)) == expected
    assert tiers.dtype == pl.Int8 and tiers.name == "effective_tier"


def test_every_request_form_agrees_with_the_pure_rule(store: Path, small: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        index_after: int | None):
    """One id, a listed few, a registered column (forced here with a small limit), the
    lines of a customer, and dated requests: all give the rule of tiering.sla."""
    lines = list(tiering.rate("2026-11", small / "billing.csv", small / "subscribers.csv",
                              overrides=small / "overrides.csv").lines.iter_rows(named=True))
    overrides = _csv(small / "overrides.csv")
    ids = [r["subscriber_id"] for r in lines]
    customers = sorted({r["customer_id"] for r in lines if r["customer_id"]})
    with StoreReader(store, index_after=index_after) as reader:
        for day in range(0, 400, 23):
            on = date(2025, 12, 20) + timedelta(days=day)
            listed = {r["subscriber_id"]: r for r in reader.lines(ids, month="2026-11", at=on)[2]}
            single = {i: reader.lines([i], month="2026-11", at=on)[2][0] for i in ids}
            of_customers = {r["subscriber_id"]: r for r in reader.lines(
                customers, month="2026-11", customer=True, at=on)[2]}
            with monkeypatch.context() as m:
                m.setattr(StoreReader, "TABLE_IDS", 1)
                registered = {r["subscriber_id"]: r for r in reader.lines(
                    ids, month="2026-11", at=on)[2]}
            dated = reader.effective_tiers(pl.Series(ids), pl.Series([on] * len(ids)))
            for line, by_date in zip(lines, dated.to_list(), strict=True):
                sid = line["subscriber_id"]
                siblings = [x["tier"] for x in lines
                            if line["customer_id"] and x["customer_id"] == line["customer_id"]]
                active = [int(o["tier"]) for o in overrides
                          if (o["subscriber_id"] == sid
                              or (o["customer_id"] and o["customer_id"] == line["customer_id"]))
                          and date.fromisoformat(o["valid_from"]) <= on
                          and (not o["valid_to"] or on <= date.fromisoformat(o["valid_to"]))]
                want = effective_tier(line["tier"], siblings, active)
                assert listed[sid] == single[sid] == registered[sid], (sid, on)
                assert listed[sid]["effective"].tier == want, (sid, on)
                if line["customer_id"]:
                    assert of_customers[sid] == listed[sid], (sid, on)
                # A date before the only stored month finds no month: null, as in the store.
                assert by_date == (want if on >= date(2026, 11, 1) else None), (sid, on)


def test_effective_tiers_take_the_month_of_each_date(store: Path, small: Path, ids: list[str],
                                                     index_after: int | None):
    _write(store, small, "2026-10")
    with Store(store).reader(index_after=index_after) as reader:
        october = {r["subscriber_id"]: r["effective"].tier
                   for r in reader.lines(ids, month="2026-10", at=date(2026, 10, 20))[2]}
        november = {r["subscriber_id"]: r["effective"].tier
                    for r in reader.lines(ids, month="2026-11", at=date(2026, 12, 3))[2]}
        both = reader.effective_tiers(
            pl.Series(ids + ids),
            pl.Series([date(2026, 10, 20)] * len(ids) + [date(2026, 12, 3)] * len(ids)))
    assert both.to_list() == [october.get(i) for i in ids] + [november.get(i) for i in ids]


def test_a_reader_sees_a_swapped_in_store_on_its_next_call(store: Path, small: Path,
                                                           ids: list[str],
                                                           index_after: int | None):
    with (Store(store).reader(index_after=index_after) as reader,
          Store(store).reader(index_after=index_after) as other):
        month, _, _ = reader.lines(ids[:3], at=ON)
        other.months()  # another reader in the process holds the old file open
        old_doc = reader.thresholds()
        assert month == "2026-11"
        _write(store, small, "2026-12")
        month, policy, _ = reader.lines(ids[:3], at=ON)
        assert month == "2026-12" and policy.source == "stored with 2026-12"
        assert reader.months() == ["2026-11", "2026-12"]
        assert Store(store).months() == ["2026-11", "2026-12"]
        assert reader.thresholds()["month"] == "2026-12"
        assert reader.thresholds("2026-11") == old_doc
        # Re-rating a month in place (here without its overrides) is a swap too: the
        # cached policy and thresholds of that month go with the old file.
        with_override = {r["subscriber_id"]: r["effective"] for r in reader.lines(
            ids, month="2026-12", at=ON)[2]}
        _write(store, small, "2026-12", overrides=False)
        without = {r["subscriber_id"]: r["effective"] for r in reader.lines(
            ids, month="2026-12", at=ON)[2]}
        assert any(e.override_tier is not None for e in with_override.values())
        assert all(e.override_tier is None for e in without.values())
        assert other.months() == ["2026-11", "2026-12"]


def test_a_removed_store_is_an_error_not_a_stale_answer(store: Path, ids: list[str]):
    with Store(store).reader() as reader:
        reader.lines(ids[:1], at=ON)
        store.unlink()
        with pytest.raises(StoreError, match="no store at"):
            reader.lines(ids[:1], at=ON)
    with pytest.raises(StoreError, match="no store at"):
        StoreReader(store).months()


def test_unknown_month_and_id(store: Path, index_after: int | None):
    with Store(store).reader(index_after=index_after) as reader:
        with pytest.raises(NotFound, match="month 2020-01 is not in the store"):
            reader.lines(["13800000001"], month="2020-01")
        with pytest.raises(NotFound, match=r"138\*\*\*\*9999"):  # masked in the message
            reader.lines(["13800009999"])
        assert reader.lines(["13800009999", "13800000001"], at=ON)[2][0]["subscriber_id"] == (
            "13800000001")


HOSTILE = ["'; DROP TABLE lines; --", "13800000001' OR '1'='1", "1 OR 1=1", "x" * 10_000,
           "a\x00b", "李雷📱", "\" OR \"\"=\"", "%", "_", "\\", "", "$id", "?", "$1"]


def test_hostile_ids_are_data(store: Path, monkeypatch: pytest.MonkeyPatch,
                              index_after: int | None):
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    with Store(store).reader(index_after=index_after) as reader:
        for hostile in HOSTILE:
            with pytest.raises(NotFound):
                reader.lines([hostile])
            with pytest.raises(NotFound):
                reader.lines([hostile], customer=True)
        rows = reader.lines([*HOSTILE, "13800000001"], at=ON)[2]
        assert [r["subscriber_id"] for r in rows] == ["13800000001"]
        with monkeypatch.context() as m:
            m.setattr(StoreReader, "TABLE_IDS", 1)
            rows = reader.lines([*HOSTILE, "13800000001"], at=ON)[2]
        assert [r["subscriber_id"] for r in rows] == ["13800000001"]
        tiers = reader.effective_tiers(pl.Series([*HOSTILE, "13800000001"]),
                                       pl.Series([ON] * (len(HOSTILE) + 1)))
        assert tiers.to_list() == [None] * len(HOSTILE) + [5]
        assert reader.months() == ["2026-11"]
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def _modules_after(code: str, modules: tuple[str, ...] = HEAVY) -> dict[str, bool]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps({{m: m in sys.modules for m in {modules!r}}}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    loaded: dict[str, bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_the_command_line_imports_no_heavy_module():
    assert not any(_modules_after("import tiering.cli").values())


def _lookup_code(store: Path) -> str:
    return ("import contextlib, io\nfrom tiering.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main(['lookup', '13800000010', '--store', {str(store)!r}, '--json'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0, exc.code")


def test_a_lookup_imports_no_heavy_module(store: Path):
    assert not any(_modules_after(_lookup_code(store)).values())


def test_a_lookup_runs_on_duckdbs_engine_without_the_package(store: Path):
    """The package's Python layer is a process's 100 ms (tiering.store.engine)."""
    assert _modules_after(_lookup_code(store), ("_duckdb", "duckdb")) == {
        "_duckdb": True, "duckdb": False}


def test_a_month_in_several_files_reads_as_in_one(store: Path, ids: list[str]):
    """The month rewritten as three hash-partitioned files (the partitioned engine's layout,
    made by the look-up bench) answers every call as the one-file month does."""
    from bench.lookup import in_parts

    with in_parts(store, 3) as parts:
        assert len(list(parts.parent.glob("*.d/month=2026-11/*/part-*.parquet"))) == 3
        one, split = Store(store), Store(parts)
        assert split.lines(ids, at=ON) == one.lines(ids, at=ON)
        assert split.lines(["C100"], customer=True, at=ON) == one.lines(["C100"], customer=True,
                                                                        at=ON)
        assert [split.lines([i], at=ON) for i in ids] == [one.lines([i], at=ON) for i in ids]
        assert split.month_lines().equals(one.month_lines())
        with split.reader(index_after=0) as reader:
            assert reader.lines(ids, at=ON) == one.lines(ids, at=ON)
            assert reader.effective_tiers(pl.Series(ids), pl.Series([ON] * len(ids))).equals(
                one.effective_tiers(pl.Series(ids), pl.Series([ON] * len(ids))))
