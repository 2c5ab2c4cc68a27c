"""Masking of subscriber ids (phone numbers are personal data): ``13800138000`` ->
``138****8000``. The same rule is written once more in SQL for exports (``MASK_SQL``);
tests hold the two equal."""

from __future__ import annotations


def mask_id(value: object) -> str:
    """Keep the first 3 and last 4 characters of ids of 7 or more, the first and last of
    shorter ones, and star the rest."""
    text = str(value)
    n = len(text)
    if n >= 7:
        return f"{text[:3]}****{text[-4:]}"
    if n >= 3:
        return f"{text[0]}{'*' * (n - 2)}{text[-1]}"
    return "*" * n


def mask_sql(column: str) -> str:
    """The SQL of :func:`mask_id` over a trusted column name (never user text)."""
    return (f"CASE WHEN length({column}) >= 7 THEN left({column}, 3) || '****' || "
            f"right({column}, 4) WHEN length({column}) >= 3 THEN left({column}, 1) || "
            f"repeat('*', length({column}) - 2) || right({column}, 1) "
            f"ELSE repeat('*', length({column})) END")
