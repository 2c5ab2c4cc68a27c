"""The ``tiering`` command line.

    tiering run --month 2026-11 --billing 'bills/*.parquet' --subscribers subs.csv
    tiering lookup 13800000009
    tiering thresholds --json
    tiering export --month 2026-11 --out tiers.parquet
    tiering deadline --tier 4 --class maintenance --opened 2026-10-01T17:30:00+08:00

Each command that prints data takes --json. Exit codes: 0 success, 1 not found, 2 bad input.

A command's module is imported only when that command runs (or when help lists it), so
``tiering lookup`` loads the store and DuckDB but not the SLA engine, and ``tiering deadline``
loads neither DuckDB nor the store. Heavy modules (polars, pyarrow, numpy, holidays) are
imported inside the command functions that use them, never at module import.
"""

from __future__ import annotations

from importlib import import_module

import click

from tiering import __version__

COMMANDS = {
    "run": "tiering.cli._rating:run_cmd",
    "lookup": "tiering.cli._rating:lookup_cmd",
    "thresholds": "tiering.cli._rating:thresholds_cmd",
    "export": "tiering.cli._rating:export_cmd",
    "deadline": "tiering.cli._sla:deadline_cmd",
    "sla": "tiering.cli._sla:sla_cmd",
    "calendar": "tiering.cli._sla:calendar_cmd",
    "months": "tiering.cli._insight:months_cmd",
    "runs": "tiering.cli._insight:runs_group",
    "delete": "tiering.cli._insight:delete_cmd",
    "explain": "tiering.cli._insight:explain_cmd",
    "diff": "tiering.cli._insight:diff_cmd",
    "simulate": "tiering.cli._insight:simulate_cmd",
    "report": "tiering.cli._insight:report_cmd",
    "upgrade": "tiering.cli._store:upgrade_cmd",
}


class LazyGroup(click.Group):
    """A group whose commands are ``module:attribute`` names, imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy[cmd_name].partition(":")
        try:
            command: click.Command = getattr(import_module(module), attribute)
        except ImportError as exc:  # run from a checkout without the dependencies
            return _missing(cmd_name, exc)
        self.add_command(command, cmd_name)
        return command


INSTALL = "pip install -e .  (in a checkout; or: pip install tiering)"


def _missing(name: str, exc: ImportError) -> click.Command:
    """A stand-in for a command whose module cannot be imported: says what is missing and
    how to install it, and exits 2."""
    def fail() -> None:
        click.echo(f"error: `tiering {name}` needs the package {exc.name or exc}, which is not "
                   f"installed. Install tiering with its dependencies: {INSTALL}", err=True)
        raise SystemExit(2)

    return click.Command(name, callback=fail, help=f"(not available: {exc.name} missing)",
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True})


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tiering")
def main() -> None:
    """Customer tiers and SLA deadlines for telecom operators.

    Monthly: rate every line from the billing extract (`tiering run`), then look lines up,
    print the cut points or export the month. Work orders: compute deadlines and status
    (`tiering deadline`, `tiering sla`). Results live in one embedded DuckDB file
    (--store, default ./tiering.duckdb). Analysts: `tiering explain`, `diff`, `simulate`,
    `report`; the store's months: `tiering months`, `runs show`, `delete`.

    The rules (eligibility and reason codes, ARPU, coefficient, score, cut points, tiers,
    highest applies, SLA) are written out in docs/rules.md of the repository.
    """
