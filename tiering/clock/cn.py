"""The built-in China calendar (``CN``), from the maintained ``holidays`` package."""

from __future__ import annotations

import dataclasses
from datetime import date

from tiering.clock.business import CalendarRules
from tiering.errors import CalendarError

CN_ZONE = "Asia/Shanghai"
CN_DAY = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
# How many years after the last official one `sla.unknown_years = "provisional"` computes:
# the longest shipped target is 90 days, so two years carry a work-order system through a
# whole year without the new notice, with the deadlines that reach into the next.
PROVISIONAL_YEARS = 2


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
        source=f"holidays {holidays.__version__}", cn_based=True,
    )


def with_provisional_years(rules: CalendarRules) -> CalendarRules:
    """``rules`` extended by PROVISIONAL_YEARS years of China's statutory holidays as the
    ``holidays`` package computes them from the law (no make-up days: only the State
    Council's yearly notice sets those). A calendar not built on CN is returned as it is."""
    if not rules.cn_based:
        return rules
    import holidays

    first, last = rules.years
    later = range(last + 1, last + 1 + PROVISIONAL_YEARS)
    statutory = {d for d in holidays.China(years=later) if isinstance(d, date)}
    return dataclasses.replace(rules, years=(first, later[-1]), known_last=last,
                               holidays=rules.holidays | frozenset(statutory))

