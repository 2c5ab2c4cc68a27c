"""The built-in China calendar (``CN``), from the maintained ``holidays`` package."""

from __future__ import annotations

from tiering.clock.business import CalendarRules
from tiering.errors import CalendarError

CN_ZONE = "Asia/Shanghai"
CN_DAY = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))


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

