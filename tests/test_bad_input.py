"""SPEC section 8: every rejection names file, row, column and value, exits 2, and leaves the
store exactly as it was."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiering.cli import main

SUBS = ("subscriber_id,join_date,status\n"
        "A1,2020-01-15,active\nA2,2021-03-02,active\nA3,2019-07-30,active\n")
BILL = ("subscriber_id,bill_month,amount\n"
        "A1,2026-01,10.00\nA2,2026-02,20.50\nA3,2026-03,30\n")


@pytest.fixture(autouse=True, params=["in memory", "in parts"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case both ways a month is rated: in memory, and in parts (as a month beyond
    its memory budget is), where DuckDB reads the inputs into a database on disk."""
    if request.param == "in parts":
        import tiering.budget

        monkeypatch.setattr(tiering.budget, "plan_parts", lambda lines, budget: 3)
        monkeypatch.setattr(sys.modules[__name__], "RUN_IN_PARTS", ["--parts", "3"])
    return str(request.param)


RUN_IN_PARTS: list[str] = []  # what a `run` in its own process adds to rate in parts


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
    assert not list(store.parent.glob(".tiering-rating-*")), "work files left behind"
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


# --- issue 12, input side: each case through the CLI in a real subprocess --------------------
# New cases: ids that match nothing (5), duplicate header names (6), a file given twice (7),
# loose months, dates and full-width digits (8), amount overflow (9), CSV fields over 128 KiB
# (10), policy limits (11), encodings and delimiters (14).

IDS = ("13800138000", "13800138001", "13800138002")
SUBS_N = "subscriber_id,join_date,status,region\n" + "".join(
    f"{i},2020-01-15,active,北京\n" for i in IDS)
BILL_N = "subscriber_id,bill_month,amount\n" + "".join(f"{i},2026-0{n},1{n}.50\n"
                                                      for n, i in enumerate(IDS, start=1))


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI in its own process, its temporary files under tmp_path/tmp."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    if args[0] == "run":
        args = (*args, *RUN_IN_PARTS)
    return subprocess.run([sys.executable, "-m", "tiering.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "TMPDIR": str(scratch)}, timeout=300)


def _reject(tmp_path: Path, store: Path, *args: str, subs: str | bytes = SUBS_N,
            bill: str | bytes = BILL_N) -> str:
    """Run 2026-11 in a subprocess; assert exit 2, no traceback, the store unchanged and no
    temporary file left; return stderr."""
    _write(tmp_path / "s.csv", subs)
    _write(tmp_path / "b.csv", bill)
    before = _digest(store)
    done = _cli(tmp_path, "run", "--month", "2026-11", "--subscribers", str(tmp_path / "s.csv"),
                "--store", str(store), *(args or ("--billing", str(tmp_path / "b.csv"))))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert _digest(store) == before
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not list(store.parent.glob(".tiering-rating-*")), "work files left behind"
    return done.stderr


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("side", ["billing", "subscribers"])
def test_ids_that_match_nothing_are_rejected_naming_the_form(tmp_path: Path, store: Path,
                                                             side: str):
    spaced = {"billing": {"bill": BILL_N.replace(",2026", " ,2026")},
              "subscribers": {"subs": SUBS_N.replace(",2020", " ,2020")}}[side]
    err = _reject(tmp_path, store, **spaced)
    assert "b.csv: none of its 3 rows in the ARPU window matches a subscriber of" in err
    assert "ids differ in form (spaces)" in err
    # An example of each side, masked, the space visible.
    billing, subscriber = ("'138****000 '", "'138****8000'")[::1 if side == "billing" else -1]
    assert f"billing id {billing} is subscriber id {subscriber} written another way" in err


def test_leading_zeros_are_named(tmp_path: Path, store: Path):
    err = _reject(tmp_path, store, bill=BILL_N.replace("\n138", "\n0138"))
    assert "ids differ in form (leading zeros): billing id '013****800" in err


def test_integer_subscriber_ids_and_zero_padded_bills_are_named(tmp_path: Path, store: Path):
    """Typed ids (Parquet BIGINT) against text bills written with leading zeros."""
    import polars as pl

    subs = pl.read_csv(io.StringIO(SUBS_N), schema_overrides={"subscriber_id": pl.Int64})
    subs.write_parquet(tmp_path / "s.parquet")
    _write(tmp_path / "b.csv", BILL_N.replace("\n138", "\n0138"))
    before = _digest(store)
    done = _cli(tmp_path, "run", "--month", "2026-11", "--subscribers",
                str(tmp_path / "s.parquet"), "--billing", str(tmp_path / "b.csv"),
                "--store", str(store))
    assert done.returncode == 2 and _digest(store) == before, done.stderr
    assert "ids differ in form (leading zeros): billing id '013****800" in done.stderr


def test_most_ids_unmatched_warns_loudly(tmp_path: Path):
    (tmp_path / "s.csv").write_text(SUBS_N, encoding="utf-8")
    (tmp_path / "b.csv").write_text(BILL_N.replace("8000,", "8000 ,").replace("8001,", "8001 ,"))
    done = _cli(tmp_path, "run", "--month", "2026-11", "--billing", str(tmp_path / "b.csv"),
                "--subscribers", str(tmp_path / "s.csv"), "--store", str(tmp_path / "t.duckdb"))
    assert done.returncode == 0, done.stderr
    assert "warning: " in done.stderr and "2 of its 3 rows in the ARPU window match no " \
           "subscriber" in done.stderr and "ids differ in form (spaces)" in done.stderr


@pytest.mark.parametrize("which,header", [
    ("bill", "subscriber_id,amount,bill_month,amount"),
    ("subs", "subscriber_id,join_date,status,region,Region"),
])
def test_duplicate_header_names(tmp_path: Path, store: Path, which: str, header: str):
    if which == "bill":
        err = _reject(tmp_path, store, bill=header + "\nA1,1,2026-01,2\n")
        assert "b.csv: column 'amount' appears twice in the header" in err
    else:
        err = _reject(tmp_path, store, subs=header + "\nA1,2020-01-01,active,x,y\n")
        assert "s.csv: column 'Region' appears twice in the header (as 'region' too)" in err


def test_the_same_billing_file_twice(tmp_path: Path, store: Path):
    (tmp_path / "bills").mkdir()
    (tmp_path / "bills" / "b1.csv").write_text(BILL_N)
    err = _reject(tmp_path, store, "--billing", str(tmp_path / "bills" / "*.csv"), "--billing",
                  str(tmp_path / "bills" / "b1.csv"))
    assert "b1.csv: given twice among the billing inputs" in err
    (tmp_path / "bills" / "copy.csv").write_text(BILL_N)
    err = _reject(tmp_path, store, "--billing", str(tmp_path / "bills" / "*.csv"))
    assert "the same content (sha256) as" in err and "its rows would count twice" in err


@pytest.mark.parametrize("month", ["2026-01-99", "2026-02-30", "２０２５-１０", "2026/01-01",
                                   "2026-1", "2026-01 01"])
def test_loose_bill_months(tmp_path: Path, store: Path, month: str):
    err = _reject(tmp_path, store, bill=BILL_N.replace("2026-02", month))
    assert f"b.csv: row 2, column 'bill_month': not a month" in err and repr(month) in err


@pytest.mark.parametrize("day", ["2021-02-30", "2021-2-3", "２０２１-０３-０２"])
def test_loose_join_dates(tmp_path: Path, store: Path, day: str):
    err = _reject(tmp_path, store, subs=SUBS_N.replace("8001,2020-01-15", f"8001,{day}"))
    assert "s.csv: row 2, column 'join_date': not a date" in err and repr(day) in err


def test_full_width_amounts_are_rejected(tmp_path: Path, store: Path):
    err = _reject(tmp_path, store, bill=BILL_N.replace("12.50", "１２.５０"))
    assert "b.csv: row 2, column 'amount'" in err and "'１２.５０'" in err


@pytest.mark.parametrize("amount,unit", [("100000000000000.00", "yuan"),
                                         ("1000000000000", "yuan"),
                                         ("99999999999999999999", "fen")])
def test_amount_overflow_names_the_row(tmp_path: Path, store: Path, amount: str, unit: str):
    bill = BILL_N.replace("12.50", amount)
    if unit == "fen":
        bill = bill.replace(".50", "")
    err = _reject(tmp_path, store, "--billing", str(tmp_path / "b.csv"), "--amount-unit", unit,
                  bill=bill)
    assert f"b.csv: row 2, column 'amount'" in err and repr(amount) in err


def test_a_sum_past_the_limit_names_the_line(tmp_path: Path, store: Path):
    bill = BILL_N + "".join(f"13800138001,2026-0{m},900000000000.00\n" for m in (4, 5))
    err = _reject(tmp_path, store, bill=bill)
    assert "b.csv: 1 line(s), column 'amount': the window's amounts sum beyond " \
           "1,000,000,000,000 yuan; first: subscriber_id '138****8001'" in err


def test_fields_over_128_kib_are_diagnosed(tmp_path: Path, store: Path):
    long = "x" * 200_000
    err = _reject(tmp_path, store, bill=BILL_N + f'"{long}",2026-01,1,5\n')
    assert "b.csv: row 4: 4 fields where the header has 3" in err


@pytest.mark.parametrize("change,field", [
    (("[5, 10, 15, 40, 30]", "[" + ", ".join(["0.5"] * 127) + ", 36.5]"), "rating.shares"),
    (("coefficient = 1.5 }", "coefficient = 10000 }"), "rating.tenure_bands[5].coefficient"),
    (("# fixed_thresholds = [260, 140, 90, 30]",
      "fixed_thresholds = [9223372036854775807, 140, 90, 30]"), "rating.fixed_thresholds[0]"),
    (("to = 120,", "to = 9223372036854775807,"), "rating.tenure_bands[4].to"),
    (("round_to = 10", "round_to = 9223372036854775807"), "rating.round_to"),
])
def test_policy_limits_name_the_field(tmp_path: Path, store: Path, change: tuple[str, str],
                                      field: str):
    text = (Path(__file__).parent.parent / "tiering/data/default_policy.toml").read_text()
    assert change[0] in text
    out = _run(tmp_path, store, policy=text.replace(*change))
    assert f"field {field!r}: " in out


def test_gbk_input_needs_and_takes_its_encoding(tmp_path: Path, store: Path):
    gbk = SUBS_N.encode("gbk")
    err = _reject(tmp_path, store, subs=gbk)
    assert "s.csv: line 2: not UTF-8 text" in err
    assert "it decodes as GB18030 (GBK): pass --encoding gb18030" in err
    for encoding in ("gbk", "gb18030"):
        done = _cli(tmp_path, "run", "--month", "2026-11", "--billing", str(tmp_path / "b.csv"),
                    "--subscribers", str(tmp_path / "s.csv"), "--store", str(store),
                    "--encoding", encoding)
        assert done.returncode == 0, done.stderr
        assert list((tmp_path / "tmp").iterdir()) == []  # the UTF-8 copy is gone
    out = tmp_path / "out.csv"
    assert _cli(tmp_path, "export", "--month", "2026-11", "--out", str(out), "--store",
                str(store)).returncode == 0
    assert out.read_text(encoding="utf-8").count(',"北京",') == 3


def test_utf8_with_a_byte_order_mark(tmp_path: Path, store: Path):
    (tmp_path / "s.csv").write_bytes(SUBS_N.encode("utf-8-sig"))
    (tmp_path / "b.csv").write_bytes(BILL_N.encode("utf-8-sig"))
    for encoding in ("utf-8", "utf-8-sig"):
        done = _cli(tmp_path, "run", "--month", "2026-11", "--billing", str(tmp_path / "b.csv"),
                    "--subscribers", str(tmp_path / "s.csv"), "--store", str(store),
                    "--encoding", encoding, "--json")
        assert done.returncode == 0, done.stderr
        assert '"rated": 3' in done.stdout


@pytest.mark.parametrize("sep,option", [(";", ";"), ("\t", "tab")])
def test_other_delimiters_are_detected_or_given(tmp_path: Path, store: Path, sep: str,
                                               option: str):
    (tmp_path / "s.csv").write_text(SUBS_N.replace(",", sep), encoding="utf-8")
    (tmp_path / "b.csv").write_text(BILL_N.replace(",", sep))
    args = ["run", "--month", "2026-11", "--billing", str(tmp_path / "b.csv"), "--subscribers",
            str(tmp_path / "s.csv"), "--store", str(store), "--json"]
    for extra in ((), ("--delimiter", option)):
        done = _cli(tmp_path, *args, *extra)
        assert done.returncode == 0, done.stderr
        assert '"rated": 3' in done.stdout
    shown = "a tab" if option == "tab" else "';'"
    err = _reject(tmp_path, store, "--billing", str(tmp_path / "b.csv"), "--delimiter", ",",
                  subs=SUBS_N.replace(",", sep), bill=BILL_N.replace(",", sep))
    assert f"the header is one column holding {shown}" in err
    assert f"pass --delimiter {option if option == 'tab' else repr(option)}" in err

# The SLA commands' bad-input cases (end of time, SLA targets no engine can honour, malformed
# ticket rows with and without --skip-bad) run through a real subprocess in
# tests/test_sla_edges.py.
