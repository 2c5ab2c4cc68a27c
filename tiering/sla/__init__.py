"""Resolution deadlines (SPEC section 6) for one ticket or a frame of them.

``rule`` holds the rule over arrays, ``ticket`` the one-ticket API (``deadline``, ``status``),
``frame`` the vectorized ``deadlines`` over a polars frame. ``import tiering.sla`` does not
import polars (ticket systems call it in request handlers): the frame face loads on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tiering.effective import effective_tier
from tiering.errors import SlaLookupError
from tiering.sla.ticket import Deadline, Status, Ticket, deadline, parse_pause, status

_LAZY = {"deadlines": "tiering.sla.frame", "instants_us": "tiering.sla.frame"}

__all__ = ["Deadline", "SlaLookupError", "Status", "Ticket", "deadline", "effective_tier",
           "parse_pause", "status", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tiering.sla' has no attribute {name!r}")
