"""Time arithmetic shared by every clock: exact epoch microseconds, and the two sets of
primitives (numpy arrays for a frame, Python ints for one ticket) that the SLA rule is written
against. No polars: ticket systems import this in request handlers."""

from __future__ import annotations

import bisect
import functools
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Union
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:
    from tiering.clock.business import BusinessCalendar

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_US = timedelta(microseconds=1)

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
