"""One ticket at a time (what a work-order system calls in a request handler): no polars.

A ticket keeps the deadline it opened with: pass the tier the ticket had when it was opened
(SPEC: a later re-tiering never lengthens an open ticket); this module never looks tiers up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from tiering.clock import (
    US,
    BusinessCalendar,
    Clock,
    ScalarOps,
    from_us,
    get_clock,
    to_us,
    zone,
)
from tiering.effective import default_policy
from tiering.errors import InputError, SlaLookupError
from tiering.policy import Policy, SlaClass
from tiering.sla.rule import (
    NONE,
    OUT_OF_RANGE,
    OUT_OF_YEARS,
    PAUSE_REVERSED,
    RESOLVED_BEFORE_OPENED,
    STATES,
    Core,
    beyond_text,
    classify,
    compute,
    fixed_error_text,
    latest_instant,
    provisional_text,
)


@dataclass(frozen=True, slots=True)
class Deadline:
    deadline: datetime | None  # None while a pause is open: not yet fixed
    target: int
    unit: str
    clock: str  # "24x7" or "business"
    calendar: str | None
    tier: int
    issue_class: str
    opened_at: datetime
    # Set when the answer rests on a year the calendar only guesses (sla.unknown_years =
    # "provisional"): never store it as final.
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """``tier`` is the tier the ticket opened with. Pauses are ``(start, end)`` pairs of aware
    datetimes (or ISO text); ``end=None`` is a pause still running."""

    tier: int
    issue_class: str
    opened_at: datetime | str
    pauses: tuple[tuple[datetime | str, datetime | str | None], ...] = ()
    resolved_at: datetime | str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    deadline: Deadline
    state: str
    counted_seconds: float
    remaining_seconds: float  # negative past the deadline
    fraction: float
    escalation: str | None  # the highest ladder step reached



_CLASS_CACHE: dict[int, tuple[Policy, dict[str, tuple[SlaClass, Clock]]]] = {}


def _classes(policy: Policy) -> dict[str, tuple[SlaClass, Clock]]:
    # Keyed by id with the policy held alive (so the id cannot be reused), because hashing a
    # Policy walks all its fields and a request handler would pay for that on every call.
    hit = _CLASS_CACHE.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    if len(_CLASS_CACHE) > 16:
        _CLASS_CACHE.clear()
    resolved = {name: (cls, get_clock(cls, policy)) for name, cls in policy.sla.classes.items()}
    _CLASS_CACHE[id(policy)] = (policy, resolved)
    return resolved


def unknown_class_text(issue_class: object, policy: Policy) -> str:
    return (f"unknown issue class {issue_class!r}; the policy knows: "
            f"{', '.join(policy.sla.classes)}")


def bad_tier_text(tier: object, tiers: int) -> str:
    if tier is None:
        return "no tier: give the tier (stars) the ticket opened with"
    return f"tier {tier!r} is not a tier of the policy (1..{tiers} stars)"


def _lookup(policy: Policy, issue_class: str, tier: int) -> tuple[SlaClass, Clock]:
    found = _classes(policy).get(issue_class)
    if found is None:
        raise SlaLookupError(unknown_class_text(issue_class, policy))
    tiers = policy.rating.tiers
    if isinstance(tier, bool) or not isinstance(tier, (int, np.integer)) or not 1 <= tier <= tiers:
        raise SlaLookupError(bad_tier_text(tier, tiers))
    return found


def instant(value: datetime | str, what: str, zone_name: str, assume_zone: bool) -> int:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(f"{what}: not an ISO-8601 time: {value!r}") from None
    if not isinstance(value, datetime):
        raise InputError(f"{what}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        if not assume_zone:
            raise InputError(
                f"{what} {value.isoformat()} has no UTC offset: pass an aware datetime "
                f"(e.g. 2026-10-01T17:30:00+08:00), or assume_zone=True to read it in the "
                f"calendar's zone ({zone_name})")
        value = value.replace(tzinfo=zone(zone_name))
    return to_us(value)


def parse_pause(text: str) -> tuple[str, str | None]:
    """``START/END``; ``START/`` or ``START/..`` is a pause still running."""
    start, sep, end = text.strip().partition("/")
    if not sep or not start.strip():
        raise InputError(f"pause: expected START/END (or START/ while it runs): {text!r}")
    end = end.strip()
    return start.strip(), None if end in ("", "..") else end


NO_PAUSES = (np.zeros(0, np.int64),) * 3


def _pause_list(pauses: Iterable[tuple[Any, Any] | str], zone_name: str,
                assume_zone: bool) -> list[tuple[int, int]]:
    out = []
    for i, pair in enumerate(pauses, start=1):
        start, end = parse_pause(pair) if isinstance(pair, str) else pair
        out.append((instant(start, f"pause {i} start", zone_name, assume_zone),
                    NONE if end is None else instant(end, f"pause {i} end", zone_name,
                                                     assume_zone)))
    return out


def _evaluate(tier: int, issue_class: str, opened_at: datetime | str, pauses: Iterable[Any],
              policy: Policy | None, now: datetime | str | None, resolved_at: Any,
              assume_zone: bool) -> tuple[Policy, SlaClass, Clock, Core, int]:
    """``now=None``: the deadline only (it never depends on ``now``), looked at on opening."""
    pol = policy if policy is not None else default_policy()
    cls, clock = _lookup(pol, issue_class, tier)
    zn = clock.timezone
    opened = instant(opened_at, "opened_at", zn, assume_zone)
    spans = _pause_list(pauses, zn, assume_zone)
    now_us = opened if now is None else instant(now, "now", zn, assume_zone)
    res = NONE if resolved_at is None else instant(resolved_at, "resolved_at", zn, assume_zone)
    core = compute(ScalarOps, clock, cls.unit, cls.target(tier), opened, now_us, res, spans)
    code = core.err
    if code in (RESOLVED_BEFORE_OPENED, PAUSE_REVERSED, OUT_OF_RANGE):
        raise InputError(fixed_error_text(code))
    if code:
        assert isinstance(clock, BusinessCalendar)
        raise clock.out_of_bounds(clock.local_date(core.err_at).isoformat()
                                  if code == OUT_OF_YEARS else beyond_text(clock))
    return pol, cls, clock, core, opened


def _make_deadline(cls: SlaClass, clock: Clock, core: Core, tier: int, issue_class: str,
                   opened: int) -> Deadline:
    due = core.deadline
    zn = clock.timezone
    warning = None
    if isinstance(clock, BusinessCalendar):
        latest = latest_instant(ScalarOps, core)
        if latest >= clock.provisional_lo:
            warning = provisional_text(clock, from_us(latest, zn).year)
    return Deadline(
        deadline=None if due == NONE else from_us(due, zn), target=cls.target(tier),
        unit=cls.unit, clock=cls.clock, calendar=cls.calendar, tier=tier,
        issue_class=issue_class, opened_at=from_us(opened, zn), warning=warning)


def deadline(tier: int, issue_class: str, opened_at: datetime | str,
             pauses: Iterable[tuple[Any, Any] | str] = (), *, policy: Policy | None = None,
             assume_zone: bool = False) -> Deadline:
    """The deadline of one ticket, in the clock's zone.

    ``tier`` is the tier the ticket opened with (a later re-tiering does not change an open
    ticket's deadline). Pauses are ``(start, end)`` pairs or ``"START/END"`` text, end
    ``None`` for a pause still running. The deadline is a function of these facts only, never
    of the moment it is computed: a recorded pause counts wherever it lies, but only if it
    starts before the deadline it would move. It is ``None`` while a pause that began before
    the deadline is still running. Naive datetimes are refused unless
    ``assume_zone=True`` (then read in the clock's zone). Raises :class:`SlaLookupError` for
    an unknown class or tier and :class:`~tiering.errors.DateOutOfBounds` when a date outside
    the calendar's known years is needed.

    >>> deadline(3, "feedback", "2026-09-04T18:30:00+08:00").deadline.isoformat()
    '2026-09-09T09:00:00+08:00'
    """
    _, cls, clock, core, opened = _evaluate(tier, issue_class, opened_at, pauses, policy, None,
                                            None, assume_zone)
    return _make_deadline(cls, clock, core, tier, issue_class, opened)


def status(ticket: Ticket, now: datetime | str, *, policy: Policy | None = None,
           assume_zone: bool = False) -> Status:
    """Where a ticket stands at ``now``: deadline, state, counted and remaining time (on the
    class's clock: working time on a business calendar), fraction used and escalation step.

    A resolved ticket's clock stops at ``resolved_at`` (``met`` if resolved by the deadline).
    """
    pol, cls, clock, core, opened = _evaluate(
        ticket.tier, ticket.issue_class, ticket.opened_at, ticket.pauses, policy, now,
        ticket.resolved_at, assume_zone)
    state, step = classify(ScalarOps, core, pol.sla.warning_at_percent,
                           [s.at_percent for s in pol.sla.escalation])
    counted, target = core.counted, core.target
    return Status(
        deadline=_make_deadline(cls, clock, core, ticket.tier, ticket.issue_class, opened),
        state=STATES[state], counted_seconds=counted / US,
        remaining_seconds=(target - counted) / US, fraction=counted / target,
        escalation=None if step < 0 else pol.sla.escalation[step].notify)

