"""The deadline rule (SPEC section 6) over arrays or one ticket's ints; no polars, no I/O.

Everything is int64 epoch microseconds. A clock maps an instant t to counted time W(t)
(``W(t) = t`` on 24x7, working µs on a business calendar) and back. Then, with P the working
time covered by the ticket's pauses (merged, clipped to [opened_at, now]):

* ``h``/``d``: ``deadline = W⁻¹_left(W(opened) + target + P)`` - the first instant counted
  time reaches the target, so a target reached exactly at 18:00 is due at 18:00.
* ``wd``: ``D0`` = the same local time on the N-th working day after the day of the moved
  start (a start outside working hours first moves to the next working start);
  ``deadline = W⁻¹_right(W(D0) + P)``. The right inverse keeps ``D0`` itself when P = 0
  (``D0`` is a working instant: Tuesday 09:00, not Monday 18:00 which has the same W).

One implementation, :func:`compute` and :func:`classify` over numpy arrays, serves both faces:
the scalar ``deadline``/``status`` call it with length-1 arrays and the vectorized
``deadlines`` with one array per issue class, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiering.clock import DAY_US, US, BusinessCalendar, Clock, Ops, ScalarOps

NONE = np.iinfo(np.int64).min  # a missing instant (open pause end, not resolved)
STATES = ("on_track", "warning", "breached", "paused", "met")
ON_TRACK, WARNING, BREACHED, PAUSED, MET = range(5)
UNIT_US = {"h": 3_600 * US, "d": DAY_US}
# error codes of _core, per ticket
OUT_OF_YEARS, DEADLINE_BEYOND, RESOLVED_BEFORE_OPENED, PAUSE_REVERSED = 1, 2, 3, 4



@dataclass(frozen=True, slots=True)
class Core:
    stop: np.ndarray  # the moment looked at: now, or resolved_at once resolved
    done: np.ndarray  # resolved by now
    deadline: np.ndarray  # NONE while paused
    target: np.ndarray  # µs of counted time
    counted: np.ndarray  # µs counted from opened_at to stop
    paused: np.ndarray
    err: np.ndarray  # 0 or an error code
    err_at: np.ndarray  # the instant that fell outside the known years (OUT_OF_YEARS)


def compute(xp: Ops, clock: Clock, unit: str, n: Any, opened: Any, now: Any, resolved_at: Any,
          pt: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> Core:
    """The rule for the tickets of one class, on arrays (``xp=ArrayOps``) or on one ticket's
    Python ints (``xp=ScalarOps``): ``n`` targets in ``unit``; ``resolved_at`` NONE when not
    resolved. Pauses are always arrays: ``pt`` indexes their tickets (0 for the one ticket),
    ``pe`` is NONE for a pause still running. Errors are returned per ticket, never raised."""
    m = 1 if xp is ScalarOps else len(opened)
    done = (resolved_at != NONE) & (resolved_at <= now)
    stop = xp.maximum(xp.where(done, resolved_at, now), opened)
    w_open, bad_open = clock.work(opened, xp)
    w_stop, bad_stop = clock.work(stop, xp)
    err_at = xp.where(bad_open, opened, xp.where(bad_stop, stop, NONE))
    err = xp.where(bad_open | bad_stop, OUT_OF_YEARS, 0)
    paused = reversed_pause = xp.false(m)
    p_work = 0
    if len(pt):
        s = xp.gather(stop, pt)
        running = (ps <= s) & ((pe == NONE) | (pe > s)) & np.logical_not(xp.gather(done, pt))
        paused = xp.one(np.bincount(pt[running], minlength=m) > 0)
        reversed_pause = xp.one(np.bincount(pt[(pe != NONE) & (pe < ps)], minlength=m) > 0)
        a = np.maximum(ps, xp.gather(opened, pt))
        b = np.where(pe == NONE, s, np.minimum(pe, s))
        keep = b > a
        # a and b lie in [opened, stop], so they are inside the known years when those are.
        p_work = xp.one(_union_measure(pt[keep], clock.work(a[keep])[0],
                                       clock.work(b[keep])[0], m))
    if unit == "wd":
        assert isinstance(clock, BusinessCalendar)
        moved, bad1 = clock.unwork(w_open, True, xp)
        d0, bad2 = clock.add_workdays(moved, n, xp)
        target = clock.work(d0, xp)[0] - w_open
        due, bad3 = clock.unwork(w_open + target + p_work, True, xp)
        beyond = bad1 | bad2 | (bad3 & xp.not_(paused))
    else:
        target = n * UNIT_US[unit]
        due, beyond = clock.unwork(w_open + target + p_work, False, xp)
        beyond = beyond & xp.not_(paused)
    err = xp.where((err == 0) & beyond, DEADLINE_BEYOND, err)
    err = xp.where(reversed_pause, PAUSE_REVERSED, err)
    err = xp.where((resolved_at != NONE) & (resolved_at < opened), RESOLVED_BEFORE_OPENED, err)
    return Core(stop=stop, done=done, deadline=xp.where(paused, NONE, due), target=target,
                 counted=w_stop - w_open - p_work, paused=paused, err=err, err_at=err_at)


def _union_measure(t: np.ndarray, a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """Per ticket, the measure of the union of [a, b) intervals (W-space), by an event sweep:
    depth = running count of open intervals; it returns to 0 at each ticket's last event, so
    summing the gaps where depth > 0 never leaks from one ticket into the next."""
    if not len(t):
        return np.zeros(m, np.int64)
    pos = np.concatenate([a, b])
    tk = np.concatenate([t, t])
    delta = np.concatenate([np.ones(len(a), np.int64), np.full(len(b), -1, np.int64)])
    order = np.lexsort((pos, tk))
    pos, tk = pos[order], tk[order]
    depth = np.cumsum(delta[order])
    csum = np.concatenate([[0], np.cumsum(np.where(depth[:-1] > 0, np.diff(pos), 0))])
    ids = np.arange(m)
    first = np.searchsorted(tk, ids, "left")
    last = np.searchsorted(tk, ids, "right") - 1
    has = last >= first
    return np.where(has, csum[np.maximum(last, 0)] - csum[np.minimum(first, len(csum) - 1)], 0)


def classify(xp: Ops, core: Core, warning_at: int, steps_at: Sequence[int]) -> tuple[Any, Any]:
    """State and escalation step index (-1: none). Percent thresholds compare in integers:
    counted * 100 >= at * target."""
    used = core.counted * 100
    state = xp.where(used >= warning_at * core.target, WARNING, ON_TRACK)
    state = xp.where(core.stop > core.deadline, BREACHED, state)
    state = xp.where(core.paused, xp.where(core.counted >= core.target, BREACHED, PAUSED), state)
    state = xp.where(core.done, xp.where(core.stop <= core.deadline, MET, BREACHED), state)
    step = -1
    for i, at in enumerate(steps_at):
        step = xp.where(used >= at * core.target, i, step)
    return state, step


def fixed_error_text(code: int) -> str:
    return ("resolved_at is before opened_at" if code == RESOLVED_BEFORE_OPENED
            else "a pause ends before it starts")


def beyond_text(clock: BusinessCalendar) -> str:
    return f"the deadline (after {clock.last_year}-12-31)"

