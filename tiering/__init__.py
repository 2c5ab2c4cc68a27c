"""tiering: customer-tier scoring and SLA deadlines for telecom operators.

    import tiering
    result = tiering.rate("2026-11", "billing/*.parquet", "subscribers.csv")
    result.lines            # polars DataFrame, one row per subscriber
    tiering.Store("tiering.duckdb").write_month(result)

The heavy parts (polars) load on first use, so ``import tiering.sla`` stays light for
ticket systems that only compute deadlines.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tiering.errors import (
    CalendarError,
    DateOutOfBounds,
    InputError,
    NotFound,
    PolicyError,
    SlaLookupError,
    StoreError,
    TieringError,
)
from tiering.policy import Policy, load_policy

__version__ = "0.1.0"

_LAZY = {
    "rate": "tiering.engine",
    "RateResult": "tiering.engine",
    "Store": "tiering.store",
    "deadline": "tiering.sla",
    "status": "tiering.sla",
    "deadlines": "tiering.sla",
    "Ticket": "tiering.sla",
    "effective_tier": "tiering.effective",
}

__all__ = [
    "CalendarError", "DateOutOfBounds", "InputError", "NotFound", "Policy", "PolicyError",
    "SlaLookupError", "StoreError", "TieringError", "load_policy", "__version__", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tiering' has no attribute {name!r}")
