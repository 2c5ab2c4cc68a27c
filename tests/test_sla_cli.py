"""`deadline` and `sla` through click's CliRunner (registered here in a throwaway group)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner

from tiering.cli._sla import deadline_cmd, sla_cmd
from years import LAST_KNOWN

app = click.Group(commands=[deadline_cmd, sla_cmd])


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_deadline_json_friday_evening() -> None:
    code, out, _ = run("deadline", "--tier", "5", "--class", "feedback",
                       "--opened", "2026-09-04T18:30:00+08:00",
                       "--now", "2026-09-07T17:00:00+08:00", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["deadline"] == "2026-09-08T09:00:00+08:00"
    assert {k: doc[k] for k in ("state", "counted_seconds", "remaining_seconds", "fraction",
                                "escalation")} == {
        "state": "warning", "counted_seconds": 25200.0, "remaining_seconds": 3600.0,
        "fraction": 0.875, "escalation": "supervisor"}
    assert (doc["tier"], doc["issue_class"], doc["opened_at"], doc["clock"]) == (
        5, "feedback", "2026-09-04T18:30:00+08:00", "business")


def test_deadline_text_with_pauses_and_other_offset() -> None:
    code, out, _ = run("deadline", "--tier", "4", "--class", "maintenance",
                       "--opened", "2026-09-07T01:00:00Z",
                       "--pause", "2026-09-07T10:00:00+08:00/2026-09-07T12:00:00+08:00",
                       "--now", "2026-09-07T12:00:00+08:00")
    assert code == 0
    assert "deadline   2026-09-08T11:00:00+08:00" in out  # 24 h + 2 h paused, in the policy zone
    assert "state      on_track" in out


def test_deadline_open_pause() -> None:
    code, out, _ = run("deadline", "--tier", "5", "--class", "feedback",
                       "--opened", "2026-09-30T17:00:00+08:00",
                       "--pause", "2026-09-30T17:30:00+08:00/",
                       "--now", "2026-10-08T12:00:00+08:00", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["deadline"] is None and doc["state"] == "paused"
    assert doc["counted_seconds"] == 1800.0


@pytest.mark.parametrize("args, message", [
    (["--opened", "2026-09-04T18:30:00"], "no UTC offset"),
    (["--opened", "yesterday"], "not an ISO-8601 time"),
    (["--opened", "2026-09-04T18:30:00+08:00", "--pause", "2026-09-05T10:00:00+08:00"],
     "START/END"),
    (["--opened", f"{LAST_KNOWN + 3}-03-01T10:00:00+08:00"], f"{LAST_KNOWN + 3}-03-01 is outside them"),
])
def test_deadline_bad_input_exits_2(args: list[str], message: str) -> None:
    code, _, err = run("deadline", "--tier", "5", "--class", "feedback", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_deadline_unknown_class_exits_2() -> None:
    code, _, err = run("deadline", "--tier", "5", "--class", "plumbing",
                       "--opened", "2026-09-04T18:30:00+08:00")
    assert code == 2 and "unknown issue class 'plumbing'" in err


TICKETS = f"""ticket_id,tier,issue_class,opened_at,resolved_at,pauses
T1,5,feedback,2026-09-04T18:30:00+08:00,,
T2,4,maintenance,2026-09-07T09:00:00+08:00,2026-09-07T10:00:00+08:00,
T3,5,feedback,{LAST_KNOWN + 3}-03-01T10:00:00+08:00,,
T4,3,plumbing,2026-09-07T09:00:00+08:00,,
T5,5,feedback,2026-09-30T17:00:00+08:00,,2026-09-30T17:30:00+08:00/2026-10-08T09:30:00+08:00;2026-09-30T17:15:00+08:00/2026-09-30T17:45:00+08:00
"""


def test_sla_batch_to_stdout(tmp_path: Path) -> None:
    f = tmp_path / "tickets.csv"
    f.write_text(TICKETS)
    code, out, err = run("sla", str(f), "--now", "2026-09-07T17:00:00+08:00")
    assert code == 0
    rows = {r["ticket_id"]: r for r in pl.read_csv(out.encode(), infer_schema=False).to_dicts()}
    assert rows["T1"]["deadline"] == "2026-09-08T09:00:00+08:00"
    assert rows["T1"]["state"] == "warning" and rows["T1"]["escalation"] == "supervisor"
    assert rows["T2"]["state"] == "met"
    assert rows["T3"]["deadline"] is None and "is outside them" in rows["T3"]["error"]
    assert "unknown issue class 'plumbing'" in rows["T4"]["error"]
    # the merged pause 09-30 17:15 .. 10-08 09:30 covers 45 + 30 working minutes, so the
    # deadline moves from 10-08 17:00 by 1 h 15 min of working time, though now is before it
    assert rows["T5"]["deadline"] == "2026-10-09T09:15:00+08:00"
    assert rows["T5"]["state"] == "on_track"
    assert "5 tickets; 2 could not be computed" in err
    code, later, _ = run("sla", str(f), "--now", "2026-10-09T12:00:00+08:00")
    again = {r["ticket_id"]: r for r in pl.read_csv(later.encode(), infer_schema=False).to_dicts()}
    assert [r["deadline"] for r in again.values()] == [r["deadline"] for r in rows.values()]
    assert again["T5"]["state"] == "breached"


def test_sla_batch_parquet_out_and_json(tmp_path: Path) -> None:
    f = tmp_path / "tickets.csv"
    f.write_text(TICKETS)
    out = tmp_path / "out.parquet"
    code, stdout, _ = run("sla", str(f), "--now", "2026-09-07T17:00:00+08:00",
                          "--out", str(out), "--json")
    assert code == 0
    doc = json.loads(stdout)
    assert doc["tickets"] == 5 and doc["not_computed"] == 2
    back = pl.read_parquet(out)
    assert {"deadline", "state", "remaining_seconds", "escalation", "error"} <= set(back.columns)
    # the Parquet output is valid input again (deadline columns are replaced, not doubled)
    code, stdout, _ = run("sla", str(out), "--now", "2026-09-07T17:00:00+08:00", "--json")
    assert code == 0 and len(json.loads(stdout)["rows"]) == 5


@pytest.mark.parametrize("replace, message", [
    (("T1,5,", "T1,five,"), "row 1, column 'tier'"),
    (("T2,4,maintenance,2026-09-07T09:00:00+08:00", "T2,4,maintenance,2026-09-07 09:00"),
     "row 2, column 'opened_at'"),
    (("2026-09-30T17:30:00+08:00/", "2026-09-30T17:30:00+08:00"), "row 5, column 'pauses'"),
])
def test_sla_bad_input_names_file_row_column(tmp_path: Path, replace: tuple[str, str],
                                             message: str) -> None:
    f = tmp_path / "tickets.csv"
    f.write_text(TICKETS.replace(*replace, 1))
    code, _, err = run("sla", str(f), "--now", "2026-09-07T17:00:00+08:00")
    assert code == 2 and str(f) in err and message in err


def test_sla_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "tickets.csv"
    f.write_text("ticket_id,tier,opened_at\nT1,5,2026-09-04T18:30:00+08:00\n")
    code, _, err = run("sla", str(f))
    assert code == 2 and "missing column 'issue_class'" in err


STORE_TICKETS = """ticket_id,tier,issue_class,opened_at,subscriber_id
T1,,maintenance,2026-09-07T09:00:00+08:00,13800000001
T2,2,maintenance,2026-09-07T09:00:00+08:00,13800000002
T3,,maintenance,2026-09-07T09:00:00+08:00,
"""


def test_sla_store_fills_missing_tiers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is faked with the signature the lead codes against."""
    calls = []

    class FakeStore:
        def __init__(self, path: str) -> None:
            self.path = path

        def effective_tiers(self, subscriber_ids: pl.Series, at: pl.Series) -> pl.Series:
            calls.append((subscriber_ids.to_list(), at.to_list()))
            return pl.Series([5] * len(subscriber_ids), dtype=pl.Int64)

    monkeypatch.setitem(sys.modules, "tiering.store",
                        types.SimpleNamespace(Store=FakeStore))
    f = tmp_path / "tickets.csv"
    f.write_text(STORE_TICKETS)
    code, out, _ = run("sla", str(f), "--now", "2026-09-07T10:00:00+08:00",
                       "--store", str(tmp_path / "s.duckdb"))
    assert code == 0
    rows = pl.read_csv(out.encode(), infer_schema=False)
    assert calls[0][0] == ["13800000001"]
    assert rows["deadline"].to_list()[:2] == ["2026-09-07T17:00:00+08:00",
                                              "2026-09-10T09:00:00+08:00"]
    assert rows["error"][2].startswith("no tier")


def test_sla_store_for_real(tmp_path: Path) -> None:
    store = pytest.importorskip("tiering.store")
    if not hasattr(getattr(store, "Store", None), "effective_tiers"):
        pytest.skip("tiering.store.Store.effective_tiers is not written yet")
    f = tmp_path / "tickets.csv"
    f.write_text(STORE_TICKETS)
    code, _, err = run("sla", str(f), "--now", "2026-09-07T10:00:00+08:00",
                       "--store", str(tmp_path / "empty.duckdb"))
    assert code in (0, 2), err  # an empty store may refuse; it must not crash
    assert "Traceback" not in err


def test_help_teaches_with_examples() -> None:
    for cmd in ("deadline", "sla"):
        code, out, _ = run(cmd, "--help")
        assert code == 0 and "Examples:" in out and "+08:00" in out
