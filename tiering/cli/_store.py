"""``tiering upgrade``: the store's own upkeep."""

from __future__ import annotations

from pathlib import Path

import click

from tiering.cli._common import handle_errors, json_option, plural, print_json
from tiering.cli._rating import store_option


@click.command("upgrade")
@store_option
@json_option
@handle_errors
def upgrade_cmd(store_path: str, as_json: bool) -> None:
    """Upgrade a tiering 0.1 store (every month in one DuckDB file) to this version's store
    (a catalog and one set of Parquet files per month), in place.

    The old file is kept as STORE.0.1 until you remove it. 0.1 did not keep the per-line
    rating facts, so `tiering simulate` needs a re-run of an upgraded month; every other
    command reads it as before.

    \b
    Example:
      tiering upgrade --store tiering.duckdb
    """
    import os

    from tiering.store.upgrade import upgrade

    months, kept = upgrade(Path(os.path.realpath(store_path)))
    if as_json:
        print_json({"store": store_path, "months": months, "kept": str(kept)})
    else:
        click.echo(f"upgraded {store_path}: {plural(len(months), 'month')} "
                   f"({', '.join(months) or 'none'}); the old file is kept as {kept}")
