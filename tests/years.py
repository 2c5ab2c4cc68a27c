"""The years the installed ``holidays`` package knows officially for China, so that no test
breaks the day a release adds the next year (never a literal year)."""

from datetime import date, timedelta

import holidays
from holidays.countries.china import ChinaStaticHolidays

LAST_KNOWN = max(ChinaStaticHolidays.special_public_holidays)
FIRST_KNOWN = min(ChinaStaticHolidays.special_public_holidays)


def last_working_day(year: int) -> date:
    """The last working day of a known year, from the package's data (not from tiering)."""
    cn = holidays.China(years=year)
    d = date(year, 12, 31)
    while d in cn or (d.weekday() >= 5 and d not in cn.weekend_workdays):
        d -= timedelta(days=1)
    return d


def first_statutory_working_day(year: int) -> date:
    """The first working day of a year without an official schedule: statutory holidays and
    weekends off, no make-up days."""
    cn = holidays.China(years=year)
    d = date(year, 1, 1)
    while d in cn or d.weekday() >= 5:
        d += timedelta(days=1)
    return d
