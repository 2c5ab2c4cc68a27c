"""Stages (SPEC 6, seed 000): per-node limits, the cap at the ticket's deadline, notify.

Expected values are worked by hand in the comments. 24x7 cases sit in 2031 (no calendar is
involved); business-clock cases use the reference calendar file of test_sla_pauses (its own
year), so nothing here depends on the release of the ``holidays`` package."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_sla_pauses import MIN, SETTINGS, as_ticket, ref_policy, ticket_st
from tiering.errors import InputError, PolicyError, SlaLookupError
from tiering.policy import Policy, load_policy, policy_from_text
from tiering.sla import Ticket, deadlines, status

SH = ZoneInfo("Asia/Shanghai")
STAGES = """
[sla.classes.ref_h.stages]
accept = 1
handle = [1, 1, 2, 3, 5]
reply = "rest"

[sla.classes.ref_24.stages]
accept = 1
handle = [1, 1, 2, 3, 5]
reply = "rest"

[sla.classes.ref_wd.stages]
accept = 1
handle = 1
reply = "rest"
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return ref_policy(tmp_path_factory, STAGES)


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


def maint(stage: str, entered: datetime, pauses=(), leader: str | None = None,
          resolved: datetime | None = None, tier: int = 5) -> Ticket:
    """Maintenance (24x7, 5 stars 8 h) opened 2031-04-01 10:00."""
    return Ticket(tier, "maintenance", sh(2031, 4, 1, 10), tuple(pauses), resolved,
                  stage=stage, stage_entered_at=entered, leader=leader)


# --- worked examples (shipped stages of maintenance: accept 1 h, dispatch 1 h for 5 stars,
# handle 5 h for 5 stars, reply rest) -------------------------------------------------------

def test_a_pause_inside_the_stage_pushes_its_deadline_and_the_leader_is_notified() -> None:
    # dispatch 1 h from 10:30: 30 min to 11:00, paused to 14:00, 30 min more -> 14:30;
    # the ticket: 8 h + 3 h paused -> 21:00. At 15:00 the stage is overdue.
    t = maint("dispatch", sh(2031, 4, 1, 10, 30), [(sh(2031, 4, 1, 11), sh(2031, 4, 1, 14))],
              leader="wang")
    s = status(t, sh(2031, 4, 1, 15))
    assert s.deadline.deadline == sh(2031, 4, 1, 21)
    assert (s.stage_deadline, s.stage_state, s.notify) == (sh(2031, 4, 1, 14, 30), "breached",
                                                           "wang")
    # before its deadline nobody is told: paused inside the pause, on track once it ended
    assert [(status(t, sh(2031, 4, 1, h)).stage_state, status(t, sh(2031, 4, 1, h)).notify)
            for h in (13, 14)] == [("paused", None), ("on_track", None)]


def test_without_a_leader_the_ladders_last_step_is_notified() -> None:
    s = status(maint("dispatch", sh(2031, 4, 1, 10, 30)), sh(2031, 4, 1, 12))
    assert (s.stage_deadline, s.notify) == (sh(2031, 4, 1, 11, 30), "direct_leader")


def test_a_stage_deadline_is_never_later_than_the_tickets() -> None:
    # handle 5 h from 15:00 would be 20:00; the ticket is due 18:00
    s = status(maint("handle", sh(2031, 4, 1, 15)), sh(2031, 4, 1, 16))
    assert s.stage_deadline == s.deadline.deadline == sh(2031, 4, 1, 18)
    assert s.stage_state == "on_track"


def test_rest_runs_until_the_tickets_deadline() -> None:
    s = status(maint("reply", sh(2031, 4, 1, 12)), sh(2031, 4, 1, 18, 1))
    assert s.stage_deadline == sh(2031, 4, 1, 18)
    assert (s.stage_state, s.notify) == ("breached", "direct_leader")


def test_a_pause_before_the_stage_was_entered_does_not_count_for_it() -> None:
    # paused 10:00-10:20: the ticket moves to 18:20, dispatch from 10:30 stays 11:30
    t = maint("dispatch", sh(2031, 4, 1, 10, 30), [(sh(2031, 4, 1, 10), sh(2031, 4, 1, 10, 20))])
    s = status(t, sh(2031, 4, 1, 11))
    assert (s.deadline.deadline, s.stage_deadline) == (sh(2031, 4, 1, 18, 20),
                                                       sh(2031, 4, 1, 11, 30))


def test_a_pause_after_the_stage_deadline_does_not_move_it() -> None:
    t = maint("dispatch", sh(2031, 4, 1, 10, 30), [(sh(2031, 4, 1, 12), sh(2031, 4, 1, 13))])
    assert status(t, sh(2031, 4, 1, 11)).stage_deadline == sh(2031, 4, 1, 11, 30)


def test_a_running_pause_leaves_the_stage_deadline_unfixed() -> None:
    t = maint("dispatch", sh(2031, 4, 1, 10, 30), [(sh(2031, 4, 1, 11), None)], leader="wang")
    s = status(t, sh(2031, 4, 1, 12))
    assert (s.deadline.deadline, s.stage_deadline, s.stage_state, s.notify) == (
        None, None, "paused", None)


def test_resolved_in_time_for_the_stage_is_met() -> None:
    t = maint("dispatch", sh(2031, 4, 1, 10, 30), resolved=sh(2031, 4, 1, 11, 15))
    s = status(t, sh(2031, 4, 1, 20))
    assert (s.state, s.stage_state, s.notify) == ("met", "met", None)


def test_per_tier_limits_on_the_business_clock(policy: Policy) -> None:
    # ref_h, 1 star: 6 working hours from Mon 2031-04-28 15:00 -> 15-18 (3 h) and Tue
    # 09-12 (3 h) -> Tue 12:00. Stage accept (1 h) entered Mon 17:30: 30 min to 18:00 and
    # 30 min from Tue 09:00 -> Tue 09:30. handle (5 h for 1 star) from Mon 15:30: 2.5 h
    # Monday, 2.5 h Tuesday -> Tue 11:30 (3 h before lunch leave room).
    opened = sh(2031, 4, 28, 15)
    accept = Ticket(1, "ref_h", opened, stage="accept", stage_entered_at=sh(2031, 4, 28, 17, 30))
    s = status(accept, sh(2031, 4, 29, 9, 45), policy=policy)
    assert s.deadline.deadline == sh(2031, 4, 29, 12)
    assert (s.stage_deadline, s.stage_state) == (sh(2031, 4, 29, 9, 30), "breached")
    handle = Ticket(1, "ref_h", opened, stage="handle", stage_entered_at=sh(2031, 4, 28, 15, 30))
    assert status(handle, opened, policy=policy).stage_deadline == sh(2031, 4, 29, 11, 30)


def test_an_unknown_stage_is_an_error_like_an_unknown_class() -> None:
    with pytest.raises(SlaLookupError, match="unknown stage 'triage'.*accept, dispatch"):
        status(maint("triage", sh(2031, 4, 1, 11)), sh(2031, 4, 1, 12))


@pytest.mark.parametrize(("entered", "resolved", "text"), [
    (sh(2031, 4, 1, 9), None, "stage_entered_at is before opened_at"),
    (sh(2031, 4, 1, 12), sh(2031, 4, 1, 11), "resolved_at is before stage_entered_at"),
    (None, None, "needs its stage_entered_at"),
])
def test_impossible_stage_facts_are_input_errors(entered, resolved, text) -> None:
    with pytest.raises(InputError, match=text):
        status(maint("accept", entered, resolved=resolved), sh(2031, 4, 1, 13))


# --- the policy -----------------------------------------------------------------------------

def test_the_shipped_stages_follow_seed_000() -> None:
    m = load_policy().sla.classes["maintenance"]
    assert [s.name for s in m.stages] == ["accept", "dispatch", "handle", "reply"]
    assert m.stages[-1].rest


BASE = resources.files("tiering.data").joinpath("default_policy.toml").read_text("utf-8")


@pytest.mark.parametrize(("extra", "field", "problem"), [
    ("[sla.classes.maintenance.stages]\nx = 9", "sla.classes.maintenance.stages.x",
     "never beyond the class target"),
    ("[sla.classes.maintenance.stages]\nx = [1, 2, 3, 4, 97]",
     "sla.classes.maintenance.stages.x[4]", "never beyond"),
    ("[sla.classes.maintenance.stages]\nx = [1, 2]", "sla.classes.maintenance.stages.x",
     "one limit per tier"),
    ("[sla.classes.maintenance.stages]\nx = \"later\"", "sla.classes.maintenance.stages.x",
     "\"rest\""),
    ("[sla.classes.maintenance.stages]\nx = 0", "sla.classes.maintenance.stages.x", ">= 1"),
])
def test_a_bad_stage_limit_names_the_field(extra: str, field: str, problem: str) -> None:
    with pytest.raises(PolicyError) as err:
        policy_from_text(_with_stages(extra), source="p.toml")
    assert err.value.fields["field"] == field and problem in err.value.fields["problem"]


def _with_stages(extra: str) -> str:
    """The shipped policy with the maintenance stages replaced by ``extra``."""
    head, tail = BASE.split("[sla.classes.maintenance.stages]\n")
    rest = tail[tail.index("\n[sla.classes.construction]"):]
    return head + extra + "\n" + rest


def test_stages_need_a_ladder() -> None:
    text = BASE.split("escalation = [")[0] + "escalation = []\n" + BASE.split(
        "{ at = 100, notify = \"direct_leader\" },\n]\n")[1]
    with pytest.raises(PolicyError, match="stages need sla.escalation"):
        policy_from_text(text, source="p.toml")


# --- properties -----------------------------------------------------------------------------

stage_st = st.tuples(st.sampled_from(["accept", "handle", "reply"]), st.integers(0, 3 * 24 * 60),
                     st.sampled_from([None, "wang"]))


def with_stage(d: dict, s: tuple) -> Ticket:
    t = as_ticket(d)
    name, after, leader = s
    return Ticket(t.tier, t.issue_class, t.opened_at, t.pauses, stage=name,
                  stage_entered_at=t.opened_at + after * MIN, leader=leader)


@SETTINGS
@given(ticket_st, stage_st, st.integers(0, 6 * 24 * 60))
def test_a_stage_deadline_is_never_after_the_tickets(policy: Policy, d: dict, s: tuple,
                                                     at: int) -> None:
    t = with_stage(d, s)
    got = status(t, t.opened_at + at * MIN, policy=policy)
    if got.deadline.deadline is not None:
        assert got.stage_deadline is not None and got.stage_deadline <= got.deadline.deadline
    if s[0] == "reply":
        assert got.stage_deadline == got.deadline.deadline


@SETTINGS
@given(st.lists(st.tuples(ticket_st, stage_st), min_size=1, max_size=6),
       st.integers(0, 6 * 24 * 60))
def test_stages_vectorized_equal_scalar(policy: Policy, items: list, at: int) -> None:
    tickets = [with_stage(d, s) for d, s in items]
    now = tickets[0].opened_at + at * MIN
    frame = pl.DataFrame({
        "tier": [t.tier for t in tickets], "issue_class": [t.issue_class for t in tickets],
        "opened_at": [t.opened_at.isoformat() for t in tickets],
        "pauses": [";".join(f"{a.isoformat()}/{b.isoformat() if b else ''}"
                            for a, b in t.pauses) for t in tickets],
        "stage": [t.stage for t in tickets],
        "stage_entered_at": [t.stage_entered_at.isoformat() for t in tickets],
        "leader": [t.leader for t in tickets],
    }, schema_overrides={"leader": pl.String})
    out = deadlines(frame, now=now, policy=policy)
    for t, row in zip(tickets, out.iter_rows(named=True)):
        s = status(t, now, policy=policy)
        assert (row["stage_deadline"], row["stage_state"], row["notify"]) == (
            s.stage_deadline, s.stage_state, s.notify)


def test_frame_errors_of_stages() -> None:
    frame = pl.DataFrame({
        "tier": [5, 5, 5], "issue_class": ["maintenance"] * 3,
        "opened_at": ["2031-04-01T10:00:00+08:00"] * 3, "stage": ["triage", "accept", None],
        "stage_entered_at": ["2031-04-01T10:00:00+08:00", None, None],
    })
    out = deadlines(frame, now="2031-04-01T12:00:00+08:00")
    assert out["error"].to_list() == [
        "unknown stage 'triage' of issue class 'maintenance'; the policy knows: accept, "
        "dispatch, handle, reply", "a stage needs its stage_entered_at", None]
    assert out["deadline"].null_count() == 2 and out["stage_state"].to_list() == [None] * 3
