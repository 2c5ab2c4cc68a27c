"""Calendar files: TOML (extends CN or stands alone) or CSV ``date,kind`` (extends CN)."""

from __future__ import annotations

import csv
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tiering.clock.business import CalendarRules, Hours
from tiering.clock.cn import cn_rules
from tiering.clock.ops import zone
from tiering.errors import CalendarError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
        source=f"{p}" + (f" on {start.source}" if start else ""), cn_based=start is not None,
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
        source=f"{p} on {cn.source}", cn_based=True,
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

