"""Resolution deadlines (SPEC section 6): the rule, for one ticket or a frame of them.

Everything is int64 epoch microseconds. A clock maps an instant t to counted time W(t)
(``W(t) = t`` on 24x7, working µs on a business calendar) and back. Then, with P the working
time covered by the ticket's pauses (merged, clipped to [opened_at, now]):

* ``h``/``d``: ``deadline = W⁻¹_left(W(opened) + target + P)`` - the first instant counted
  time reaches the target, so a target reached exactly at 18:00 is due at 18:00.
* ``wd``: ``D0`` = the same local time on the N-th working day after the day of the moved
  start (a start outside working hours first moves to the next working start);
  ``deadline = W⁻¹_right(W(D0) + P)``. The right inverse keeps ``D0`` itself when P = 0
  (``D0`` is a working instant: Tuesday 09:00, not Monday 18:00 which has the same W).

One implementation, :func:`_core` and :func:`_classify` over numpy arrays, serves both faces:
the scalar :func:`deadline`/:func:`status` call it with length-1 arrays and the vectorized
:func:`deadlines` with one array per issue class, so the two cannot disagree.

A ticket keeps the deadline it opened with: pass the tier the ticket had when it was opened
(SPEC: a later re-tiering never lengthens an open ticket); this module never looks tiers up.

``import tiering.sla`` does not import polars (ticket systems call it in request handlers);
only :func:`deadlines` does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from tiering.calendar import (
    DAY_US, US, ArrayOps, BusinessCalendar, Clock, Ops, ScalarOps, from_us, get_clock, to_us,
    zone,
)
from tiering.errors import InputError, SlaLookupError
from tiering.policy import Policy, SlaClass, load_policy

if TYPE_CHECKING:
    import polars as pl

NONE = np.iinfo(np.int64).min  # a missing instant (open pause end, not resolved)
STATES = ("on_track", "warning", "breached", "paused", "met")
ON_TRACK, WARNING, BREACHED, PAUSED, MET = range(5)
UNIT_US = {"h": 3_600 * US, "d": DAY_US}
# error codes of _core, per ticket
OUT_OF_YEARS, DEADLINE_BEYOND, RESOLVED_BEFORE_OPENED, PAUSE_REVERSED = 1, 2, 3, 4


def effective_tier(own: int | None, customer: Iterable[int | None] = (),
                   overrides: Iterable[int | None] = (), *, policy: Policy | None = None) -> int:
    """Highest applies (就高原则): the tier that drives service is the highest of the line's
    own tier, the tiers of the customer's other lines and the active manual overrides; with
    none of them, the policy's ``unrated_service_tier``. The store answers the same rule in
    SQL for look-ups (``Store.lines``, ``Store.effective_tiers``), and with arrays from a
    reader's in-memory index (``tiering.store.index.highest_applies``); tests hold the three
    equal."""
    known = [t for t in (own, *customer, *overrides) if t is not None]
    if known:
        return max(known)
    return (policy or _default_policy()).rating.unrated_service_tier


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


@dataclass(frozen=True, slots=True)
class _Core:
    stop: np.ndarray  # the moment looked at: now, or resolved_at once resolved
    done: np.ndarray  # resolved by now
    deadline: np.ndarray  # NONE while paused
    target: np.ndarray  # µs of counted time
    counted: np.ndarray  # µs counted from opened_at to stop
    paused: np.ndarray
    err: np.ndarray  # 0 or an error code
    err_at: np.ndarray  # the instant that fell outside the known years (OUT_OF_YEARS)


def _core(xp: Ops, clock: Clock, unit: str, n: Any, opened: Any, now: Any, resolved_at: Any,
          pt: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> _Core:
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
    return _Core(stop=stop, done=done, deadline=xp.where(paused, NONE, due), target=target,
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


def _classify(xp: Ops, core: _Core, warning_at: int, steps_at: Sequence[int]) -> tuple[Any, Any]:
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


def _fixed_error_text(code: int) -> str:
    return ("resolved_at is before opened_at" if code == RESOLVED_BEFORE_OPENED
            else "a pause ends before it starts")


def _beyond_text(clock: BusinessCalendar) -> str:
    return f"the deadline (after {clock.last_year}-12-31)"


# --- scalar face ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _default_policy() -> Policy:
    return load_policy()


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


def _instant(value: datetime | str, what: str, zone_name: str, assume_zone: bool) -> int:
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


_NO_PAUSES = (np.zeros(0, np.int64),) * 3


def _pause_arrays(pauses: Iterable[tuple[Any, Any] | str], zone_name: str,
                  assume_zone: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts, ends = [], []
    for i, pair in enumerate(pauses, start=1):
        start, end = parse_pause(pair) if isinstance(pair, str) else pair
        starts.append(_instant(start, f"pause {i} start", zone_name, assume_zone))
        ends.append(NONE if end is None else
                    _instant(end, f"pause {i} end", zone_name, assume_zone))
    if not starts:
        return _NO_PAUSES
    return (np.zeros(len(starts), np.int64), np.array(starts, np.int64),
            np.array(ends, np.int64))


def _evaluate(tier: int, issue_class: str, opened_at: datetime | str, pauses: Iterable[Any],
              policy: Policy | None, now: datetime | str | None, resolved_at: Any,
              assume_zone: bool) -> tuple[Policy, SlaClass, Clock, _Core, int]:
    pol = policy if policy is not None else _default_policy()
    cls, clock = _lookup(pol, issue_class, tier)
    zn = clock.timezone
    opened = _instant(opened_at, "opened_at", zn, assume_zone)
    pt, ps, pe = _pause_arrays(pauses, zn, assume_zone)
    if now is None:  # every pause as given: look at the ticket after its last known instant
        now_us = max(opened, int(ps.max()), int(pe.max())) if len(ps) else opened
    else:
        now_us = _instant(now, "now", zn, assume_zone)
    res = NONE if resolved_at is None else _instant(resolved_at, "resolved_at", zn, assume_zone)
    core = _core(ScalarOps, clock, cls.unit, cls.target(tier), opened, now_us, res, pt, ps, pe)
    code = core.err
    if code in (RESOLVED_BEFORE_OPENED, PAUSE_REVERSED):
        raise InputError(_fixed_error_text(code))
    if code:
        assert isinstance(clock, BusinessCalendar)
        raise clock.out_of_bounds(clock.local_date(core.err_at).isoformat()
                                  if code == OUT_OF_YEARS else _beyond_text(clock))
    return pol, cls, clock, core, opened


def _make_deadline(cls: SlaClass, clock: Clock, core: _Core, tier: int, issue_class: str,
                   opened: int) -> Deadline:
    due = core.deadline
    zn = clock.timezone
    return Deadline(
        deadline=None if due == NONE else from_us(due, zn), target=cls.target(tier),
        unit=cls.unit, clock=cls.clock, calendar=cls.calendar, tier=tier,
        issue_class=issue_class, opened_at=from_us(opened, zn))


def deadline(tier: int, issue_class: str, opened_at: datetime | str,
             pauses: Iterable[tuple[Any, Any] | str] = (), *, policy: Policy | None = None,
             now: datetime | str | None = None, assume_zone: bool = False) -> Deadline:
    """The deadline of one ticket, in the clock's zone.

    ``tier`` is the tier the ticket opened with (a later re-tiering does not change an open
    ticket's deadline). Pauses are ``(start, end)`` pairs or ``"START/END"`` text, end
    ``None`` for a pause still running; with ``now``, pauses are taken as known at ``now``.
    The deadline is ``None`` while a pause is running. Naive datetimes are refused unless
    ``assume_zone=True`` (then read in the clock's zone). Raises :class:`SlaLookupError` for
    an unknown class or tier and :class:`~tiering.errors.DateOutOfBounds` when a date outside
    the calendar's known years is needed.

    >>> deadline(3, "feedback", "2026-09-04T18:30:00+08:00").deadline.isoformat()
    '2026-09-09T09:00:00+08:00'
    """
    _, cls, clock, core, opened = _evaluate(tier, issue_class, opened_at, pauses, policy, now,
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
    state, step = _classify(ScalarOps, core, pol.sla.warning_at_percent,
                            [s.at_percent for s in pol.sla.escalation])
    counted, target = core.counted, core.target
    return Status(
        deadline=_make_deadline(cls, clock, core, ticket.tier, ticket.issue_class, opened),
        state=STATES[state], counted_seconds=counted / US,
        remaining_seconds=(target - counted) / US, fraction=counted / target,
        escalation=None if step < 0 else pol.sla.escalation[step].notify)


# --- vectorized face -----------------------------------------------------------------------

ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")


@dataclass(frozen=True, slots=True)
class _Tickets:
    opened: np.ndarray
    resolved: np.ndarray  # NONE: not resolved
    tier: np.ndarray  # 0: missing
    tier_given: Any  # pl.Series, the tier column as given (for error texts)
    issue_class: Any  # pl.Series of text
    pt: np.ndarray  # pauses, sorted by ticket
    ps: np.ndarray
    pe: np.ndarray


def deadlines(frame: pl.DataFrame, now: datetime | str | None = None,
              policy: Policy | None = None, *, source: str = "<frame>") -> pl.DataFrame:
    """Deadline and status at ``now`` (default: the current time) for a frame of tickets.

    Columns: ``opened_at`` (Datetime with a zone, or ISO text with an offset), ``tier``
    (stars the ticket opened with), ``issue_class``; optional ``resolved_at`` and ``pauses``
    (a list of struct{start, end}, or text ``START/END;START/END`` with ``START/`` for a
    running pause). Adds ``deadline, state, counted_seconds, remaining_seconds, fraction,
    escalation, error``. A ticket that cannot be computed (unknown class or tier, a date
    outside the calendar's known years) gets a null deadline and an ``error`` text; the
    others are computed. Malformed input raises :class:`~tiering.errors.InputError` naming
    ``source``, the row (1-based, header not counted), the column and the value.
    ``deadline`` is in the calendar's zone when all classes used share one, else in the
    policy's ``sla.timezone``.
    """
    import polars as pl

    pol = policy if policy is not None else _default_policy()
    now_us = to_us(datetime.now(timezone.utc)) if now is None else _instant(
        now, "now", pol.sla.timezone, False)
    t = _read_tickets(frame, source)
    n = frame.height
    names = list(pol.sla.classes)
    tiers = pol.rating.tiers
    cidx = t.issue_class.replace_strict(names, list(range(len(names))), default=-1,
                                        return_dtype=pl.Int64).to_numpy()
    tier_ok = (t.tier >= 1) & (t.tier <= tiers)
    deadline_us = np.full(n, NONE)
    counted = np.zeros(n, np.int64)
    target = np.ones(n, np.int64)
    state = np.zeros(n, np.int64)
    step = np.full(n, -1, np.int64)
    failed = (cidx < 0) | ~tier_ok
    errors = pl.repeat(None, n, dtype=pl.String, eager=True).alias("error")
    steps_at = [s.at_percent for s in pol.sla.escalation]
    zones: set[str] = set()
    for ci, name in enumerate(names):
        rows = np.flatnonzero((cidx == ci) & tier_ok)
        if not len(rows):
            continue
        cls = pol.sla.classes[name]
        clock = get_clock(cls, pol)
        zones.add(clock.timezone)
        by_stars = np.array(cls.targets[::-1], np.int64)
        pt, ps, pe = _pauses_of(t, rows, n)
        core = _core(ArrayOps, clock, cls.unit, by_stars[t.tier[rows] - 1], t.opened[rows],
                     now_us, t.resolved[rows], pt, ps, pe)
        s, e = _classify(ArrayOps, core, pol.sla.warning_at_percent, steps_at)
        deadline_us[rows], counted[rows], target[rows] = core.deadline, core.counted, core.target
        state[rows], step[rows] = s, e
        bad = np.flatnonzero(core.err)
        if len(bad):
            failed[rows[bad]] = True
            errors = errors.scatter(rows[bad], _error_texts(clock, core.err[bad],
                                                            core.err_at[bad]))
    errors = _lookup_errors(errors, t, cidx, tier_ok, pol)
    out_zone = zones.pop() if len(zones) == 1 else pol.sla.timezone
    notify = [s.notify for s in pol.sla.escalation]
    ok = ~failed
    cols = pl.DataFrame({
        "dl": deadline_us, "counted": counted, "target": target,
        "state": pl.Series(STATES).gather(state), "step": step,
        "has_dl": ok & (deadline_us != NONE), "ok": ok, "has_step": ok & (step >= 0),
        "error": errors,
    })
    added = cols.select(
        pl.when("has_dl").then(pl.col("dl")).cast(pl.Datetime("us", "UTC"))
        .dt.convert_time_zone(out_zone).alias("deadline"),
        pl.when("ok").then(pl.col("state")).alias("state"),
        pl.when("ok").then(pl.col("counted") / US).alias("counted_seconds"),
        pl.when("ok").then((pl.col("target") - pl.col("counted")) / US)
        .alias("remaining_seconds"),
        pl.when("ok").then(pl.col("counted") / pl.col("target")).alias("fraction"),
        (pl.when("has_step").then(pl.lit(pl.Series(notify, dtype=pl.String))
                                  .gather(pl.col("step").clip(0)))
         if notify else pl.lit(None, pl.String)).alias("escalation"),
        pl.col("error"),
    )
    return frame.drop([c for c in added.columns if c in frame.columns]).hstack(added)


def _error_texts(clock: Clock, codes: np.ndarray, at: np.ndarray) -> pl.Series:
    import polars as pl

    if not isinstance(clock, BusinessCalendar):  # only the input checks fail on 24x7
        return pl.Series([_fixed_error_text(int(c)) for c in codes], dtype=pl.String)
    head, tail = str(clock.out_of_bounds("\x00")).split("\x00")
    df = pl.DataFrame({"code": codes, "at": np.where(at == NONE, 0, at)})
    date = (pl.col("at").cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(clock.timezone)
            .dt.strftime("%Y-%m-%d"))
    return df.select(
        pl.when(pl.col("code") == OUT_OF_YEARS).then(pl.concat_str(pl.lit(head), date,
                                                                   pl.lit(tail)))
        .when(pl.col("code") == DEADLINE_BEYOND)
        .then(pl.lit(str(clock.out_of_bounds(_beyond_text(clock)))))
        .when(pl.col("code") == RESOLVED_BEFORE_OPENED)
        .then(pl.lit(_fixed_error_text(RESOLVED_BEFORE_OPENED)))
        .otherwise(pl.lit(_fixed_error_text(PAUSE_REVERSED)))
    ).to_series()


def _lookup_errors(errors: pl.Series, t: _Tickets, cidx: np.ndarray, tier_ok: np.ndarray,
                   pol: Policy) -> pl.Series:
    """The texts of the scalar API's SlaLookupError, one per distinct bad value."""
    import polars as pl

    unknown = np.flatnonzero(cidx < 0)
    if len(unknown):
        values = t.issue_class.gather(unknown)
        texts = {v: unknown_class_text(v, pol) for v in values.unique().to_list()}
        errors = errors.scatter(unknown, pl.Series([texts[v] for v in values.to_list()],
                                                   dtype=pl.String))
    bad_tier = np.flatnonzero((cidx >= 0) & ~tier_ok)
    if len(bad_tier):
        values = t.tier_given.gather(bad_tier).to_list()
        errors = errors.scatter(bad_tier, pl.Series(
            [bad_tier_text(v, pol.rating.tiers) for v in values], dtype=pl.String))
    return errors


def _pauses_of(t: _Tickets, rows: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    if not len(t.pt):
        return _NO_PAUSES
    local = np.full(n, -1, np.int64)
    local[rows] = np.arange(len(rows))
    mapped = local[t.pt]
    sel = mapped >= 0
    return mapped[sel], t.ps[sel], t.pe[sel]


def _bad_input(source: str, row: int, column: str, problem: str, value: object) -> InputError:
    return InputError(source=source, row=row, column=column, problem=problem, value=value)


def _read_tickets(frame: pl.DataFrame, source: str) -> _Tickets:
    import polars as pl

    for col in ("opened_at", "tier", "issue_class"):
        if col not in frame.columns:
            raise InputError(f"{source}: missing column {col!r} (needs opened_at, tier, "
                             f"issue_class; optional resolved_at, pauses)")
    opened = instants_us(frame["opened_at"], source, "opened_at")
    missing = np.flatnonzero(opened == NONE)
    if len(missing):
        raise _bad_input(source, int(missing[0]) + 1, "opened_at", "missing", None)
    resolved = (instants_us(frame["resolved_at"], source, "resolved_at")
                if "resolved_at" in frame.columns else np.full(frame.height, NONE))
    given = frame["tier"]
    if given.dtype == pl.String:
        given = given.str.strip_chars().replace("", None)
    tier = given.cast(pl.Int64, strict=False)
    wrong = (tier.is_null() & given.is_not_null()).arg_true()
    if len(wrong):
        raise _bad_input(source, int(wrong[0]) + 1, "tier", "not a whole number of stars",
                         given[int(wrong[0])])
    pt, ps, pe = _read_pauses(frame, source) if "pauses" in frame.columns else _NO_PAUSES
    return _Tickets(opened=opened, resolved=resolved, tier=tier.fill_null(0).to_numpy(),
                    tier_given=tier, issue_class=frame["issue_class"].cast(pl.String)
                    .str.strip_chars(), pt=pt, ps=ps, pe=pe)


def instants_us(col: pl.Series, source: str, name: str, rows: pl.Series | None = None,
                shown: pl.Series | None = None) -> np.ndarray:
    """Epoch µs (NONE for null) of a zoned Datetime column or ISO text with an offset."""
    import polars as pl

    if isinstance(col.dtype, pl.Datetime):
        if col.dtype.time_zone is None:
            raise InputError(f"{source}: column {name!r} holds times without a zone; give "
                             f"them a zone (e.g. .dt.replace_time_zone(\"Asia/Shanghai\"))")
        us = col.dt.cast_time_unit("us").cast(pl.Int64)
    elif col.dtype in (pl.String, pl.Null):
        text = col.cast(pl.String).str.strip_chars().replace("", None)
        norm = (text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
                .str.replace(r"[Zz]$", "+00:00"))
        us = pl.select(pl.coalesce([
            norm.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
            for f in ISO_FORMATS])).to_series().cast(pl.Int64)
        wrong = (us.is_null() & text.is_not_null()).arg_true()
        if len(wrong):
            i = int(wrong[0])
            raise _bad_input(source, int(rows[i]) + 1 if rows is not None else i + 1, name,
                             "not an ISO-8601 time with a UTC offset "
                             "(e.g. 2026-10-01T17:30:00+08:00)",
                             shown[i] if shown is not None else col[i])
    else:
        raise InputError(f"{source}: column {name!r} must be a Datetime with a zone or ISO "
                         f"text, not {col.dtype}")
    return us.fill_null(NONE).to_numpy()


def _read_pauses(frame: pl.DataFrame, source: str) -> tuple[np.ndarray, ...]:
    import polars as pl

    col = frame["pauses"]
    rowed = pl.DataFrame({"row": np.arange(frame.height, dtype=np.int64), "p": col})
    if col.dtype in (pl.String, pl.Null):
        parts = (rowed.with_columns(pl.col("p").cast(pl.String).alias("given"))
                 .with_columns(pl.col("p").cast(pl.String).str.split(";")).explode("p")
                 .with_columns(pl.col("p").str.strip_chars())
                 .filter(pl.col("p").is_not_null() & (pl.col("p") != "")))
        split = parts["p"].str.split_exact("/", 1)
        start = split.struct.field("field_0").str.strip_chars()
        end = split.struct.field("field_1").str.strip_chars()
        wrong = (end.is_null() | (start == "")).arg_true()
        if len(wrong):
            i = int(wrong[0])
            raise _bad_input(source, int(parts["row"][i]) + 1, "pauses",
                             "expected START/END;START/END (START/ while it runs)",
                             parts["given"][i])
        end = end.replace({"": None, "..": None})
        shown = parts["given"]
    elif isinstance(col.dtype, pl.List) and isinstance(col.dtype.inner, pl.Struct):
        parts = rowed.explode("p").filter(pl.col("p").is_not_null())
        fields = [f.name for f in col.dtype.inner.fields]
        if not {"start", "end"} <= set(fields):
            raise InputError(f"{source}: column 'pauses' must be a list of struct{{start, end}}"
                             f", has fields {fields}")
        start = parts["p"].struct.field("start")
        end = parts["p"].struct.field("end")
        shown = start.cast(pl.String)
        if start.null_count():
            i = int(start.is_null().arg_true()[0])
            raise _bad_input(source, int(parts["row"][i]) + 1, "pauses", "pause without a start",
                             None)
    else:
        raise InputError(f"{source}: column 'pauses' must be text START/END;... or a list of "
                         f"struct{{start, end}}, not {col.dtype}")
    rows = parts["row"]
    ps = instants_us(start, source, "pauses", rows, shown)
    pe = instants_us(end, source, "pauses", rows, shown)
    return rows.to_numpy(), ps, pe
