"""The ``tiering`` command line.

    tiering run --month 2026-11 --billing 'bills/*.parquet' --subscribers subs.csv
    tiering lookup 13800000009
    tiering thresholds --json
    tiering export --month 2026-11 --out tiers.parquet
    tiering deadline --tier 4 --class maintenance --opened 2026-10-01T17:30:00+08:00

Each command that prints data takes --json. Exit codes: 0 success, 1 not found, 2 bad input.
"""

from __future__ import annotations

import click

from tiering import __version__
from tiering.cli._rating import export_cmd, lookup_cmd, run_cmd, thresholds_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tiering")
def main() -> None:
    """Customer tiers and SLA deadlines for telecom operators.

    Monthly: rate every line from the billing extract (`tiering run`), then look lines up,
    print the cut points or export the month. Work orders: compute deadlines and status
    (`tiering deadline`, `tiering sla`). Results live in one embedded DuckDB file
    (--store, default ./tiering.duckdb).
    """


main.add_command(run_cmd)
main.add_command(lookup_cmd)
main.add_command(thresholds_cmd)
main.add_command(export_cmd)

try:
    from tiering.cli._sla import deadline_cmd, sla_cmd
except ImportError:  # pragma: no cover - the SLA commands land with the SLA engine
    pass
else:
    main.add_command(deadline_cmd)
    main.add_command(sla_cmd)
