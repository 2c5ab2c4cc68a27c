"""What every command shares: error reporting, JSON output, exit codes.

Exit codes: 0 success, 1 not found, 2 bad input (file, row, column and value named).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
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


INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def handle_errors(fn: F) -> F:
    """Turn a TieringError into its message on stderr and its exit code, and Ctrl-C or
    SIGTERM into "interrupted" and 130 (never a traceback). Writers clean up on the way
    out (tiering.store.writer), so the store is as it was."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                        signal.signal(signal.SIGTERM, _terminate))
        except ValueError:  # not the main thread (CliRunner in a thread): leave them
            previous = None
        try:
            return fn(*args, **kwargs)
        except TieringError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _interrupted()
        except Exception as exc:
            # DuckDB turns Ctrl-C inside a query into its own exception (InterruptException,
            # or "Query interrupted" through an Arrow stream).
            if "interrupt" in type(exc).__name__.lower() or "interrupted" in str(exc).lower():
                _interrupted()
            if isinstance(exc, BrokenPipeError):  # `tiering ... | head`: the reader left
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(0)
            if isinstance(exc, OSError):
                click.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
                sys.exit(2)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous[0])
                signal.signal(signal.SIGTERM, previous[1])

    return wrapper  # type: ignore[return-value]


def stored_month_done() -> None:
    """Once a run has stored its month, Ctrl-C and SIGTERM are ignored for the little that
    is left (the summary): exiting 130 then would say a stored month was not."""
    with contextlib.suppress(ValueError):  # not the main thread: nothing was ours to set
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every clean-up runs


def _interrupted() -> None:
    click.echo("interrupted; the store is unchanged", err=True)
    sys.exit(INTERRUPTED)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=_default, indent=2)


def print_json(data: Any) -> None:
    click.echo(json_text(data))


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
