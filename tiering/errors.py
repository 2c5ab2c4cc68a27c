"""Errors raised by tiering: one hierarchy rooted in :class:`TieringError`.

Every error carries a message template and the fields it was built from, so a caller can
show the text to a person or read the fields as data (the CLI's ``--json`` does).
"""

from __future__ import annotations

from typing import Any, ClassVar


class TieringError(Exception):
    """Base of every error tiering raises on purpose."""

    template: ClassVar[str] = "{message}"
    exit_code: ClassVar[int] = 2

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.fields = fields
        text = message if message is not None else self.template.format(**fields)
        super().__init__(text)

    @property
    def message(self) -> str:
        return str(self)


class InputError(TieringError):
    """Bad input data: names the file, the row, the column and the value."""

    template = "{source}: row {row}, column {column!r}: {problem}: {value!r}"


class InputWarning(UserWarning):
    """Input that is accepted but probably wrong (most billing rows match no subscriber)."""


class PolicyError(TieringError):
    """An invalid policy; names the offending field."""

    template = "policy {source}: field {field!r}: {problem}"


class CalendarError(TieringError):
    """A business calendar that cannot be built or used."""


class DateOutOfBounds(CalendarError):
    """A date outside the years a calendar knows (no official schedule for it)."""

    template = (
        "calendar {calendar!r} knows the years {first}-{last}; {when} is outside them "
        "(no official schedule is known for that year)"
    )


class SlaLookupError(TieringError):
    """An issue class or tier the policy has no target for (never defaulted)."""


class NotFound(TieringError):
    """A look-up that matched nothing."""

    exit_code = 1


class StoreError(TieringError):
    """The store is missing, busy or holds no such month."""


class StoredThenInterrupted(StoreError):
    """Ctrl-C or SIGTERM arrived once the month was already stored in full."""

    template = "interrupted after month {month} was stored in full"
    exit_code = 130
