"""Through the real command line: the new year (`tiering calendar`, provisional answers), the
edges of time, and SLA limits the engine cannot honour (issue 12 items 11 and 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from years import LAST_KNOWN, last_working_day

Y = LAST_KNOWN


def tiering(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiering.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_calendar_warns_when_the_coming_90_days_are_not_known() -> None:
    late = tiering("calendar", "--json", "--now", f"{Y}-12-01T09:00:00+08:00")
    assert late.returncode == 0, late.stderr
    doc = json.loads(late.stdout)
    cn = doc["calendars"][0]
    assert doc["unknown_years"] == "provisional"
    assert (cn["name"], cn["known_years"][1], cn["horizon_known"]) == ("CN", Y, False)
    assert cn["provisional_years"][0] == Y + 1 and cn["source"].startswith("holidays ")
    assert len(doc["warnings"]) == 1 and str(Y + 1) in doc["warnings"][0]
    assert "warning:" in late.stderr
    early = tiering("calendar", "--json", "--now", f"{Y}-06-01T09:00:00+08:00")
    assert json.loads(early.stdout)["warnings"] == [] and early.stderr == ""
    text = tiering("calendar", "--now", f"{Y}-06-01T09:00:00+08:00")
    assert text.returncode == 0 and f"-{Y}, provisional {Y + 1}-" in text.stdout


def test_sla_counts_provisional_answers_on_stderr(tmp_path: Path) -> None:
    eve = last_working_day(Y)
    f = tmp_path / "t.csv"
    f.write_text("ticket_id,tier,issue_class,opened_at\n"
                 f"A,5,feedback,{eve.isoformat()}T10:00:00+08:00\n"
                 f"B,5,feedback,{Y}-06-01T10:00:00+08:00\n")
    r = tiering("sla", str(f), "--now", f"{Y}-12-01T09:00:00+08:00", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["provisional"] == 1
    assert [row["warning"] is not None for row in doc["rows"]] == [True, False]
    assert "1 of 2 answers are provisional" in r.stderr
    one = tiering("deadline", "--tier", "5", "--class", "feedback", "--opened",
                  f"{eve.isoformat()}T10:00:00+08:00", "--json")
    assert json.loads(one.stdout)["warning"] == doc["rows"][0]["warning"]


def test_the_end_of_time_is_refused_alike_by_deadline_and_sla(tmp_path: Path) -> None:
    opened = "9999-12-31T23:00:00+08:00"
    r = tiering("deadline", "--tier", "5", "--class", "maintenance", "--opened", opened,
                "--now", opened)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "outside the representable years" in r.stderr
    f = tmp_path / "t.csv"
    f.write_text(f"ticket_id,tier,issue_class,opened_at\nA,5,maintenance,{opened}\n"
                 "B,5,maintenance,2026-04-01T10:00:00+08:00\n")
    r = tiering("sla", str(f), "--now", opened)
    assert r.returncode == 0, r.stderr
    rows = pl.read_csv(r.stdout.encode(), infer_schema=False)
    assert rows["deadline"].to_list() == [None, "2026-04-01T18:00:00+08:00"]
    assert "outside the representable years" in rows["error"][0]


@pytest.mark.parametrize("target", ["1000000000000000000000", "87601"])
def test_an_sla_target_no_engine_can_honour_is_refused(tmp_path: Path, target: str) -> None:
    from importlib import resources

    text = resources.files("tiering.data").joinpath("default_policy.toml").read_text("utf-8")
    p = tmp_path / "p.toml"
    p.write_text(text.replace("targets = [8, 24, 48, 72, 96]", f"targets = [8, 24, 48, 72, {target}]"))
    r = tiering("deadline", "--tier", "1", "--class", "maintenance", "--opened",
                "2026-04-01T10:00:00+08:00", "--policy", str(p))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sla.classes.maintenance.targets[4]" in r.stderr and "at most 87600 h" in r.stderr


MALFORMED = """ticket_id,tier,issue_class,opened_at,pauses
A,5,maintenance,2026-04-01T10:00:00+08:00,
B,five,maintenance,2026-04-01T10:00:00+08:00,
C,5,maintenance,2026-04-01 10:00,
D,5,maintenance,2026-04-01T10:00:00+08:00,2026-04-01T11:00:00+08:00
E,5,maintenance,yesterday,
F,4,maintenance,2026-04-01T10:00:00+08:00,
G,5,maintenance,,
H,5,maintenance,soon,
"""


def test_sla_with_malformed_rows_reports_count_and_first_five(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(MALFORMED)
    r = tiering("sla", str(f), "--now", "2026-04-01T12:00:00+08:00")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    assert f"{f}: row 2, column 'tier'" in r.stderr
    assert "6 malformed cells in 6 rows, the first 5:" in r.stderr
    for shown in ("row 3, column 'opened_at': '2026-04-01 10:00'", "row 4, column 'pauses'",
                  "row 5, column 'opened_at': 'yesterday'", "row 7, column 'opened_at': None"):
        assert shown in r.stderr
    assert "row 8" not in r.stderr  # the sixth is counted, not listed


def test_sla_skip_bad_computes_the_good_rows(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(MALFORMED)
    r = tiering("sla", str(f), "--now", "2026-04-01T12:00:00+08:00", "--skip-bad", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["ticket_id"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["A"]["deadline"] == "2026-04-01T18:00:00+08:00" and rows["A"]["error"] is None
    assert rows["F"]["deadline"] == "2026-04-02T10:00:00+08:00"
    for bad, column in zip("BCDEGH", ["tier", "opened_at", "pauses", "opened_at", "opened_at",
                                       "opened_at"]):
        assert rows[bad]["deadline"] is None and rows[bad]["state"] is None
        assert rows[bad]["error"].startswith(f"row {'ABCDEFGH'.index(bad) + 1}, column '{column}'")
    assert json.loads(r.stdout)["not_computed"] == 6
