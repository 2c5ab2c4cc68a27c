"""The compliance report (SPEC 6, seed 001) on six tickets worked by hand, the library and
the CLI (a real subprocess). Maintenance on the 24x7 clock in 2031: no calendar involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tiering.errors import InputError
from tiering.sla import report

NOW = "2031-04-03T12:00:00+08:00"
CSV = """\
ticket_id,dept,tier,issue_class,opened_at,resolved_at,stage,stage_entered_at,leader
T1,x,5,maintenance,2031-04-01T10:00:00+08:00,2031-04-01T16:00:00+08:00,,,
T2,x,5,maintenance,2031-04-01T10:00:00+08:00,2031-04-01T20:00:00+08:00,,,
T3,x,5,maintenance,2031-04-01T10:00:00+08:00,2031-04-01T14:50:24+08:00,,,
T4,x,4,maintenance,2031-04-03T10:00:00+08:00,,,,
T5,x,4,maintenance,2031-04-01T10:00:00+08:00,,handle,2031-04-01T11:00:00+08:00,wang
T6,y,3,maintenance,2031-04-02T12:00:00+08:00,2031-04-03T00:00:00+08:00,accept,2031-04-02T12:00:00+08:00,
"""
# By hand (5 stars 8 h, 4 stars 24 h, 3 stars 48 h; ladder handler 50 %, supervisor 75 %,
# direct_leader 100 %):
# T1 6 h of 8: met, 0.75, handler+supervisor. T2 10 h: resolved late, breached, 1.25, all
# three. T3 4 h 50 min 24 s = 290.4 of 480 min = 0.605 exactly: met, "0.61" (half up; the
# float 0.605 rounds to 0.6), handler. T4 2 h of 24 at now: open, not due, no step.
# T5 due 04-02 10:00, open at now: breached, all three; its handle stage (18 h for 4 stars
# from 04-01 11:00) was due 04-02 05:00: overdue, wang notified. T6 12 h of 48: met, 0.25, no
# step; accept (1 h) due 04-02 13:00, resolved later: overdue.
ESC = ("handler", "supervisor", "direct_leader")


def row(dept, cls, tier, counts, rate, p50, p90, esc, overdue):
    return {"dept": dept, "issue_class": cls, "tier": tier,
            **dict(zip(("tickets", "resolved", "met", "breached", "open_not_due"), counts)),
            "on_time_rate": rate, "fraction_used_p50": p50, "fraction_used_p90": p90,
            "escalations": dict(zip(ESC, esc)), "stage_overdue": overdue}


GROUPS = [
    # x 5 stars: rate 2/3; fractions 0.61, 0.75, 1.25: p50 rank 2, p90 rank ceil(2.7) = 3
    row("x", "maintenance", 5, (3, 3, 2, 1, 0), "66.67", "0.75", "1.25", (3, 2, 1), 0),
    row("x", "maintenance", 4, (2, 0, 0, 1, 1), "0.00", None, None, (1, 1, 1), 1),
    row("y", "maintenance", 3, (1, 1, 1, 0, 0), "100.00", "0.25", "0.25", (0, 0, 0), 1),
]
TOTALS = [
    row("x", None, None, (5, 3, 2, 2, 1), "50.00", "0.75", "1.25", (4, 3, 2), 1),
    row("y", None, None, (1, 1, 1, 0, 0), "100.00", "0.25", "0.25", (0, 0, 0), 1),
    # overall: rate 3/5; fractions 0.25, 0.61, 0.75, 1.25: p50 rank 2, p90 rank ceil(3.6) = 4
    row(None, None, None, (6, 4, 3, 2, 1), "60.00", "0.61", "1.25", (4, 3, 2), 2),
]


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    p = tmp_path / "tickets.csv"
    p.write_text(CSV)
    return p


def test_library_report_worked_by_hand(tickets: Path) -> None:
    out = report(pl.read_csv(tickets, infer_schema=False), now=NOW, by=["dept"])
    assert out.filter(~pl.col("total")).drop("total").to_dicts() == GROUPS
    assert out.filter(pl.col("total")).drop("total").to_dicts() == TOTALS


def test_without_groups_only_the_overall_total(tickets: Path) -> None:
    out = report(pl.read_csv(tickets, infer_schema=False), now=NOW)
    totals = out.filter(pl.col("total")).drop("total").to_dicts()
    assert totals == [{k: v for k, v in TOTALS[-1].items() if k != "dept"}]


def test_grouped_by_leader_gives_overdue_stages_per_leader_notified(tickets: Path) -> None:
    out = report(pl.read_csv(tickets, infer_schema=False), now=NOW, by=["leader"])
    # T5 (wang) and T6 (no leader: the ladder's last step is told) are overdue; then overall
    totals = [(r["leader"], r["stage_overdue"]) for r in out.filter(pl.col("total")).to_dicts()]
    assert totals == [("wang", 1), (None, 1), (None, 2)]


def test_a_ticket_that_cannot_be_computed_is_left_out(tickets: Path) -> None:
    frame = pl.read_csv(tickets, infer_schema=False)
    bad = frame.head(1).with_columns(pl.lit("nosuch").alias("issue_class"))
    out = report(pl.concat([frame, bad]), now=NOW)
    assert out.filter(pl.col("total"))["tickets"].to_list() == [6]


def test_an_unknown_group_column_is_refused(tickets: Path) -> None:
    with pytest.raises(InputError, match="no column 'region'"):
        report(pl.read_csv(tickets, infer_schema=False), now=NOW, by=["region"])


def tiering(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiering.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)


def test_cli_report_json_exactly(tickets: Path) -> None:
    p = tiering("sla", "report", str(tickets), "--now", NOW, "--by", "dept", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"now": NOW, "groups": GROUPS, "totals": TOTALS}


def test_cli_report_table_and_files(tickets: Path, tmp_path: Path) -> None:
    p = tiering("sla", "report", str(tickets), "--now", NOW, "--by", "dept")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["dept", "class", "tier", "tickets"]
    assert lines[-1].split()[:9] == ["-", "total", "-", "6", "4", "3", "2", "1", "60.00"]
    out = tmp_path / "r.json"
    assert tiering("sla", "report", str(tickets), "--now", NOW, "--out", str(out)).returncode == 0
    assert json.loads(out.read_text())["totals"][0]["on_time_rate"] == "60.00"
    csv = tmp_path / "r.csv"
    assert tiering("sla", "report", str(tickets), "--now", NOW, "--by", "dept", "--out",
                   str(csv)).returncode == 0
    back = pl.read_csv(csv)
    assert back["escalated_direct_leader"].to_list() == [1, 1, 0, 2, 0, 2]


def test_cli_sla_tickets_still_works_with_stage_columns(tickets: Path) -> None:
    p = tiering("sla", "--now", NOW, str(tickets), "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["ticket_id"]: r for r in json.loads(p.stdout)["rows"]}
    assert (rows["T5"]["stage_deadline"], rows["T5"]["stage_state"], rows["T5"]["notify"]) == (
        "2031-04-02T05:00:00+08:00", "breached", "wang")
    assert rows["T6"]["notify"] == "direct_leader" and rows["T1"]["stage_state"] is None


@pytest.mark.parametrize("args", [
    ["sla", "report", "{t}", "--now", NOW, "--by", "region"],
    ["sla", "report", "{t}"],
    ["sla", "report", "{t}", "--now", "yesterday"],
    ["deadline", "--tier", "5", "--class", "maintenance", "--opened", NOW, "--stage", "triage",
     "--stage-entered", NOW],
    ["deadline", "--tier", "5", "--class", "maintenance", "--opened", NOW, "--stage", "accept"],
])
def test_cli_bad_input_exits_2_without_a_traceback(tickets: Path, args: list[str]) -> None:
    p = tiering(*(a.format(t=tickets) for a in args))
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.strip()


def test_cli_deadline_with_a_stage() -> None:
    p = tiering("deadline", "--tier", "5", "--class", "maintenance", "--opened",
                "2031-04-01T10:00:00+08:00", "--pause",
                "2031-04-01T11:00:00+08:00/2031-04-01T14:00:00+08:00", "--stage", "dispatch",
                "--stage-entered", "2031-04-01T10:30:00+08:00", "--leader", "wang",
                "--now", "2031-04-01T15:00:00+08:00", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert (doc["deadline"], doc["stage_deadline"], doc["stage_state"], doc["notify"]) == (
        "2031-04-01T21:00:00+08:00", "2031-04-01T14:30:00+08:00", "breached", "wang")
