"""Clocks for SLA deadlines (SPEC section 6): ``ops`` (exact time arithmetic), ``business``
(precomputed working intervals), ``files`` (calendar files), ``cn`` (the built-in China
calendar), and here the binding of a policy's class to its clock. No polars anywhere here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tiering.clock.business import (
    BusinessCalendar,
    CalendarRules,
    Clock,
    Clock24x7,
    Hours,
    Tables,
    build,
)
from tiering.clock.cn import cn_rules, with_provisional_years
from tiering.clock.files import load_rules
from tiering.clock.ops import (
    DAY_US,
    US,
    ArrayOps,
    Ops,
    ScalarOps,
    from_us,
    to_us,
    zone,
)
from tiering.errors import CalendarError, PolicyError

if TYPE_CHECKING:
    from tiering.policy import Policy, SlaClass

__all__ = [
    "DAY_US", "US", "ArrayOps", "BusinessCalendar", "CalendarRules", "Clock", "Clock24x7",
    "Hours", "Ops", "ScalarOps", "Tables", "build", "cn_rules", "from_us", "get_calendar",
    "get_clock", "load_rules", "to_us", "zone",
]


def get_calendar(name: str, file: str | None = None, *,
                 provisional: bool = False) -> BusinessCalendar:
    """The calendar ``name`` (built-in ``CN`` when no file), built once per (name, file,
    provisional); ``provisional``: with the years after the known ones that China's statutory
    holidays let one guess (``sla.unknown_years = "provisional"``)."""
    return _calendar(name, file, provisional)


@functools.lru_cache(maxsize=32)
def _calendar(name: str, file: str | None, provisional: bool) -> BusinessCalendar:
    if file is not None:
        rules = load_rules(file, name)
    elif name == "CN":
        rules = cn_rules()
    else:
        raise CalendarError(f"unknown calendar {name!r}: only \"CN\" is built in; give a "
                            f"calendar file in the policy ([calendars.{name}] file = ...)")
    return build(with_provisional_years(rules) if provisional else rules)


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
    return get_calendar(sla_class.calendar, policy.sla.calendars.get(sla_class.calendar),
                        provisional=policy.sla.unknown_years == "provisional")
