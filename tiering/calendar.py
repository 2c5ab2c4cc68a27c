"""Clocks that count resolution time: elapsed time (``24x7``) or working time on a calendar.

A business calendar is precomputed once into sorted arrays of working intervals (int64 epoch
microseconds) so that "working time up to t" and its inverse are two ``searchsorted`` calls,
the same for one ticket or a million. Only the years with an official schedule are known; any
question about another year raises :class:`~tiering.errors.DateOutOfBounds` rather than
guessing that it is an ordinary year.

This module stays free of polars: ticket systems import it in request handlers.
"""

from __future__ import annotations

import bisect
import csv
import functools
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Union
from zoneinfo import ZoneInfo

import numpy as np

from tiering.errors import CalendarError, DateOutOfBounds, PolicyError

if TYPE_CHECKING:
    from tiering.policy import Policy, SlaClass

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_US = timedelta(microseconds=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CN_ZONE = "Asia/Shanghai"
CN_DAY = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))

Hours = tuple[tuple[int, int], ...]  # [start, end) in minutes after local midnight
I64 = np.ndarray


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (exact, no float)."""
    return (moment - EPOCH) // ONE_US


def from_us(us: int, zone_name: str) -> datetime:
    return (EPOCH + timedelta(microseconds=int(us))).astimezone(zone(zone_name))


class ArrayOps:
    """Primitives over numpy arrays (a frame of tickets)."""

    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def searchsorted(seq: Any, v: Any, side: str) -> Any:
        return np.searchsorted(seq, v, side)  # type: ignore[call-overload]

    @staticmethod
    def not_(x: Any) -> Any:
        return ~x

    @staticmethod
    def tables(cal: BusinessCalendar) -> Any:
        return cal

    @staticmethod
    def false(m: int) -> Any:
        return np.zeros(m, bool)

    @staticmethod
    def gather(per_ticket: Any, idx: I64) -> Any:
        return per_ticket[idx]

    @staticmethod
    def one(per_ticket: I64) -> Any:
        return per_ticket


class ScalarOps:
    """The same primitives on Python ints and bools (one ticket). The rule is written once
    against either set, so a request handler does not pay numpy's per-call overhead."""

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return a if c else b

    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def searchsorted(seq: Any, v: Any, side: str) -> Any:
        return (bisect.bisect_right if side == "right" else bisect.bisect_left)(seq, v)

    @staticmethod
    def not_(x: Any) -> Any:
        return not x

    @staticmethod
    def tables(cal: BusinessCalendar) -> Any:
        return cal.lists

    @staticmethod
    def false(m: int) -> Any:
        return False

    @staticmethod
    def gather(per_ticket: Any, idx: I64) -> Any:
        return per_ticket  # numpy broadcasts the one ticket's value over its pauses

    @staticmethod
    def one(per_ticket: I64) -> Any:
        return per_ticket[0].item()


Ops = Union[type[ArrayOps], type[ScalarOps]]


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
    numbers since 1970-01-01. ``lo``/``hi`` bound the known years (local midnights).
    ``lists`` holds the same tables as Python lists for one-ticket calls.
    """

    name: str
    timezone: str
    first_year: int
    last_year: int
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
        return DateOutOfBounds(calendar=self.name, first=self.first_year, last=self.last_year,
                               when=when)

    def local_date(self, us: int) -> date:
        return from_us(us, self.timezone).date()


Clock = Union[Clock24x7, BusinessCalendar]


@dataclass(frozen=True, slots=True)
class CalendarRules:
    """What a calendar file says, before precomputation."""

    name: str
    timezone: str
    years: tuple[int, int]  # first, last known year (inclusive)
    weekly: tuple[Hours, ...]  # Monday first
    makeup: Hours  # hours of a make-up working day on a weekend
    holidays: frozenset[date]
    workdays: frozenset[date]


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
    return BusinessCalendar(
        name=rules.name, timezone=rules.timezone, first_year=first, last_year=last, ends=e,
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


def cn_rules() -> CalendarRules:
    """The built-in China calendar from the ``holidays`` package: holidays and make-up days
    (调休) for exactly the years with a State Council schedule in the package."""
    import holidays
    from holidays.countries.china import ChinaStaticHolidays

    known = sorted(ChinaStaticHolidays.special_public_holidays)
    first, last = known[0], known[-1]
    if known != list(range(first, last + 1)):
        raise CalendarError(f"calendar 'CN': the holidays package's official years are not "
                            f"contiguous: {known}")
    cn = holidays.China(years=range(first, last + 1))
    in_range = lambda d: first <= d.year <= last  # noqa: E731
    return CalendarRules(
        name="CN", timezone=CN_ZONE, years=(first, last),
        weekly=(CN_DAY,) * 5 + ((), ()), makeup=CN_DAY,
        holidays=frozenset(d for d in cn if in_range(d)),
        workdays=frozenset(d for d in cn.weekend_workdays if in_range(d)),
    )


def load_rules(path: str | Path, name: str) -> CalendarRules:
    """Read a calendar file: TOML (extends CN or stands alone) or CSV ``date,kind``
    (holiday|workday, extends CN)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"calendar file {p}: cannot read: {exc}") from None
    if p.suffix.lower() == ".csv":
        return _csv_rules(p, text, name)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"calendar file {p}: not valid TOML: {exc}") from None
    return _toml_rules(p, raw, name)


_TOML_KEYS = {"name", "base", "timezone", "years", "hours", "holidays", "workdays"}


def _toml_rules(p: Path, raw: dict[str, Any], name: str) -> CalendarRules:
    def fail(field: str, problem: str) -> CalendarError:
        return CalendarError(f"calendar file {p}: field {field!r}: {problem}")

    unknown = sorted(set(raw) - _TOML_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown field; known: {', '.join(sorted(_TOML_KEYS))}")
    base = raw.get("base")
    if base not in ("CN", "none"):
        raise fail("base", f"must be \"CN\" (extend the built-in China calendar) or \"none\", "
                   f"got {base!r}")
    start = cn_rules() if base == "CN" else None
    tz = raw.get("timezone", start.timezone if start else None)
    if not isinstance(tz, str):
        raise fail("timezone", "a calendar with base = \"none\" needs an IANA zone, e.g. "
                   "\"Europe/Berlin\"")
    try:
        zone(tz)
    except (ValueError, KeyError, OSError):
        raise fail("timezone", f"not an IANA time zone: {tz!r}") from None
    years_raw = raw.get("years", [])
    if not isinstance(years_raw, list) or not all(
            isinstance(y, int) and not isinstance(y, bool) and 1900 < y < 3000 for y in years_raw):
        raise fail("years", "must be a list of years, e.g. [2026, 2027]")
    years = set(years_raw) | (set(range(start.years[0], start.years[1] + 1)) if start else set())
    if not years:
        raise fail("years", "a calendar with base = \"none\" must list the years it knows")
    first, last = min(years), max(years)
    if years != set(range(first, last + 1)):
        raise fail("years", f"known years must be contiguous, got {sorted(years)}")
    weekly = list(start.weekly) if start else [()] * 7
    makeup = start.makeup if start else None
    hours = raw.get("hours", {})
    if not isinstance(hours, dict):
        raise fail("hours", "must be a table, e.g. mon = [\"09:00-12:00\", \"13:00-18:00\"]")
    for key, value in hours.items():
        if key == "makeup":
            makeup = _hours(value, f"hours.{key}", fail)
        elif key in WEEKDAYS:
            weekly[WEEKDAYS.index(key)] = _hours(value, f"hours.{key}", fail)
        else:
            raise fail(f"hours.{key}", f"unknown day; use {', '.join(WEEKDAYS)} or makeup")
    if makeup is None:
        makeup = weekly[0]
    hol = _dates(raw.get("holidays", []), "holidays", fail, first, last)
    work = _dates(raw.get("workdays", []), "workdays", fail, first, last)
    both = sorted(hol & work)
    if both:
        raise fail("workdays", f"{both[0]} is also listed as a holiday")
    base_hol = start.holidays if start else frozenset()
    base_work = start.workdays if start else frozenset()
    return CalendarRules(
        name=str(raw.get("name", name)), timezone=tz, years=(first, last),
        weekly=tuple(weekly), makeup=makeup,
        holidays=frozenset((base_hol - work) | hol),
        workdays=frozenset((base_work - hol) | work),
    )


def _csv_rules(p: Path, text: str, name: str) -> CalendarRules:
    cn = cn_rules()
    first, last = cn.years
    hol: set[date] = set()
    work: set[date] = set()
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"date", "kind"} <= {f.strip() for f in reader.fieldnames}:
        raise CalendarError(f"calendar file {p}: needs the header `date,kind`")
    for row_no, row in enumerate(reader, start=1):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            d = date.fromisoformat(row["date"])
        except ValueError:
            raise CalendarError(f"calendar file {p}: row {row_no}, column 'date': not a date "
                                f"YYYY-MM-DD: {row['date']!r}") from None
        if not first <= d.year <= last:
            raise CalendarError(
                f"calendar file {p}: row {row_no}: {d} is outside the known years "
                f"{first}-{last}; to add a year, use a TOML calendar file with years = [...]")
        kind = row["kind"].lower()
        if kind not in ("holiday", "workday"):
            raise CalendarError(f"calendar file {p}: row {row_no}, column 'kind': must be "
                                f"holiday or workday: {row['kind']!r}")
        (hol if kind == "holiday" else work).add(d)
        (work if kind == "holiday" else hol).discard(d)
    return CalendarRules(
        name=name, timezone=cn.timezone, years=cn.years, weekly=cn.weekly, makeup=cn.makeup,
        holidays=frozenset((cn.holidays - work) | hol),
        workdays=frozenset((cn.workdays - hol) | work),
    )


def _hours(value: Any, field: str, fail: Any) -> Hours:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(field, "must be a list like [\"09:00-12:00\", \"13:00-18:00\"]")
    out: list[tuple[int, int]] = []
    for text in value:
        try:
            a, b = (_minutes(x) for x in text.split("-"))
        except ValueError:
            raise fail(field, f"not a range HH:MM-HH:MM: {text!r}") from None
        if not 0 <= a < b <= 24 * 60:
            raise fail(field, f"start must be before end within one day: {text!r}")
        if out and a < out[-1][1]:
            raise fail(field, f"ranges must be in order and not overlap: {text!r}")
        out.append((a, b))
    return tuple(out)


def _minutes(text: str) -> int:
    h, m = text.strip().split(":")
    if len(m) != 2 or not h.isdigit() or not m.isdigit() or int(m) >= 60:
        raise ValueError(text)
    return int(h) * 60 + int(m)


def _dates(value: Any, field: str, fail: Any, first: int, last: int) -> set[date]:
    if not isinstance(value, list):
        raise fail(field, "must be a list of dates, e.g. [2026-10-01, \"2026-10-02\"]")
    out = set()
    for v in value:
        try:
            d = v if isinstance(v, date) and not isinstance(v, datetime) else date.fromisoformat(v)
        except (TypeError, ValueError):
            raise fail(field, f"not a date YYYY-MM-DD: {v!r}") from None
        if not first <= d.year <= last:
            raise fail(field, f"{d} is outside the known years {first}-{last}")
        out.add(d)
    return out


def get_calendar(name: str, file: str | None = None) -> BusinessCalendar:
    """The calendar ``name`` (built-in ``CN`` when no file), built once per (name, file)."""
    return _calendar(name, file)


@functools.lru_cache(maxsize=32)
def _calendar(name: str, file: str | None) -> BusinessCalendar:
    if file is not None:
        return build(load_rules(file, name))
    if name != "CN":
        raise CalendarError(f"unknown calendar {name!r}: only \"CN\" is built in; give a "
                            f"calendar file in the policy ([calendars.{name}] file = ...)")
    return build(cn_rules())


@functools.lru_cache(maxsize=256)
def get_clock(sla_class: SlaClass, policy: Policy) -> Clock:
    """The clock a class counts on: elapsed time in the policy's zone, or its calendar."""
    if sla_class.clock == "24x7":
        return Clock24x7(policy.sla.timezone)
    if sla_class.unit == "d":
        # The SPEC defines `d` as 24 h of elapsed time only; on a calendar it could mean
        # 24 working hours or a working day, so refuse rather than pick one.
        raise PolicyError(source=policy.source, field=f"sla.classes.{sla_class.name}.unit",
                          problem="`d` is defined on the 24x7 clock only; on the business "
                                  "clock use `wd` (working days) or `h` (working hours)")
    assert sla_class.calendar is not None  # validated by the policy loader
    return get_calendar(sla_class.calendar, policy.sla.calendars.get(sla_class.calendar))
