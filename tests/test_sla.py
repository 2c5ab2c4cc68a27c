"""The deadline rule (SPEC section 6): hand-worked cases and properties of both faces."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiering.errors import DateOutOfBounds, InputError
from tiering.policy import Policy, parse_policy
from tiering.sla import SlaLookupError, Ticket, deadline, deadlines, status
from years import FIRST_KNOWN, LAST_KNOWN, last_working_day, first_statutory_working_day

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")

DE_CALENDAR = """
base = "none"
timezone = "Europe/Berlin"
years = [2026]
holidays = [2026-10-03, 2026-12-25, 2026-12-26]

[hours]
mon = ["08:00-12:00", "13:00-17:00"]
tue = ["08:00-12:00", "13:00-17:00"]
wed = ["08:00-12:00", "13:00-17:00"]
thu = ["08:00-12:00", "13:00-17:00"]
fri = ["08:00-12:00", "13:00-17:00"]
"""

EXTRA = """
[sla.classes.repair]
clock = "business"
calendar = "CN"
unit = "h"
targets = [4, 8, 16, 24, 40]

[sla.classes.de_feedback]
clock = "business"
calendar = "DE"
unit = "wd"
targets = [1, 1, 2, 2, 3]

[sla.classes.de_repair]
clock = "business"
calendar = "DE"
unit = "h"
targets = [2, 4, 8, 16, 24]

[calendars.DE]
file = "de.toml"
"""


def make_policy(directory: Path) -> Policy:
    (directory / "de.toml").write_text(DE_CALENDAR)
    text = resources.files("tiering.data").joinpath("default_policy.toml").read_text("utf-8")
    return parse_policy(tomllib.loads(text + EXTRA), source="test", base_dir=directory)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return make_policy(tmp_path_factory.mktemp("policy"))


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


def de(*a: int) -> datetime:
    return datetime(*a, tzinfo=BERLIN)


def due(policy: Policy, tier: int, cls: str, opened: datetime, pauses=(), **kw) -> datetime:
    d = deadline(tier, cls, opened, pauses, policy=policy, **kw).deadline
    assert d is not None
    return d


# --- named cases, expected values worked by hand ------------------------------------------

def test_spec_example_friday_evening_plus_one_working_day(policy: Policy) -> None:
    # Friday 18:30 -> start moves to Monday 09:00 -> deadline Tuesday 09:00.
    d = deadline(5, "feedback", sh(2026, 9, 4, 18, 30), policy=policy)
    assert d.deadline == sh(2026, 9, 8, 9) and d.deadline.utcoffset() == timedelta(hours=8)
    assert (d.target, d.unit, d.clock, d.calendar) == (1, "wd", "business", "CN")


def test_holiday_eve(policy: Policy) -> None:
    # Wed 2026-09-30 17:00, then National Day 10-01..10-07; next working day Thu 10-08.
    assert due(policy, 5, "feedback", sh(2026, 9, 30, 17)) == sh(2026, 10, 8, 17)
    # 4 working hours: 17:00-18:00 on the eve, 09:00-12:00 on 10-08 -> exactly 12:00.
    assert due(policy, 5, "repair", sh(2026, 9, 30, 17)) == sh(2026, 10, 8, 12)


def test_inside_lunch_break(policy: Policy) -> None:
    assert due(policy, 5, "feedback", sh(2026, 9, 7, 12, 30)) == sh(2026, 9, 8, 13)
    assert due(policy, 5, "repair", sh(2026, 9, 7, 12, 30)) == sh(2026, 9, 7, 17)


def test_make_up_saturday(policy: Policy) -> None:
    # 2026-10-10 is a Saturday worked in exchange for National Day (调休).
    assert due(policy, 5, "feedback", sh(2026, 10, 10, 10)) == sh(2026, 10, 12, 10)
    assert due(policy, 5, "feedback", sh(2026, 10, 9, 10)) == sh(2026, 10, 10, 10)
    # Friday 17:00 + 4 h: one hour on Friday, three on the make-up Saturday.
    assert due(policy, 5, "repair", sh(2026, 10, 9, 17)) == sh(2026, 10, 10, 12)


def test_just_before_midnight(policy: Policy) -> None:
    assert due(policy, 5, "feedback", sh(2026, 9, 7, 23, 59)) == sh(2026, 9, 9, 9)
    assert due(policy, 5, "maintenance", sh(2026, 9, 7, 23, 59)) == sh(2026, 9, 8, 7, 59)
    assert due(policy, 5, "construction", sh(2026, 9, 7, 23, 59)) == sh(2026, 9, 27, 23, 59)


def test_half_open_boundaries(policy: Policy) -> None:
    assert due(policy, 5, "feedback", sh(2026, 9, 7, 12)) == sh(2026, 9, 8, 13)  # 12:00 is lunch
    assert due(policy, 5, "feedback", sh(2026, 9, 7, 18)) == sh(2026, 9, 9, 9)  # after hours
    assert due(policy, 5, "feedback", sh(2026, 9, 7, 9)) == sh(2026, 9, 8, 9)
    # a target reached exactly at 18:00 (or 12:00) is due then, not at the next start
    assert due(policy, 5, "repair", sh(2026, 9, 7, 14)) == sh(2026, 9, 7, 18)
    assert due(policy, 5, "repair", sh(2026, 9, 7, 8)) == sh(2026, 9, 7, 14)
    assert due(policy, 4, "repair", sh(2026, 9, 7, 9)) == sh(2026, 9, 7, 18)
    at_due = status(Ticket(4, "repair", sh(2026, 9, 7, 9)), sh(2026, 9, 7, 18), policy=policy)
    assert (at_due.state, at_due.fraction, at_due.escalation) == ("warning", 1.0, "direct_leader")
    after = status(Ticket(4, "repair", sh(2026, 9, 7, 9)), sh(2026, 9, 7, 18, 0, 1),
                   policy=policy)
    assert after.state == "breached" and after.remaining_seconds == 0


def test_pause_spanning_a_holiday(policy: Policy) -> None:
    # Opened Tue 09-29 10:00 with 1 wd (due 09-30 10:00); paused 09-30 09:30 .. 10-08 10:00.
    # Paused working time: 2.5 h + 5 h on 09-30, none in the holiday week, 1 h on 10-08.
    # Counted before the pause 7.5 h; the last 0.5 h runs 10:00-10:30 on 10-08.
    pause = (sh(2026, 9, 30, 9, 30), sh(2026, 10, 8, 10))
    assert due(policy, 5, "feedback", sh(2026, 9, 29, 10), [pause]) == sh(2026, 10, 8, 10, 30)
    # on 24x7 the same pause removes elapsed time: 8 h target, 4 h counted before it
    assert due(policy, 5, "maintenance", sh(2026, 9, 30, 5, 30), [pause]) == sh(2026, 10, 8, 14)


def test_overlapping_and_unordered_pauses(policy: Policy) -> None:
    # 8 working h from Mon 09:00; union of pauses = 10:00-12:30 and 14:00-16:00 = 4 working h.
    pauses = [(sh(2026, 9, 7, 14), sh(2026, 9, 7, 16)), (sh(2026, 9, 7, 10), sh(2026, 9, 7, 11, 30)),
              (sh(2026, 9, 7, 11), sh(2026, 9, 7, 12, 30)), (sh(2026, 9, 7, 15), sh(2026, 9, 7, 15, 30))]
    assert due(policy, 4, "repair", sh(2026, 9, 7, 9), pauses) == sh(2026, 9, 8, 14)
    merged = [(sh(2026, 9, 7, 10), sh(2026, 9, 7, 12, 30)), (sh(2026, 9, 7, 14), sh(2026, 9, 7, 16))]
    assert due(policy, 4, "repair", sh(2026, 9, 7, 9), merged) == sh(2026, 9, 8, 14)
    # time before opening never counts: of this pause only Mon 09:00-10:00 does
    early = [(sh(2026, 9, 4, 10), sh(2026, 9, 7, 10))]
    assert due(policy, 4, "repair", sh(2026, 9, 7, 9), early) == sh(2026, 9, 8, 10)
    text = ["2026-09-07T14:00:00+08:00/2026-09-07T16:00:00+08:00",
            "2026-09-07T10:00:00+08:00/2026-09-07T12:30:00+08:00"]
    assert due(policy, 4, "repair", sh(2026, 9, 7, 9), text) == sh(2026, 9, 8, 14)


def test_pause_still_open(policy: Policy) -> None:
    t = Ticket(5, "feedback", sh(2026, 9, 7, 9), pauses=((sh(2026, 9, 7, 15), None),))
    s = status(t, sh(2026, 9, 8, 11), policy=policy)
    assert s.deadline.deadline is None and s.state == "paused"
    assert (s.counted_seconds, s.remaining_seconds) == (5 * 3600, 3 * 3600)  # frozen at 15:00
    assert s.escalation == "handler" and s.fraction == 0.625
    assert deadline(5, "feedback", sh(2026, 9, 7, 9), ["2026-09-07T15:00:00+08:00/.."],
                    policy=policy).deadline is None
    # paused after the deadline had passed: breached, not paused
    late = Ticket(5, "feedback", sh(2026, 9, 7, 9), pauses=((sh(2026, 9, 8, 10), None),))
    assert status(late, sh(2026, 9, 8, 11), policy=policy).state == "breached"
    # the pause ends at Tue 11:00: it covered 5 working h (Mon 15-18, Tue 09-11), so the
    # deadline is Tue 09:00 + 5 working h = Tue 15:00, with the same 3 h remaining
    closed = Ticket(5, "feedback", sh(2026, 9, 7, 9),
                    pauses=((sh(2026, 9, 7, 15), sh(2026, 9, 8, 11)),))
    s = status(closed, sh(2026, 9, 8, 11), policy=policy)
    assert s.deadline.deadline == sh(2026, 9, 8, 15)
    assert (s.state, s.remaining_seconds) == ("on_track", 3 * 3600)


def error_mode(policy: Policy) -> Policy:
    sla = dataclasses.replace(policy.sla, unknown_years="error")
    return dataclasses.replace(policy, sla=sla)


Y = LAST_KNOWN


def test_new_year_in_error_mode(policy: Policy) -> None:
    strict = error_mode(policy)
    eve = last_working_day(Y)
    with pytest.raises(DateOutOfBounds, match=rf"knows the years {FIRST_KNOWN}-{Y}; the deadline "
                                              rf"\(after {Y}-12-31\) is outside them"):
        deadline(5, "feedback", sh(eve.year, eve.month, eve.day, 10), policy=strict)
    with pytest.raises(DateOutOfBounds, match=f"{Y + 1}-01-04 is outside them"):
        deadline(5, "feedback", sh(Y + 1, 1, 4, 10), policy=strict)
    assert due(strict, 5, "maintenance", sh(Y, 12, 31, 20)) == sh(Y + 1, 1, 1, 4)
    frame = pl.DataFrame({"tier": [5, 5], "issue_class": ["feedback", "maintenance"],
                          "opened_at": [f"{Y + 1}-01-04T10:00:00+08:00"] * 2})
    out = deadlines(frame, now=sh(Y, 12, 31, 12), policy=strict)
    assert out["deadline"].is_null().to_list() == [True, False]
    assert f"{Y + 1}-01-04 is outside them" in out["error"][0]
    assert out["warning"].to_list() == [None, None]


def test_new_year_provisional_by_default(policy: Policy) -> None:
    eve = last_working_day(Y)
    first = first_statutory_working_day(Y + 1)
    d = deadline(5, "feedback", sh(eve.year, eve.month, eve.day, 10), policy=policy)
    assert d.deadline == sh(first.year, first.month, first.day, 10)
    assert d.warning is not None and f"no official schedule for {Y + 1}" in d.warning
    assert f"holidays {holidays.__version__} knows up to {Y}" in d.warning
    # an answer that rests only on known years carries no warning
    assert deadline(5, "feedback", sh(Y, 6, 1, 10), policy=policy).warning is None
    s = status(Ticket(5, "repair", sh(eve.year, eve.month, eve.day, 10)), sh(Y + 1, 1, 20),
               policy=policy)
    assert s.state == "breached" and s.deadline.warning is not None
    # beyond the provisional years: an error in this mode too
    with pytest.raises(DateOutOfBounds, match=f"{Y + 3}-03-01 is outside them"):
        deadline(5, "feedback", sh(Y + 3, 3, 1, 10), policy=policy)
    frame = pl.DataFrame({
        "tier": [5, 5, 5], "issue_class": ["feedback", "feedback", "maintenance"],
        "opened_at": [f"{eve.isoformat()}T10:00:00+08:00", f"{Y}-06-01T10:00:00+08:00",
                      f"{eve.isoformat()}T10:00:00+08:00"]})
    out = deadlines(frame, now=sh(Y, 12, 1), policy=policy)
    assert out["deadline"][0] == d.deadline and out["error"].null_count() == 3
    assert out["warning"].to_list() == [d.warning, None, None]


def test_berlin_calendar_across_the_october_dst_change(policy: Policy) -> None:
    # Fri 2026-10-23 10:00 CEST + 1 wd = Mon 10-26 10:00 CET: the same local time, 25 h later.
    d = due(policy, 5, "de_feedback", de(2026, 10, 23, 10))
    assert d == de(2026, 10, 26, 10) and d.utcoffset() == timedelta(hours=1)
    assert d.isoformat() == "2026-10-26T10:00:00+01:00"
    assert d.timestamp() - de(2026, 10, 23, 10).timestamp() == 73 * 3600
    # 2 working h from Fri 16:00 CEST: 16:00-17:00, then Mon 08:00-09:00 CET
    assert due(policy, 5, "de_repair", de(2026, 10, 23, 16)) == de(2026, 10, 26, 9)
    # the same instant in another offset is the same input
    assert due(policy, 5, "de_repair", sh(2026, 10, 23, 22)) == de(2026, 10, 26, 9)
    # Sat 10-03 is a holiday anyway; Fri 10-02 + 1 wd -> Mon 10-05
    assert due(policy, 5, "de_feedback", de(2026, 10, 2, 9)) == de(2026, 10, 5, 9)
    with pytest.raises(DateOutOfBounds, match="'DE' knows the years 2026-2026"):
        deadline(5, "de_feedback", de(2026, 12, 31, 10), policy=policy)


def test_status_states_and_escalation(policy: Policy) -> None:
    t = Ticket(5, "maintenance", sh(2026, 9, 7, 9))  # 8 h, due 17:00
    at = lambda h, m=0: status(t, sh(2026, 9, 7, h, m), policy=policy)  # noqa: E731
    assert (at(10).state, at(10).escalation) == ("on_track", None)
    assert (at(13).state, at(13).escalation) == ("on_track", "handler")  # 50 %
    assert (at(15).state, at(15).escalation) == ("warning", "supervisor")  # 75 %
    s = at(18)
    assert (s.state, s.escalation, s.remaining_seconds) == ("breached", "direct_leader", -3600)
    assert s.counted_seconds == 9 * 3600 and s.fraction == 9 / 8
    met = status(Ticket(5, "maintenance", sh(2026, 9, 7, 9), resolved_at=sh(2026, 9, 7, 16)),
                 sh(2026, 9, 9), policy=policy)
    assert (met.state, met.counted_seconds) == ("met", 7 * 3600)  # the clock stops at resolution
    late = status(Ticket(5, "maintenance", sh(2026, 9, 7, 9), resolved_at=sh(2026, 9, 7, 17, 1)),
                  sh(2026, 9, 9), policy=policy)
    assert late.state == "breached"
    future = status(Ticket(5, "maintenance", sh(2026, 9, 7, 9), resolved_at=sh(2026, 9, 7, 16)),
                    sh(2026, 9, 7, 10), policy=policy)
    assert future.state == "on_track"  # not resolved yet at `now`
    # wd: remaining is the working time from now to the deadline
    wd = status(Ticket(3, "feedback", sh(2026, 9, 4, 18, 30)), sh(2026, 9, 7, 17), policy=policy)
    assert (wd.counted_seconds, wd.remaining_seconds) == (7 * 3600, 9 * 3600)


def test_bad_input_is_refused(policy: Policy) -> None:
    with pytest.raises(SlaLookupError, match="unknown issue class 'plumbing'"):
        deadline(5, "plumbing", sh(2026, 9, 7, 9), policy=policy)
    for tier in (0, 6, "5", True):
        with pytest.raises(SlaLookupError, match="is not a tier of the policy"):
            deadline(tier, "maintenance", sh(2026, 9, 7, 9), policy=policy)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="has no UTC offset.*assume_zone=True"):
        deadline(5, "feedback", datetime(2026, 9, 7, 9), policy=policy)
    naive = deadline(5, "feedback", datetime(2026, 9, 4, 18, 30), policy=policy, assume_zone=True)
    assert naive.deadline == sh(2026, 9, 8, 9)
    with pytest.raises(InputError, match="a pause ends before it starts"):
        deadline(5, "feedback", sh(2026, 9, 7, 9), [(sh(2026, 9, 7, 11), sh(2026, 9, 7, 10))],
                 policy=policy)
    with pytest.raises(InputError, match="resolved_at is before opened_at"):
        status(Ticket(5, "feedback", sh(2026, 9, 7, 9), resolved_at=sh(2026, 9, 6)),
               sh(2026, 9, 8), policy=policy)
    with pytest.raises(InputError, match="START/END"):
        deadline(5, "feedback", sh(2026, 9, 7, 9), ["2026-09-07T10:00:00+08:00"], policy=policy)


def test_default_policy_is_used_without_one() -> None:
    assert deadline(5, "feedback", "2026-09-04T18:30:00+08:00").deadline == sh(2026, 9, 8, 9)


def test_vectorized_inputs_pauses_as_list_of_struct(policy: Policy) -> None:
    dt = pl.Datetime("us", "Asia/Shanghai")
    frame = pl.DataFrame({
        "tier": [4, 4], "issue_class": ["repair", "repair"],
        "opened_at": pl.Series([sh(2026, 9, 7, 9)] * 2, dtype=dt),
        "pauses": pl.Series([[{"start": sh(2026, 9, 7, 14), "end": sh(2026, 9, 7, 16)},
                              {"start": sh(2026, 9, 7, 10), "end": sh(2026, 9, 7, 12, 30)}],
                             [{"start": sh(2026, 9, 7, 15), "end": None}]],
                            dtype=pl.List(pl.Struct({"start": dt, "end": dt}))),
    })
    out = deadlines(frame, now=sh(2026, 9, 8, 10), policy=policy)
    assert out["deadline"].to_list() == [sh(2026, 9, 8, 14), None]
    assert out["state"].to_list() == ["on_track", "paused"]
    naive = frame.with_columns(pl.col("opened_at").dt.replace_time_zone(None))
    with pytest.raises(InputError, match="without a zone"):
        deadlines(naive, now=sh(2026, 9, 8), policy=policy)


def test_vectorized_bad_text_names_row_column_value(policy: Policy) -> None:
    frame = pl.DataFrame({"tier": ["5", "5"], "issue_class": ["repair"] * 2,
                          "opened_at": ["2026-09-07T09:00:00+08:00", "2026-09-07 09:00"]})
    with pytest.raises(InputError, match=r"t\.csv: row 2, column 'opened_at'.*'2026-09-07 09:00'"):
        deadlines(frame, now=sh(2026, 9, 8), policy=policy, source="t.csv")
    frame = frame.with_columns(pl.Series("opened_at", ["2026-09-07T09:00:00+08:00"] * 2),
                               pl.Series("tier", ["5", "five"]))
    with pytest.raises(InputError, match=r"row 2, column 'tier'.*'five'"):
        deadlines(frame, now=sh(2026, 9, 8), policy=policy, source="t.csv")
    frame = frame.with_columns(pl.Series("tier", ["5", "5"]),
                               pl.Series("pauses", ["", "2026-09-07T10:00:00+08:00"]))
    with pytest.raises(InputError, match=r"row 2, column 'pauses'"):
        deadlines(frame, now=sh(2026, 9, 8), policy=policy, source="t.csv")


# --- properties -----------------------------------------------------------------------------

CLASSES = ["feedback", "repair", "maintenance", "construction", "de_feedback", "de_repair"]
START = int(sh(LAST_KNOWN, 7, 1).timestamp())
# known, provisional and unknown years on purpose: some answers provisional, some must fail
SPAN = 913 * 86_400


def moment(s: int) -> datetime:
    return datetime.fromtimestamp(START + s, SH)


minutes = st.integers(0, SPAN // 60).map(lambda m: m * 60)
pause_st = st.tuples(st.integers(-86_400, 20 * 86_400), st.one_of(st.none(), st.integers(0, 5 * 86_400)))
ticket_st = st.fixed_dictionaries({
    "tier": st.integers(1, 5), "issue_class": st.sampled_from(CLASSES), "opened": minutes,
    "pauses": st.lists(pause_st, max_size=3),
    "resolved": st.one_of(st.none(), st.integers(0, 30 * 86_400)),
})


def as_ticket(d: dict) -> Ticket:
    opened = moment(d["opened"])
    pauses = tuple((opened + timedelta(seconds=a),
                    None if b is None else opened + timedelta(seconds=a + b)) for a, b in d["pauses"])
    resolved = None if d["resolved"] is None else opened + timedelta(seconds=d["resolved"])
    return Ticket(d["tier"], d["issue_class"], opened, pauses, resolved)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ticket_st, min_size=1, max_size=25), st.integers(0, 40 * 86_400))
def test_vectorized_equals_scalar(policy: Policy, raw: list[dict], ahead: int) -> None:
    tickets = [as_ticket(d) for d in raw]
    now = moment(min(d["opened"] for d in raw) + ahead)
    frame = pl.DataFrame({
        "tier": [t.tier for t in tickets], "issue_class": [t.issue_class for t in tickets],
        "opened_at": [t.opened_at.isoformat() for t in tickets],
        "resolved_at": [t.resolved_at.isoformat() if t.resolved_at else None for t in tickets],
        "pauses": [";".join(f"{a.isoformat()}/{b.isoformat() if b else ''}" for a, b in t.pauses)
                   for t in tickets],
    })
    out = deadlines(frame, now=now, policy=policy)
    for t, row in zip(tickets, out.iter_rows(named=True)):
        try:
            s = status(t, now, policy=policy)
        except (DateOutOfBounds, InputError) as exc:
            assert row["error"] == str(exc) and row["deadline"] is None
            continue
        assert row["error"] is None
        assert row["deadline"] == s.deadline.deadline
        assert (row["state"], row["escalation"]) == (s.state, s.escalation)
        assert row["counted_seconds"] == s.counted_seconds
        assert row["remaining_seconds"] == s.remaining_seconds
        assert row["fraction"] == s.fraction
        assert row["warning"] == s.deadline.warning


def try_due(policy: Policy, tier: int, cls: str, opened: datetime, pauses=()) -> datetime | None:
    try:
        return deadline(tier, cls, opened, pauses, policy=policy).deadline
    except DateOutOfBounds:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticket_st, pause_st)
def test_a_pause_never_moves_the_deadline_earlier(policy: Policy, d: dict, extra: tuple) -> None:
    t = as_ticket({**d, "pauses": [(a, b if b is not None else 3600) for a, b in d["pauses"]]})
    more = t.pauses + ((t.opened_at + timedelta(seconds=extra[0]),
                        t.opened_at + timedelta(seconds=extra[0] + (extra[1] or 60))),)
    before = try_due(policy, t.tier, t.issue_class, t.opened_at, t.pauses)
    after = try_due(policy, t.tier, t.issue_class, t.opened_at, more)
    if before is not None and after is not None:
        assert after >= before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticket_st)
def test_a_higher_tier_is_never_later(policy: Policy, d: dict) -> None:
    t = as_ticket({**d, "pauses": [(a, b if b is not None else 3600) for a, b in d["pauses"]]})
    dues = [try_due(policy, tier, t.issue_class, t.opened_at, t.pauses) for tier in range(1, 6)]
    known = [x for x in dues if x is not None]
    assert known == sorted(known, reverse=True)  # tier 1 latest .. tier 5 earliest


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(CLASSES), minutes, st.integers(0, 10 * 86_400), st.integers(0, 10 * 86_400))
def test_counted_time_is_additive(policy: Policy, cls: str, a: int, ab: int, bc: int) -> None:
    ta, tb, tc = moment(a), moment(a + ab), moment(a + ab + bc)
    try:
        whole = status(Ticket(5, cls, ta), tc, policy=policy).counted_seconds
        first = status(Ticket(5, cls, ta), tb, policy=policy).counted_seconds
        second = status(Ticket(5, cls, tb), tc, policy=policy).counted_seconds
        pause = status(Ticket(5, cls, ta, pauses=((tb, tc),)), tc, policy=policy).counted_seconds
    except DateOutOfBounds:
        return
    assert whole == first + second
    assert pause == first  # pausing from b to c removes exactly the time counted from b to c
