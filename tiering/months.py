"""Month text and month indexes, without polars: the CLI checks every --month with these
before it loads a heavy module (a look-up's start-up stays short).

Months are integer indexes (``year * 12 + month - 1``) so windows and tenure are plain
subtraction.
"""

from __future__ import annotations

import re

from tiering.errors import InputError

MONTH_RE = r"\s*(\d{4})[-/]?(\d{2})(?:[-/]\d{2})?\s*"


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse_month_text(text: str) -> int | None:
    """The month index of ``YYYY-MM``, ``YYYYMM`` or a ``YYYY-MM-DD`` date; None otherwise."""
    m = re.fullmatch(MONTH_RE, text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return month_index(int(m.group(1)), int(m.group(2)))


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
