"""Highest applies (就高原则, SPEC section 3): the one home of the rule.

The tier that drives service is the highest of the line's own tier, the tiers of the
customer's other lines and the active manual overrides; with none of them, the policy's
``unrated_service_tier``. Two other faces answer the same rule for speed and cite this one:
``EFFECTIVE_SQL`` in ``tiering/store.py`` (one-shot look-ups in DuckDB) and
``tiering.store.index.highest_applies`` (numpy, a long-lived reader's index); tests hold the
three equal against ``tests/reference.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from tiering.policy import Policy, load_policy


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    return load_policy()


def effective_tier(own: int | None, customer: Iterable[int | None] = (),
                   overrides: Iterable[int | None] = (), *, policy: Policy | None = None) -> int:
    """Highest applies (就高原则): the tier that drives service is the highest of the line's
    own tier, the tiers of the customer's other lines and the active manual overrides; with
    none of them, the policy's ``unrated_service_tier``. The store answers the same rule in
    SQL for look-ups (``Store.lines``, ``Store.effective_tiers``), and with arrays from a
    reader's in-memory index (``tiering.store.index.highest_applies``); tests hold the three
    equal."""
    known = [t for t in (own, *customer, *overrides) if t is not None]
    if known:
        return max(known)
    return (policy or default_policy()).rating.unrated_service_tier
