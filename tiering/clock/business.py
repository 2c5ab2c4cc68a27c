"""Clocks that count resolution time: elapsed time (``24x7``) or working time on a calendar.

A business calendar is precomputed once into sorted arrays of working intervals (int64 epoch
microseconds) so that "working time up to t" and its inverse are two ``searchsorted`` calls,
the same for one ticket or a million. Only the years with an official schedule are known; any
question about another year raises :class:`~tiering.errors.DateOutOfBounds` rather than
guessing that it is an ordinary year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Union
from zoneinfo import ZoneInfo

import numpy as np

from tiering.clock.ops import (
    DAY_US,
    EPOCH,
    I64,
    ONE_US,
    US,
    ArrayOps,
    Ops,
    from_us,
    to_us,
    zone,
)
from tiering.errors import DateOutOfBounds

Hours = tuple[tuple[int, int], ...]  # [start, end) in minutes after local midnight


@dataclass(frozen=True, slots=True)
class Clock24x7:
    """Elapsed time: W(t) = t. ``timezone`` is only the zone deadlines are written in."""

    timezone: str
    kind: ClassVar[str] = "24x7"
    name: ClassVar[str] = "24x7"

    def work(self, t: Any, xp: Ops = ArrayOps) -> tuple[Any, Any]:
        return t, False

    def unwork(self, x: Any, right: bool, xp: Ops = ArrayOps) -> tuple[Any, Any]:
        return x, False


@dataclass(frozen=True, slots=True)
class Tables:
    """A calendar's sorted tables as Python lists, for :class:`ScalarOps`."""

    starts: list[int]
    lengths: list[int]
    cum: list[int]
    cum_end: list[int]
    local_starts: list[int]
    local_ends: list[int]
    days: list[int]


# eq=False: the arrays make value equality meaningless; one instance per (name, file) anyway.
@dataclass(frozen=True, slots=True, eq=False)
class BusinessCalendar:
    """Working intervals over the known years, with a zero-length sentinel at each end.

    ``starts``/``ends`` are epoch µs; ``cum[i]`` is the working µs before interval i and
    ``cum_end = cum + lengths``. ``local_starts``/``local_ends`` are the same intervals as
    naive local wall-clock µs, used for "the same local time N working days later" so that a
    DST change in between does not shift the hour. ``days`` are the working days as local day
    numbers since 1970-01-01. ``lo``/``hi`` bound the years computed (local midnights).
    ``known_last`` is the last year with an official schedule; the years after it up to
    ``last_year`` are provisional (statutory holidays only, ``sla.unknown_years``), and
    ``provisional_lo`` is the first instant of them (``hi`` when there are none).
    ``lists`` holds the same tables as Python lists for one-ticket calls.
    """

    name: str
    timezone: str
    first_year: int
    last_year: int
    known_last: int
    provisional_lo: int
    source: str  # where the schedule comes from, e.g. "holidays 0.109"
    starts: I64 = field(repr=False)
    ends: I64 = field(repr=False)
    lengths: I64 = field(repr=False)
    cum: I64 = field(repr=False)
    cum_end: I64 = field(repr=False)
    local_starts: I64 = field(repr=False)
    local_ends: I64 = field(repr=False)
    days: I64 = field(repr=False)
    lo: int
    hi: int
    lists: Tables = field(repr=False)
    kind: ClassVar[str] = "business"

    def work(self, t: Any, xp: Ops = ArrayOps) -> tuple[Any, Any]:
        """W(t): working µs before instant t, and whether t lies outside the known years
        (then W is meaningless but harmless: every index stays in range)."""
        tab = xp.tables(self)
        i = xp.searchsorted(tab.starts, t, "right") - 1
        w = tab.cum[i] + xp.minimum(xp.maximum(t - tab.starts[i], 0), tab.lengths[i])
        return w, (t < self.lo) | (t > self.hi)

    def unwork(self, x: Any, right: bool, xp: Ops = ArrayOps) -> tuple[Any, Any]:
        """W^-1(x). ``right=False``: the first instant W reaches x (an interval's end when x
        is reached exactly there); ``right=True``: the start of the next working stretch then."""
        tab = xp.tables(self)
        last = len(tab.cum_end) - 1
        i = xp.searchsorted(tab.cum_end, x, "right" if right else "left")
        bad = i > last
        i = xp.minimum(i, last)
        return tab.starts[i] + (x - tab.cum[i]), bad

    def add_workdays(self, t: Any, n: Any, xp: Ops = ArrayOps) -> tuple[Any, Any]:
        """The same local time as working instant ``t`` on the n-th working day after its day,
        or the next working start when that local time is not working time on that day."""
        tab = xp.tables(self)
        j = xp.searchsorted(tab.starts, t, "right") - 1
        local = tab.local_starts[j] + (t - tab.starts[j])
        day = local // DAY_US
        k = xp.searchsorted(tab.days, day, "left") + n
        bad = k >= len(tab.days)
        target = tab.days[xp.minimum(k, len(tab.days) - 1)] * DAY_US + (local - day * DAY_US)
        m = xp.searchsorted(tab.local_starts, target, "right") - 1
        inside = target < tab.local_ends[m]
        sentinel = len(tab.starts) - 1
        nxt = xp.minimum(m + 1, sentinel)
        bad = bad | (xp.not_(inside) & (nxt == sentinel))
        return xp.where(inside, tab.starts[m] + (target - tab.local_starts[m]),
                        tab.starts[nxt]), bad

    def out_of_bounds(self, when: str) -> DateOutOfBounds:
        return DateOutOfBounds(calendar=self.name, first=self.first_year, last=self.known_last,
                               when=when)

    def local_date(self, us: int) -> date:
        return from_us(us, self.timezone).date()


Clock = Union[Clock24x7, BusinessCalendar]


@dataclass(frozen=True, slots=True)
class CalendarRules:
    """What a calendar file says, before precomputation."""

    name: str
    timezone: str
    years: tuple[int, int]  # first, last year computed (inclusive)
    weekly: tuple[Hours, ...]  # Monday first
    makeup: Hours  # hours of a make-up working day on a weekend
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = "calendar file"
    cn_based: bool = False  # built on CN: later years can be guessed from China's statutes
    known_last: int | None = None  # last official year when later ones are provisional


def build(rules: CalendarRules) -> BusinessCalendar:
    """Precompute a calendar's working intervals over its known years."""
    first, last = rules.years
    zi = zone(rules.timezone)
    epoch_ordinal = date(1970, 1, 1).toordinal()
    starts: list[int] = []
    ends: list[int] = []
    lstarts: list[int] = []
    lends: list[int] = []
    days: list[int] = []
    d, stop = date(first, 1, 1), date(last + 1, 1, 1)
    while d < stop:
        weekly = rules.weekly[d.weekday()]
        if d in rules.workdays:
            hours = weekly or rules.makeup
        elif d in rules.holidays:
            hours = ()
        else:
            hours = weekly
        day_no = d.toordinal() - epoch_ordinal
        midnight = datetime(d.year, d.month, d.day, tzinfo=zi)
        for a, b in hours:
            la, lb = day_no * DAY_US + a * 60 * US, day_no * DAY_US + b * 60 * US
            ua = to_us(midnight + timedelta(minutes=a))
            ub = to_us(midnight + timedelta(minutes=b))
            for piece in _split_at_offset_change(zi, ua, ub, la, lb):
                if piece[1] > piece[0]:
                    starts.append(piece[0])
                    ends.append(piece[1])
                    lstarts.append(piece[2])
                    lends.append(piece[3])
        if hours:
            days.append(day_no)
        d += timedelta(days=1)
    lo = to_us(datetime(first, 1, 1, tzinfo=zi))
    hi = to_us(datetime(last + 1, 1, 1, tzinfo=zi))
    llo = (date(first, 1, 1).toordinal() - epoch_ordinal) * DAY_US
    lhi = (stop.toordinal() - epoch_ordinal) * DAY_US
    s = np.array([lo, *starts, hi], dtype=np.int64)
    e = np.array([lo, *ends, hi], dtype=np.int64)
    lengths = e - s
    cum_end = np.cumsum(lengths)
    arrays = {
        "starts": s, "lengths": lengths, "cum": cum_end - lengths, "cum_end": cum_end,
        "local_starts": np.array([llo, *lstarts, lhi], dtype=np.int64),
        "local_ends": np.array([llo, *lends, lhi], dtype=np.int64),
        "days": np.array(days, dtype=np.int64),
    }
    known_last = last if rules.known_last is None else rules.known_last
    return BusinessCalendar(
        name=rules.name, timezone=rules.timezone, first_year=first, last_year=last,
        known_last=known_last, source=rules.source, ends=e,
        provisional_lo=to_us(datetime(known_last + 1, 1, 1, tzinfo=zi)) if known_last < last
        else hi,
        lo=lo, hi=hi, lists=Tables(**{k: v.tolist() for k, v in arrays.items()}), **arrays)


def _split_at_offset_change(zi: ZoneInfo, ua: int, ub: int, la: int,
                            lb: int) -> list[tuple[int, int, int, int]]:
    """Cut a working interval where the UTC offset changes inside it (hours across a DST
    change, e.g. 00:00-24:00), so every piece maps local to UTC by one constant offset."""
    if ub - ua == lb - la:
        return [(ua, ub, la, lb)]

    def offset(u: int) -> int:
        off = (EPOCH + timedelta(microseconds=u)).astimezone(zi).utcoffset()
        return off // ONE_US if off is not None else 0

    before, lo, hi = offset(ua), ua, ub
    while hi - lo > 1:  # first instant with the new offset
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if offset(mid) == before else (lo, mid)
    return [(ua, hi, la, hi + before), (hi, ub, hi + offset(hi), lb)]

