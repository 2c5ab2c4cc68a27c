"""Stages: per-node time limits and escalation to the direct leader (SPEC 6, seed 000); no
polars, both faces (arrays or one ticket's ints, as :mod:`tiering.sla.rule`).

A stage is timed exactly like a ticket opened at ``stage_entered_at`` with the stage's limit as
its target (same clock, same unit, the same pauses, clipped to the entry), so the rule is
:func:`~tiering.sla.rule.compute` once more, not a second copy of it; the stage deadline is
then capped at the ticket's deadline (SPEC: never later). ``rest`` is the class target, which
from an entry at or after opening is never reached before the ticket's deadline, so the cap
makes it the ticket's deadline. A deadline left unfixed by a running pause counts as "later
than everything" in the cap: a fixed ticket deadline then bounds the stage.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tiering.clock import Clock, Ops
from tiering.errors import SlaLookupError
from tiering.policy import Policy, SlaClass
from tiering.sla.rule import BREACHED, NONE, OPEN, Core, classify, compute

# error codes of a stage, after those of rule.compute (which a stage can also return)
ENTERED_BEFORE_OPENED, RESOLVED_BEFORE_ENTERED, NO_ENTRY, UNKNOWN_STAGE = 6, 7, 8, 9
STAGE_TEXTS = {ENTERED_BEFORE_OPENED: "stage_entered_at is before opened_at",
               RESOLVED_BEFORE_ENTERED: "resolved_at is before stage_entered_at",
               NO_ENTRY: "a stage needs its stage_entered_at"}


def unknown_stage_text(stage: object, cls: SlaClass) -> str:
    known = ", ".join(s.name for s in cls.stages) or "none"
    return f"unknown stage {stage!r} of issue class {cls.name!r}; the policy knows: {known}"


def stage_limit(cls: SlaClass, stage: str, tier: int) -> int:
    """The stage's limit for a tier in stars; an unknown stage is an error, like a class."""
    found = cls.stage(stage)
    if found is None:
        raise SlaLookupError(unknown_stage_text(stage, cls))
    return found.limits[len(found.limits) - tier]


def leader_step(policy: Policy) -> str:
    """Who is notified of an overdue stage without a leader: the ladder's last step (the
    direct leader in the shipped policy; the policy refuses stages without a ladder)."""
    return policy.sla.escalation[-1].notify


def compute_stage(xp: Ops, clock: Clock, unit: str, limit: Any, entered: Any, opened: Any,
                  now: Any, resolved_at: Any, pauses: Any, ticket_deadline: Any) -> Core:
    """The stage's deadline (capped at ``ticket_deadline``), counted time and errors, for
    the tickets of one class: the arguments of :func:`compute` with ``entered`` as the
    opening."""
    core = compute(xp, clock, unit, limit, entered, now, resolved_at, pauses)
    own = xp.where(core.deadline == NONE, OPEN, core.deadline)
    cap = xp.where(ticket_deadline == NONE, OPEN, ticket_deadline)
    due = xp.minimum(own, cap)
    err = xp.where((resolved_at != NONE) & (resolved_at < entered), RESOLVED_BEFORE_ENTERED,
                   core.err)
    err = xp.where(entered < opened, ENTERED_BEFORE_OPENED, err)
    return replace(core, deadline=xp.where(due == OPEN, NONE, due), err=err)


def stage_state(xp: Ops, core: Core, warning_at: int) -> tuple[Any, Any]:
    """The stage's state (the ticket's vocabulary: ``breached`` = overdue) and whether its
    leader is notified (the stage is overdue)."""
    state = classify(xp, core, warning_at, ())[0]
    return state, state == BREACHED
