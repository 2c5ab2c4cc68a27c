"""Month text and month indexes, without polars: the CLI checks every --month with these
before it loads a heavy module (a look-up's start-up stays short).

Months are integer indexes (``year * 12 + month - 1``) so windows and tenure are plain
subtraction.
"""

from __future__ import annotations

import re
from datetime import date

from tiering.errors import InputError

# YYYY-MM, YYYYMM or a date YYYY-MM-DD, in ASCII digits: re.ASCII keeps \d from matching
# full-width or other Unicode digits (２０２５-１０), which are rejected, not normalised.
MONTH_RE = re.compile(r"\s*(\d{4})(?:-?(\d{2})|-(\d{2})-(\d{2}))\s*", re.ASCII)


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse_month_text(text: str) -> int | None:
    """The month index of ``YYYY-MM``, ``YYYYMM`` or a real ``YYYY-MM-DD`` date (not
    2026-02-30); None otherwise."""
    m = MONTH_RE.fullmatch(text)
    if m is None:
        return None
    year, month, date_month, day = m.groups()
    if date_month is not None:
        try:
            date(int(year), int(date_month), int(day))
        except ValueError:
            return None
        month = date_month
    if not 1 <= int(month) <= 12:
        return None
    return month_index(int(year), int(month))


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_month(text: str, option: str = "--month") -> int:
    """The month index of ``text``, or InputError (exit 2) naming the option."""
    month = parse_month_text(text)
    if month is None:
        raise InputError(f"{option}: not a month (YYYY-MM): {text!r}")
    return month


def canonical_month(text: str, option: str = "--month") -> str:
    """``text`` as ``YYYY-MM`` (the form months are stored under)."""
    return month_text(parse_month(text, option))
