"""A reader process for test_reliability: looks ids up in a loop until SIGTERM, then prints
a JSON summary (answers, months seen, failures, answers from an incomplete month)."""

from __future__ import annotations

import json
import signal
import sys

from tiering.store import Store

stop = False


def _stop(*_: object) -> None:
    global stop
    stop = True


signal.signal(signal.SIGTERM, _stop)
store, ids = Store(sys.argv[1]), sys.argv[2:]
answers, months, failures, incomplete = 0, set(), [], 0
while not stop:
    try:
        month, _, rows = store.lines(ids)
        doc = store.thresholds(month)
        part = doc["partitions"][0]
        if len(rows) != len(ids) or len(part["thresholds"]) != 4 or len(part["tiers"]) != 5:
            incomplete += 1
        months.add(month)
        answers += 1
    except Exception as exc:  # noqa: BLE001 - every failure is what this test counts
        failures.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"answers": answers, "months": sorted(months), "failures": failures,
                  "incomplete": incomplete}))
