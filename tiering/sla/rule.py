"""The deadline rule (SPEC section 6) over arrays or one ticket's ints; no polars, no I/O.

Everything is int64 epoch microseconds. A clock maps an instant t to counted time W(t)
(``W(t) = t`` on 24x7, working µs on a business calendar) and back.

* ``h``/``d``: without pauses, ``deadline = W⁻¹_left(W(opened) + target)``: the first instant
  counted time reaches the target, so a target reached exactly at 18:00 is due at 18:00.
* ``wd``: ``D0`` = the same local time on the N-th working day after the day of the moved
  start (a start outside working hours first moves to the next working start); the target is
  ``W(D0) - W(opened)`` and the inverse is the right one, which keeps ``D0`` itself (Tuesday
  09:00, not Monday 18:00 which has the same W).
* Pauses (merged, clipped to ``opened``), in order of start: a pause that starts before the
  current deadline pushes it by the counted time it covers, and the pushed deadline may take in
  the next pause; the first pause that starts at or after the deadline ends the walk (SPEC:
  the deadline is the first instant counted time reaches the target). A running pause that
  starts before the deadline leaves it unfixed. Nothing here depends on ``now``: ``now`` only
  sets the moment the status looks at.

The scalar face walks the merged pauses as the SPEC reads (:func:`pauses_one`, a Python loop:
about 10 µs for 4 pauses where the numpy path costs 150 µs); the vectorized face has the
closed form of the same walk (:func:`pauses_many`: the counted time at each pause's start is
non-decreasing, so the pauses that push form a prefix per ticket). Tests hold the two equal on
random tickets and both equal to a walk-the-clock reference. Everything else is written once
against :class:`~tiering.clock.ops.ArrayOps` or :class:`~tiering.clock.ops.ScalarOps`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from tiering.clock import DAY_US, US, BusinessCalendar, Clock, Ops, ScalarOps, to_us

NONE = np.iinfo(np.int64).min  # a missing instant (open pause end, not resolved)
STATES = ("on_track", "warning", "breached", "paused", "met")
ON_TRACK, WARNING, BREACHED, PAUSED, MET = range(5)
UNIT_US = {"h": 3_600 * US, "d": DAY_US}
OPEN = np.iinfo(np.int64).max  # the end of a pause still running
# error codes of compute, per ticket
OUT_OF_YEARS, DEADLINE_BEYOND, RESOLVED_BEFORE_OPENED, PAUSE_REVERSED, OUT_OF_RANGE = 1, 2, 3, 4, 5
# Instants whose local time is a valid datetime in every zone (years 1..9999, a day of margin
# for the offsets): a deadline outside them cannot be written, so it is an error, not a wrap.
MIN_US = to_us(datetime(1, 1, 2, tzinfo=timezone.utc))
MAX_US = to_us(datetime(9999, 12, 31, tzinfo=timezone.utc))



@dataclass(frozen=True, slots=True)
class Core:
    stop: Any  # the moment looked at: now, or resolved_at once resolved
    done: Any  # resolved by now
    deadline: Any  # NONE while a running pause leaves it unfixed
    target: Any  # µs of counted time
    counted: Any  # µs counted from opened_at to stop
    paused: Any  # stop lies in a pause that began before the deadline
    err: Any  # 0 or an error code
    err_at: Any  # the instant that fell outside the known years (OUT_OF_YEARS)


@dataclass(frozen=True, slots=True)
class PauseEffect:
    pushed: Any  # counted µs by which the pauses that began before the deadline push it
    frozen: Any  # a running pause began before the deadline: the deadline is not fixed
    paused_work: Any  # counted µs paused within [opened, stop)
    paused_now: Any  # stop lies in a pause that began before the deadline
    beyond: Any  # a pause that pushes starts or ends outside the calendar's known years
    reversed: Any  # a pause ends before it starts


def compute(xp: Ops, clock: Clock, unit: str, n: Any, opened: Any, now: Any, resolved_at: Any,
            pauses: Any) -> Core:
    """The rule for the tickets of one class, on arrays (``xp=ArrayOps``, ``pauses`` the
    arrays ``(ticket, start, end)``) or on one ticket's Python ints (``xp=ScalarOps``,
    ``pauses`` a list of ``(start, end)``); ``n`` targets in ``unit``; ``resolved_at`` and a
    pause's end are NONE when absent. Errors are returned per ticket, never raised."""
    done = (resolved_at != NONE) & (resolved_at <= now)
    stop = xp.maximum(xp.where(done, resolved_at, now), opened)
    w_open, bad_open = clock.work(opened, xp)
    w_stop, bad_stop = clock.work(stop, xp)
    err_at = xp.where(bad_open, opened, xp.where(bad_stop, stop, NONE))
    err = xp.where(bad_open | bad_stop, OUT_OF_YEARS, 0)
    right = unit == "wd"
    if right:
        assert isinstance(clock, BusinessCalendar)
        start, bad1 = clock.unwork(w_open, True, xp)
        d0, bad2 = clock.add_workdays(start, n, xp)
        target = clock.work(d0, xp)[0] - w_open
        beyond = bad1 | bad2
    else:
        target = n * UNIT_US[unit]
        beyond = False
    walk = pauses_one if xp is ScalarOps else pauses_many
    eff = walk(clock, right, opened, stop, done, resolved_at, w_open, target, pauses)
    due, bad3 = clock.unwork(w_open + target + eff.pushed, right, xp)
    beyond = beyond | bad3 | eff.beyond
    err = xp.where((err == 0) & beyond, DEADLINE_BEYOND, err)
    err = xp.where((err == 0) & ((due > MAX_US) | (opened < MIN_US)), OUT_OF_RANGE, err)
    err = xp.where(eff.reversed, PAUSE_REVERSED, err)
    err = xp.where((resolved_at != NONE) & (resolved_at < opened), RESOLVED_BEFORE_OPENED, err)
    return Core(stop=stop, done=done, deadline=xp.where(eff.frozen, NONE, due), target=target,
                counted=w_stop - w_open - eff.paused_work, paused=eff.paused_now, err=err,
                err_at=err_at)


def _pause_end(end: Any, start: Any, resolved_at: Any) -> Any:
    """A running pause of a resolved ticket ends at the resolution (the ticket is closed)."""
    return np.where(end != NONE, end, np.where(resolved_at != NONE,
                                               np.maximum(resolved_at, start), OPEN))


def pauses_one(clock: Clock, right: bool, opened: int, stop: int, done: bool, resolved_at: int,
               w_open: int, target: int, pauses: list[tuple[int, int]]) -> PauseEffect:
    """One ticket's pauses, walked in order of start as the SPEC reads."""
    spans = []
    reversed_ = False
    for s, e in pauses:
        reversed_ |= e != NONE and e < s
        end = e if e != NONE else (max(resolved_at, s) if resolved_at != NONE else OPEN)
        a = max(s, opened)
        if end > a:
            spans.append((a, end))
    spans.sort()
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:  # touching pauses are one pause
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    x = w_open + target
    due = clock.unwork(x, right, ScalarOps)[0]  # recomputed only when a pause pushes it
    w_stop = clock.work(stop, ScalarOps)[0]
    pushed = paused_work = 0
    frozen = beyond = paused_now = False
    moving = True
    for a, b in merged:
        wa, bad_a = clock.work(a, ScalarOps)
        moving = moving and a < due
        wb = None
        if moving:
            beyond |= bad_a
            if b == OPEN:
                frozen = True
            else:
                wb, bad = clock.work(b, ScalarOps)
                pushed += wb - wa
                x += wb - wa
                due = clock.unwork(x, right, ScalarOps)[0]
                beyond |= bad
            paused_now |= a <= stop < b and not done
        if a < stop:
            if b >= stop:
                paused_work += w_stop - wa
            else:
                paused_work += (clock.work(b, ScalarOps)[0] if wb is None else wb) - wa
    return PauseEffect(pushed=pushed, frozen=frozen, paused_work=paused_work,
                       paused_now=paused_now, beyond=beyond, reversed=reversed_)


def pauses_many(clock: Clock, right: bool, opened: Any, stop: Any, done: Any,
                resolved_at: Any, w_open: Any, target: Any,
                pauses: tuple[Any, Any, Any]) -> PauseEffect:
    """The walk of :func:`pauses_one` in closed form over arrays. With merged pauses sorted
    per ticket, the counted time at a pause's start never decreases from one pause to the
    next, so "starts before the deadline pushed by the pauses before it" holds for a prefix
    of each ticket's pauses: one pass, no loop over pauses."""
    pt, ps, pe = pauses
    m = len(opened)
    zero, false = np.zeros(m, np.int64), np.zeros(m, bool)
    if not len(pt):
        return PauseEffect(zero, false, zero, false, false, false)
    bad_order = (pe != NONE) & (pe < ps)
    reversed_ = np.bincount(pt[bad_order], minlength=m) > 0
    end = _pause_end(pe, ps, resolved_at[pt])
    a = np.maximum(ps, opened[pt])
    keep = (end > a) & ~bad_order
    t, a, b = _merge(pt[keep], a[keep], end[keep])
    if not len(t):
        return PauseEffect(zero, false, zero, false, false, reversed_)
    new = np.concatenate([[True], t[1:] != t[:-1]])
    seg = np.flatnonzero(new)  # first pause of each ticket that has pauses
    seg_of = np.cumsum(new) - 1  # for each pause, its ticket's entry in seg
    owner = t[seg]
    running = b == OPEN
    wa, bad_a = clock.work(a)
    wb, bad_b = clock.work(np.where(running, a, b))
    length = wb - wa  # 0 for a running pause
    before = np.cumsum(length) - length
    pushed_before = before - before[seg][seg_of]
    x = w_open[t] + target[t] + pushed_before  # the deadline pushed by the earlier pauses
    moves = wa < x
    if right:  # W(a) == x: a may still lie before the next working start, the deadline
        moves |= (wa == x) & (a < clock.unwork(x, True)[0])
    idx = np.arange(len(t))
    first_not = np.minimum.reduceat(np.where(moves, len(t), idx), seg)
    moved = idx < first_not[seg_of]
    st = stop[t]
    covered = clock.work(np.minimum(b, st))[0] - clock.work(np.minimum(a, st))[0]
    in_pause = moved & (a <= st) & (st < b) & ~done[t]

    def per_ticket(values: np.ndarray, fill: np.ndarray, ufunc: Any) -> np.ndarray:
        out = fill.copy()
        out[owner] = ufunc.reduceat(values, seg)
        return out

    return PauseEffect(
        pushed=per_ticket(np.where(moved, length, 0), zero, np.add),
        frozen=per_ticket(moved & running, false, np.logical_or),
        paused_work=per_ticket(covered, zero, np.add),
        paused_now=per_ticket(in_pause, false, np.logical_or),
        beyond=per_ticket(moved & (bad_a | (~running & bad_b)), false, np.logical_or),
        reversed=reversed_)


def _merge(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Merge [a, b) intervals per ticket by an event sweep (+1 at a start, -1 at an end, a
    start before an end at the same instant so touching pauses merge): a merged pause starts
    where the depth rises to 1 and ends where it returns to 0, which happens at each ticket's
    last event, so nothing leaks from one ticket into the next. Sorted by ticket, start."""
    pos = np.concatenate([a, b])
    tk = np.concatenate([t, t])
    delta = np.concatenate([np.ones(len(a), np.int64), np.full(len(b), -1, np.int64)])
    order = np.lexsort((-delta, pos, tk))
    pos, tk, delta = pos[order], tk[order], delta[order]
    depth = np.cumsum(delta)
    starts = (delta == 1) & (depth == 1)
    return tk[starts], pos[starts], pos[(delta == -1) & (depth == 0)]


def classify(xp: Ops, core: Core, warning_at: int, steps_at: Sequence[int]) -> tuple[Any, Any]:
    """State and escalation step index (-1: none). Percent thresholds compare in integers:
    counted * 100 >= at * target."""
    used = core.counted * 100
    fixed = core.deadline != NONE
    state = xp.where(used >= warning_at * core.target, WARNING, ON_TRACK)
    state = xp.where(fixed & (core.stop > core.deadline), BREACHED, state)
    state = xp.where(core.paused, PAUSED, state)
    state = xp.where(core.done, xp.where(xp.not_(fixed) | (core.stop <= core.deadline), MET,
                                         BREACHED), state)
    step = -1
    for i, at in enumerate(steps_at):
        step = xp.where(used >= at * core.target, i, step)
    return state, step


def fixed_error_text(code: int) -> str:
    return {RESOLVED_BEFORE_OPENED: "resolved_at is before opened_at",
            PAUSE_REVERSED: "a pause ends before it starts",
            OUT_OF_RANGE: "the deadline falls outside the representable years 1-9999"}[code]


def latest_instant(xp: Ops, core: Core) -> Any:
    """The latest instant an answer rests on: its deadline, or the moment looked at."""
    return xp.maximum(core.deadline, core.stop)


def provisional_text(clock: BusinessCalendar, year: int | str) -> str:
    return (f"provisional: calendar {clock.name!r} has no official schedule for {year} "
            f"({clock.source} knows up to {clock.known_last}); computed from the statutory "
            f"holidays without make-up days: compute it again once {year} is known")


def beyond_text(clock: BusinessCalendar) -> str:
    return f"the deadline (after {clock.last_year}-12-31)"

