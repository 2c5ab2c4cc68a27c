"""Business calendars: known years, make-up days, working hours, DST, user files."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiering.clock import (
    BusinessCalendar, Clock24x7, ScalarOps, build, get_calendar, get_clock, load_rules, to_us,
)
from tiering.errors import CalendarError, PolicyError
from tiering.policy import SlaClass, load_policy
from years import FIRST_KNOWN, LAST_KNOWN

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000_000


def us(*args: int, tz: ZoneInfo = SH) -> int:
    return to_us(datetime(*args, tzinfo=tz))


def working(cal: BusinessCalendar, day: date) -> bool:
    day_no = (day - date(1970, 1, 1)).days
    i = np.searchsorted(cal.days, day_no)
    return bool(i < len(cal.days) and cal.days[i] == day_no)


def worked(cal: BusinessCalendar, a: int, b: int) -> int:
    return int(cal.work(np.array([b]))[0][0] - cal.work(np.array([a]))[0][0])


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return get_calendar("CN")


def test_cn_known_years_are_the_official_ones(cn: BusinessCalendar) -> None:
    from holidays.countries.china import ChinaStaticHolidays

    known = sorted(ChinaStaticHolidays.special_public_holidays)
    assert (cn.first_year, cn.last_year) == (known[0], known[-1])


def test_cn_holidays_and_make_up_days(cn: BusinessCalendar) -> None:
    import holidays

    makeup = {d for d in holidays.China(years=2026).weekend_workdays if d.year == 2026}
    assert makeup == {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                      date(2026, 9, 20), date(2026, 10, 10)}
    for d in makeup:
        assert d.weekday() >= 5 and working(cn, d)
    for d in (date(2026, 10, 1), date(2026, 10, 7), date(2026, 2, 17)):
        assert not working(cn, d)
    assert working(cn, date(2026, 10, 8))
    assert not working(cn, date(2026, 10, 11))  # an ordinary Sunday


def test_cn_day_is_eight_hours_with_lunch(cn: BusinessCalendar) -> None:
    assert worked(cn, us(2026, 9, 7), us(2026, 9, 8)) == 8 * H
    assert worked(cn, us(2026, 9, 7, 12), us(2026, 9, 7, 13)) == 0
    assert worked(cn, us(2026, 10, 10), us(2026, 10, 11)) == 8 * H  # make-up Saturday
    assert worked(cn, us(2026, 10, 1), us(2026, 10, 8)) == 0  # National Day week


def test_half_open_intervals(cn: BusinessCalendar) -> None:
    w = lambda t: int(cn.work(np.array([t]))[0][0])  # noqa: E731
    x = w(us(2026, 9, 7, 12))
    assert int(cn.unwork(np.array([x]), False)[0][0]) == us(2026, 9, 7, 12)
    assert int(cn.unwork(np.array([x]), True)[0][0]) == us(2026, 9, 7, 13)
    y = w(us(2026, 9, 7, 18))
    assert int(cn.unwork(np.array([y]), True)[0][0]) == us(2026, 9, 8, 9)


def test_outside_known_years_is_flagged(cn: BusinessCalendar) -> None:
    _, bad = cn.work(np.array([us(LAST_KNOWN + 1, 1, 4, 10), us(LAST_KNOWN, 12, 31, 10),
                               us(FIRST_KNOWN - 1, 6, 1)]))
    assert bad.tolist() == [True, False, True]
    _, bad = cn.unwork(np.array([int(cn.cum_end[-1]) + 1]), False)
    assert bad.tolist() == [True]


@settings(max_examples=200, deadline=None)
@given(st.integers(us(FIRST_KNOWN, 1, 1), us(LAST_KNOWN, 12, 31)), st.integers(0, 30 * 24 * H))
def test_work_is_monotone_and_scalar_equals_array(t: int, dt: int) -> None:
    cal = get_calendar("CN")
    arr = cal.work(np.array([t, t + dt]))[0]
    assert arr[0] <= arr[1]
    assert cal.work(t, ScalarOps)[0] == arr[0]
    for right in (False, True):
        assert cal.unwork(int(arr[0]), right, ScalarOps)[0] == cal.unwork(arr[:1], right)[0][0]
    moved = cal.unwork(int(arr[0]), True, ScalarOps)[0]
    assert cal.work(moved, ScalarOps)[0] == arr[0]  # the inverse lands where W = x
    assert moved >= t


def test_csv_file_extends_cn(tmp_path: Path) -> None:
    f = tmp_path / "company.csv"
    f.write_text("date,kind\n2026-09-07,holiday\n2026-10-08,holiday\n2026-10-03,workday\n")
    cal = build(load_rules(f, "ACME"))
    assert not working(cal, date(2026, 9, 7))
    assert working(cal, date(2026, 10, 3))  # CN holiday turned working day, CN hours
    assert worked(cal, us(2026, 10, 3), us(2026, 10, 4)) == 8 * H
    assert working(cal, date(2026, 10, 10))  # CN make-up day still there
    f.write_text(f"date,kind\n{LAST_KNOWN + 1}-01-02,holiday\n")
    with pytest.raises(CalendarError, match=f"outside the known years {FIRST_KNOWN}-{LAST_KNOWN}"):
        load_rules(f, "ACME")
    f.write_text("date,kind\n2026-01-02,vacation\n")
    with pytest.raises(CalendarError, match="row 1, column 'kind'"):
        load_rules(f, "ACME")


BERLIN_TOML = """
base = "none"
timezone = "Europe/Berlin"
years = [2026]
holidays = [2026-10-03, "2026-12-25"]
workdays = ["2026-10-24"]

[hours]
mon = ["08:00-12:00", "13:00-17:00"]
tue = ["08:00-12:00", "13:00-17:00"]
wed = ["08:00-12:00", "13:00-17:00"]
thu = ["08:00-12:00", "13:00-17:00"]
fri = ["08:00-12:00", "13:00-17:00"]
sun = ["00:00-24:00"]
makeup = ["09:00-13:00"]
"""


def test_toml_calendar_from_nothing_across_dst(tmp_path: Path) -> None:
    f = tmp_path / "de.toml"
    f.write_text(BERLIN_TOML)
    cal = build(load_rules(f, "DE"))
    assert (cal.first_year, cal.last_year, cal.timezone) == (2026, 2026, "Europe/Berlin")
    b = lambda *a: us(*a, tz=BERLIN)  # noqa: E731
    # Sunday 2026-10-25 has 25 hours (clocks go back at 03:00) and all of them are working.
    assert worked(cal, b(2026, 10, 25), b(2026, 10, 26)) == 25 * H
    assert worked(cal, b(2026, 3, 29), b(2026, 3, 30)) == 23 * H
    assert worked(cal, b(2026, 10, 24), b(2026, 10, 25)) == 4 * H  # make-up Saturday hours
    assert worked(cal, b(2026, 10, 23), b(2026, 10, 24)) == 8 * H
    assert not working(cal, date(2026, 10, 3)) and not working(cal, date(2026, 10, 31))
    _, bad = cal.work(np.array([b(2027, 1, 1, 0, 0, 1), b(2025, 12, 31, 23)]))
    assert bad.tolist() == [True, True]


@pytest.mark.parametrize("text, message", [
    ("base = \"none\"\nyears = [2026]\n", "needs an IANA zone"),
    ("base = \"XX\"\n", "field 'base'"),
    ("base = \"none\"\ntimezone = \"Mars/Base\"\nyears = [2026]\n", "not an IANA time zone"),
    ("base = \"none\"\ntimezone = \"UTC\"\nyears = [2026, 2028]\n", "contiguous"),
    ("base = \"CN\"\nholidays = [2031-01-02]\n", "outside the known years"),
    ("base = \"CN\"\n[hours]\nmon = [\"13:00-12:00\"]\n", "start must be before end"),
    ("base = \"CN\"\n[hours]\nmon = [\"09:00-13:00\", \"12:00-18:00\"]\n", "not overlap"),
    ("base = \"CN\"\n[hours]\nfunday = [\"09:00-12:00\"]\n", "unknown day"),
    ("base = \"CN\"\nholiday = [2026-01-05]\n", "unknown field"),
    ("base = \"CN\"\nholidays = [2026-01-05]\nworkdays = [2026-01-05]\n", "also listed"),
])
def test_bad_calendar_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(CalendarError, match=message):
        load_rules(f, "X")


def test_toml_extends_cn_with_a_new_year(tmp_path: Path) -> None:
    nxt = LAST_KNOWN + 1
    f = tmp_path / "cn_next.toml"
    f.write_text(f'base = "CN"\nyears = [{nxt}]\nholidays = [{nxt}-01-01]\n')
    cal = build(load_rules(f, "CN"))
    assert cal.last_year == nxt
    monday = next(date(nxt, 1, d) for d in range(2, 9) if date(nxt, 1, d).weekday() == 0)
    assert not working(cal, date(nxt, 1, 1)) and working(cal, monday)


def test_get_clock_is_cached_and_refuses_d_on_business() -> None:
    policy = load_policy()
    fb = policy.sla.classes["feedback"]
    assert get_clock(fb, policy) is get_clock(fb, policy) is get_calendar("CN", provisional=True)
    assert get_clock(policy.sla.classes["maintenance"], policy) == Clock24x7("Asia/Shanghai")
    with pytest.raises(PolicyError, match="`d` is defined on the 24x7 clock only"):
        get_clock(SlaClass("x", "business", "d", (1, 2, 3, 4, 5), "CN"), policy)
    with pytest.raises(CalendarError, match="only \"CN\" is built in"):
        get_calendar("US")


def test_calendar_module_does_not_import_polars() -> None:
    import subprocess
    import sys

    code = "import sys, tiering.sla; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "False"


def test_intervals_are_sorted_and_cum_consistent(cn: BusinessCalendar) -> None:
    assert np.all(np.diff(cn.starts) >= 0) and np.all(cn.ends >= cn.starts)
    assert np.array_equal(cn.cum[1:], cn.cum_end[:-1])
    assert cn.lo == us(FIRST_KNOWN, 1, 1) and cn.hi == us(LAST_KNOWN + 1, 1, 1)
    years = LAST_KNOWN - FIRST_KNOWN + 1
    assert timedelta(microseconds=int(cn.cum_end[-1])) > timedelta(days=years * 240 // 3)
