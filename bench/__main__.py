"""``python -m bench run|lookup --subscribers N`` and ``python -m bench sla``: see the
package docstring."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bench import history, lookup, machine, rating, report
from bench.extract import DEFAULT_DATA_DIR, MONTH, Extract, ensure_extract, warm_page_cache
from bench.measure import ChildFailed
from fixtures.generate import AMOUNTS, IDS, MONTHS, Shape


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = ap.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="time the monthly rating against a floor and an anchor")
    run.add_argument("--repeat", type=int, default=3, help="rounds; the best wall time counts")
    run.add_argument("--memory", action="append", default=[], metavar="SIZE",
                     help="add `tiering run --memory SIZE` (repeatable): a month beyond the "
                          "budget is rated in parts")
    run.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                     help="spark: add the Spark session start-up and tiering run --engine "
                          "spark on local[2] (needs the spark extra)")
    look = commands.add_parser("lookup", help="time look-ups in the CLI and the library")
    look.add_argument("--store", type=Path,
                      help="an existing store of this extract (default: rate one, untimed)")
    look.add_argument("--parts", type=int, default=1,
                      help="rewrite each month as this many files (ids hash-partitioned, each "
                           "file in id order), as the partitioned engine writes one (untimed)")
    commands.add_parser("sla", help="time SLA deadlines: scalar calls and the vectorized path")
    hist = commands.add_parser("history", help="twelve months into one store, then re-runs: "
                               "bytes written, time and size per run")
    for cmd in (run, look, hist):
        cmd.add_argument("--subscribers", type=int, required=True)
        cmd.add_argument("--seed", type=int, default=7)
        cmd.add_argument("--sorted-ids", action="store_true",
                         help="billing rows in id order (default: bill order, ids scattered)")
        cmd.add_argument("--ids", choices=IDS, default="text",
                         help="subscriber and customer ids as text or BIGINT (join dates DATE)")
        cmd.add_argument("--months", choices=MONTHS, default="text",
                         help="bill_month as text 2026-11, integer 202611 or a date")
        cmd.add_argument("--amounts", choices=AMOUNTS, default="decimal",
                         help="amount as DECIMAL(14,2), DOUBLE or text")
        cmd.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                         help="where generated extracts are kept and reused")
        cmd.add_argument("--json", action="store_true", help="print one JSON document")
    return ap.parse_args(argv)


def describe_extract(extract: Extract, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "subscribers": args.subscribers, "seed": args.seed, "sorted_ids": args.sorted_ids,
        "shape": {"ids": args.ids, "months": args.months, "amounts": args.amounts},
        "month": MONTH, "billing_rows": pq.ParquetFile(extract.billing).metadata.num_rows,
        "billing_bytes": extract.billing.stat().st_size, "path": str(extract.directory),
    }


def run_doc(extract: Extract, args: argparse.Namespace) -> dict[str, Any]:
    series = rating.measure(extract, args.repeat, args.engine, args.memory)
    return {"command": "run", "repeat": args.repeat, "engine": args.engine,
            "memory": args.memory, "extract": describe_extract(extract, args),
            "machine": machine.describe(), "results": rating.results(series),
            "agreement": rating.agreement(series)}


def lookup_doc(extract: Extract, args: argparse.Namespace) -> dict[str, Any]:
    with lookup.store_for(extract, args.store) as rated, lookup.in_parts(rated, args.parts
                                                                         ) as store:
        figures = lookup.measure(extract, store, args.seed)
    return {"command": "lookup", "extract": describe_extract(extract, args),
            "machine": machine.describe(), "parts": args.parts, **figures}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "sla":
        # Its own process: polars must start pinned to one thread, before anything imports it.
        import subprocess

        return subprocess.call([sys.executable, "-m", "bench.sla_bench"])
    print(f"extract: {args.subscribers:,} subscribers, seed {args.seed} "
          f"(generated once under {args.data_dir})", file=sys.stderr)
    extract = ensure_extract(args.subscribers, args.seed, args.sorted_ids, args.data_dir,
                             Shape(args.ids, args.months, args.amounts))
    warm_page_cache(extract)
    try:
        if args.command == "history":
            doc = {"command": "history", "extract": describe_extract(extract, args),
                   "machine": machine.describe(), **history.measure(extract)}
        else:
            doc = run_doc(extract, args) if args.command == "run" else lookup_doc(extract, args)
    except ChildFailed as exc:
        print(f"a benchmark process failed: {exc}", file=sys.stderr)
        return 2
    text = {"run": report.run_text, "lookup": report.lookup_text,
            "history": history.text}[args.command](doc)
    print(json.dumps(doc, indent=2) if args.json else text)
    if args.command == "run" and not doc["agreement"]["ok"]:
        print("the anchor and the engine disagree:\n  "
              + "\n  ".join(doc["agreement"]["differences"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
