"""SPEC section 8: every rejection names file, row, column and value, exits 2, and leaves the
store exactly as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiering.cli import main

SUBS = ("subscriber_id,join_date,status\n"
        "A1,2020-01-15,active\nA2,2021-03-02,active\nA3,2019-07-30,active\n")
BILL = ("subscriber_id,bill_month,amount\n"
        "A1,2026-01,10.00\nA2,2026-02,20.50\nA3,2026-03,30\n")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "subs.csv").write_text(SUBS)
    (tmp_path / "bill.csv").write_text(BILL)
    path = tmp_path / "t.duckdb"
    result = CliRunner().invoke(main, ["run", "--month", "2026-10", "--billing",
                                       str(tmp_path / "bill.csv"), "--subscribers",
                                       str(tmp_path / "subs.csv"), "--store", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _run(tmp_path: Path, store: Path, *, subs: str = SUBS, bill: str = BILL,
         policy: str | None = None, extra: tuple[str, ...] = ()) -> str:
    """Run 2026-11 with bad input; assert exit 2 and an unchanged store; return stderr."""
    (tmp_path / "bad_subs.csv").write_text(subs)
    (tmp_path / "bad_bill.csv").write_text(bill)
    args = ["run", "--month", "2026-11", "--billing", str(tmp_path / "bad_bill.csv"),
            "--subscribers", str(tmp_path / "bad_subs.csv"), "--store", str(store), *extra]
    if policy is not None:
        (tmp_path / "policy.toml").write_text(policy)
        args += ["--policy", str(tmp_path / "policy.toml")]
    before = _digest(store)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert _digest(store) == before
    return result.output


def test_missing_column(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill=BILL.replace("amount", "amt"))
    assert "bad_bill.csv" in out and "missing column 'amount'" in out


def test_unparsable_month(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill=BILL.replace("2026-02", "2026-13"))
    assert "bad_bill.csv: row 2, column 'bill_month'" in out and "'2026-13'" in out


def test_unparsable_join_date(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, subs=SUBS.replace("2021-03-02", "03/02/2021"))
    assert "bad_subs.csv: row 2, column 'join_date'" in out and "'03/02/2021'" in out


@pytest.mark.parametrize("amount", ["10.005", "NaN", "inf", "-", "ten", "1e3", "0x10"])
def test_bad_amounts(tmp_path: Path, store: Path, amount: str):
    out = _run(tmp_path, store, bill=BILL.replace("20.50", amount))
    assert "bad_bill.csv: row 2, column 'amount'" in out and repr(amount) in out


def test_many_bad_rows_report_a_count_and_the_first(tmp_path: Path, store: Path):
    bill = "subscriber_id,bill_month,amount\n" + "".join(
        f"A1,2026-0{m},1.{m}{m}{m}\n" for m in range(1, 9))
    out = _run(tmp_path, store, bill=bill)
    assert "8 rows, column 'amount'" in out and "row 1 '1.111'" in out and "row 5 '1.555'" in out


def test_ragged_csv_row(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill=BILL.replace("20.50", "12,50"))
    assert "bad_bill.csv: row 2: 4 fields where the header has 3: 'A2,2026-02,12,50'" in out


def test_non_utf8_bytes(tmp_path: Path, store: Path):
    (tmp_path / "latin.csv").write_bytes(SUBS.replace("A3", "A\xe93").encode("latin-1"))
    before = _digest(store)
    result = CliRunner().invoke(main, ["run", "--month", "2026-11", "--billing",
                                       str(tmp_path / "latin.csv"), "--subscribers",
                                       str(tmp_path / "latin.csv"), "--store", str(store)])
    assert result.exit_code == 2 and "line 4: not UTF-8 text" in result.output
    assert _digest(store) == before


def test_duplicate_subscriber(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, subs=SUBS + "A2,2022-01-01,active\n13800138000,2022-01-01,active"
               "\n13800138000,2023-01-01,active\n")
    assert "bad_subs.csv: 4 rows, column 'subscriber_id': duplicate subscriber" in out
    # Ids are personal data: shown masked, never in full.
    assert "row 2 '**', row 4 '**', row 5 '138****8000', row 6 '138****8000'" in out


def test_empty_billing(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill="subscriber_id,bill_month,amount\n")
    assert "bad_bill.csv: no rows (empty input)" in out


def test_empty_subscribers(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, subs="subscriber_id,join_date,status\n")
    assert "bad_subs.csv: no rows (empty input)" in out


def test_bad_boolean(tmp_path: Path, store: Path):
    subs = SUBS.replace("status\n", "status,billed_in_month\n").replace("active\n", "active,yes\n")
    out = _run(tmp_path, store, subs=subs.replace("active,yes\nA3", "active,maybe\nA3"))
    assert "column 'billed_in_month'" in out and "'maybe'" in out


def test_invalid_policy_names_the_field(tmp_path: Path, store: Path):
    text = (Path(__file__).parent.parent / "tiering/data/default_policy.toml").read_text()
    out = _run(tmp_path, store, policy=text.replace("[5, 10, 15, 40, 30]", "[5, 10, 15, 40, 20]"))
    assert "field 'rating.shares'" in out and "sum to 100" in out


def test_bad_month_option(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, extra=("--month", "2026-1x"))
    assert "not a month" in out


def test_missing_file(tmp_path: Path, store: Path):
    before = _digest(store)
    result = CliRunner().invoke(main, ["run", "--month", "2026-11", "--billing",
                                       str(tmp_path / "nope.csv"), "--subscribers",
                                       str(tmp_path / "nope2.csv"), "--store", str(store)])
    assert result.exit_code == 2 and "no such" in result.output
    assert _digest(store) == before


def test_future_join_is_not_an_error(tmp_path: Path, store: Path):
    (tmp_path / "s.csv").write_text(SUBS + "A4,2027-02-01,active\n")
    (tmp_path / "b.csv").write_text(BILL)
    result = CliRunner().invoke(main, ["run", "--month", "2026-11", "--billing",
                                       str(tmp_path / "b.csv"), "--subscribers",
                                       str(tmp_path / "s.csv"), "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert '"future_join": 1' in result.output


def test_empty_amount(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill=BILL.replace("20.50", ""))
    assert "bad_bill.csv: row 2, column 'amount'" in out and "None" in out


def test_no_rows_in_the_window(tmp_path: Path, store: Path):
    out = _run(tmp_path, store, bill=BILL.replace("2026-0", "2024-0"))
    assert "none of its 3 rows falls in the ARPU window 2025-11 .. 2026-10" in out


def test_truncated_parquet(tmp_path: Path, store: Path):
    import polars as pl

    good = tmp_path / "bill.parquet"
    pl.read_csv(tmp_path / "bill.csv", infer_schema=False).write_parquet(good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    before = _digest(store)
    result = CliRunner().invoke(main, ["run", "--month", "2026-11", "--billing", str(cut),
                                       "--subscribers", str(tmp_path / "subs.csv"),
                                       "--store", str(store)])
    assert result.exit_code == 2 and "cut.parquet" in result.output
    assert "Traceback" not in result.output
    assert _digest(store) == before


def test_wrong_types_in_parquet(tmp_path: Path, store: Path):
    import polars as pl

    subs = tmp_path / "subs.parquet"
    pl.DataFrame({"subscriber_id": ["A1", "A2"], "join_date": [20200115, 20210302],
                  "status": ["active", "active"]}).write_parquet(subs)
    before = _digest(store)
    result = CliRunner().invoke(main, ["run", "--month", "2026-11", "--billing",
                                       str(tmp_path / "bill.csv"), "--subscribers", str(subs),
                                       "--store", str(store)])
    assert result.exit_code == 2
    assert "subs.parquet: 2 rows, column 'join_date': not a date (YYYY-MM-DD); first: row 1 " \
           "'20200115'" in result.output
    assert _digest(store) == before


def test_renamed_column_can_be_mapped(tmp_path: Path, store: Path):
    (tmp_path / "renamed.csv").write_text(BILL.replace("subscriber_id", "MSISDN"))
    args = ["run", "--month", "2026-11", "--billing", str(tmp_path / "renamed.csv"),
            "--subscribers", str(tmp_path / "subs.csv"), "--store", str(store)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "missing column 'subscriber_id'" in result.output
    # A mapping applies where the source has that column; the subscribers keep their name.
    result = CliRunner().invoke(main, [*args, "--column", "subscriber_id=MSISDN", "--json"])
    assert result.exit_code == 0, result.output
    assert '"rated": 3' in result.output


# The SLA commands' bad-input cases (end of time, SLA targets no engine can honour, malformed
# ticket rows with and without --skip-bad) run through a real subprocess in
# tests/test_sla_edges.py.
