"""What every command shares: error reporting, JSON output, exit codes.

Exit codes: 0 success, 1 not found, 2 bad input (file, row, column and value named).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import click

from tiering.errors import TieringError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of text, for machines."
)


def handle_errors(fn: F) -> F:
    """Turn a TieringError into its message on stderr and its exit code (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TieringError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=_default, indent=2))


class MonthType(click.ParamType):
    """A month option, checked the same way in every command (tiering.months): ``YYYY-MM``
    (or ``YYYYMM``, or a date in the month), given to the command as ``YYYY-MM``."""

    name = "YYYY-MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str:
        from tiering.months import parse_month_text, month_text

        index = parse_month_text(str(value))
        if index is None:
            self.fail(f"not a month (YYYY-MM): {value!r}", param, ctx)
        return month_text(index)


MONTH = MonthType()
month_option = click.option(
    "--month", type=MONTH, help="Rating month (default: the latest in the store).")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 line``, ``2 lines``, ``1,234 lines``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
