"""Commands for analysts and agents: months, runs, delete, explain, diff, simulate, report.

Each parses its options, calls tiering.insight and prints; the rules are not here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tiering.cli._common import MONTH, handle_errors, json_option, month_option, plural, print_json
from tiering.cli._rating import _stars, store_option
from tiering.errors import InputError
from tiering.store import Store


def _out_path(out: str, suffixes: tuple[str, ...]) -> Path:
    """An output file of one of ``suffixes``, its folder created (as ``run`` creates the
    store's); exit 2 when neither works."""
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"--out {out}: expected a {' or '.join(suffixes)} file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the folder: {exc.strerror}") from None
    return path


def _write_frame(frame: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.suffix.lower() == ".parquet":
            frame.write_parquet(tmp)
        else:
            frame.write_csv(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"--out {path}: cannot write: {exc.strerror}") from None


# --- the store's months ------------------------------------------------------------------


@click.command("months")
@store_option
@json_option
@handle_errors
def months_cmd(store_path: str, as_json: bool) -> None:
    """List the stored months: when each was rated, its lines, rated lines, policy
    fingerprint and input digests.

    \b
    Example:
      tiering months --json
    """
    from tiering.insight.stored import month_summary

    store = Store(store_path)
    rows = [month_summary(store.run_record(m)) for m in store.months()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"the store {store_path} holds no rated month yet")
    for r in rows:
        click.echo(f"{r['month']}  rated {r['run_at']:%Y-%m-%d %H:%M} UTC  "
                   f"{plural(r['lines'], 'line')}, {r['rated']:,} rated  "
                   f"policy {r['policy_fingerprint'][:12]}  version {r['version']}")


@click.group("runs")
def runs_group() -> None:
    """Inspect the run record of a stored month."""


@runs_group.command("show")
@click.argument("month", type=MONTH)
@store_option
@json_option
@handle_errors
def runs_show_cmd(month: str, store_path: str, as_json: bool) -> None:
    """The run record of MONTH: when and with which version it was rated, the policy
    fingerprint, each input file's sha256, row counts, unrated lines by reason, timings.

    \b
    Example:
      tiering runs show 2026-11 --json
    """
    record = Store(store_path).run_record(month)
    if as_json:
        print_json(record)
        return
    click.echo(f"month {record['month']}: rated {record['run_at']:%Y-%m-%d %H:%M:%S} UTC by "
               f"tiering {record['version']}")
    click.echo(f"  policy fingerprint  {record['policy_fingerprint']}")
    click.echo(f"  unrated lines are served at tier {record['unrated_service_tier']}")
    for kind, files in record["inputs"].items():
        for name, digest in files.items():
            click.echo(f"  {kind:<12} {name}  sha256 {digest}")
    click.echo("  counts  " + ", ".join(f"{k} {v:,}" for k, v in record["counts"].items()))
    click.echo("  unrated " + ", ".join(f"{k} {v:,}" for k, v in record["unrated"].items()))
    click.echo("  timings " + ", ".join(f"{k} {v:.2f} s" for k, v in record["timings"].items()))


@click.command("delete")
@click.option("--month", required=True, type=MONTH, help="The month to remove.")
@click.option("--yes", is_flag=True, help="Do not ask (needed when stdin is not a terminal).")
@store_option
@json_option
@handle_errors
def delete_cmd(month: str, yes: bool, store_path: str, as_json: bool) -> None:
    """Remove a stored month (its lines, cut points, overrides and run record) in one atomic
    step. Asks first on a terminal; refuses without --yes when stdin is not one.

    \b
    Example:
      tiering delete --month 2026-10 --yes
    """
    store = Store(store_path)
    lines = store.run_record(month)["counts"]["subscribers"]  # NotFound lists the months
    if not yes:
        if not sys.stdin.isatty():
            raise InputError(f"deleting {month} needs --yes when stdin is not a terminal")
        if not click.confirm(f"delete month {month} ({plural(lines, 'line')}) from "
                             f"{store_path}?", default=False):
            click.echo("nothing deleted")
            sys.exit(1)
    store.delete_month(month)
    if as_json:
        print_json({"deleted": month, "lines": lines, "store": store_path,
                    "months": store.months()})
    else:
        click.echo(f"deleted month {month} ({plural(lines, 'line')}) from {store_path}")


# --- diff --------------------------------------------------------------------------------


@click.command("diff")
@click.option("--from", "from_month", required=True, type=MONTH, help="The earlier month.")
@click.option("--to", "to_month", required=True, type=MONTH, help="The later month.")
@click.option("--out", type=click.Path(dir_okay=False), metavar="FILE.csv|FILE.parquet",
              help="Write every line that moved, with the reason it moved.")
@store_option
@json_option
@handle_errors
def diff_cmd(from_month: str, to_month: str, out: str | None, store_path: str,
             as_json: bool) -> None:
    """Who moved between two months, and why.

    Prints the migration matrix (tier in --from x tier in --to, unrated as its own row and
    column), moves up and down, lines new and gone, and the cut points then and now. With
    --out, every line that moved, with the first reason that explains it: arpu, tenure_band,
    cut_point, eligibility, override (docs/rules.md defines them). Effective tiers are read
    on the first day of each month.

    \b
    Example:
      tiering diff --from 2026-10 --to 2026-11 --out moved.csv
    """
    from tiering.insight import diff, stored

    path = _out_path(out, (".csv", ".parquet")) if out else None
    store = Store(store_path)
    doc_from, doc_to = store.thresholds(from_month), store.thresholds(to_month)
    before = stored.month_with_service(store, from_month)
    after = stored.month_with_service(store, to_month)
    tiers = max(stored.tiers_of(store, from_month), stored.tiers_of(store, to_month))
    doc, moved = diff.compare(before, after, doc_from, doc_to, tiers)
    if path is not None:
        _write_frame(moved, path)
    doc["out"] = out
    if as_json:
        print_json(doc)
        return
    click.echo(f"from {from_month} to {to_month}: {plural(doc['lines_in_both'], 'line')} in "
               f"both, {doc['new']:,} new, {doc['gone']:,} gone")
    _echo_matrix(doc["matrix"], from_month, to_month)
    m = doc["moves"]
    click.echo(f"  up {m['up']:,}, down {m['down']:,}, unchanged {m['unchanged']:,}, "
               f"became rated {m['rated']:,}, became unrated {m['unrated']:,}")
    click.echo(f"  {plural(doc['moved'], 'line')} moved: " + ", ".join(
        f"{r} {n:,}" for r, n in doc["reasons"].items()))
    _echo_cuts(doc_from, doc_to)
    if out:
        click.echo(f"wrote {plural(doc['moved'], 'moved line')} to {out}")


def _tier_label(tier: int | None) -> str:
    return "unrated" if tier is None else f"{tier}-star"


def _echo_matrix(cells: list[dict[str, Any]], rows_name: str, columns_name: str) -> None:
    axis = list(dict.fromkeys(c["to_tier"] for c in cells))
    counts = {(c["from_tier"], c["to_tier"]): c["count"] for c in cells}
    width = max(9, *(len(f"{c['count']:,}") + 2 for c in cells))
    corner = f"{rows_name} \\ {columns_name}"
    click.echo(f"  {corner:<20}"
               + "".join(f"{_tier_label(t):>{width}}" for t in axis))
    for f in axis:
        click.echo(f"  {_tier_label(f):<20}" + "".join(
            f"{counts[(f, t)]:>{width},}" for t in axis))


def _echo_cuts(doc_from: dict[str, Any], doc_to: dict[str, Any]) -> None:
    then = {p["partition"]: p for p in doc_from["partitions"]}
    for p in doc_to["partitions"]:
        old = then.get(p["partition"], {"thresholds": []})
        before = {t["tier"]: t["rounded"] for t in old["thresholds"]}
        click.echo(f"  cut points of {p['partition']}: " + ", ".join(
            f"{t['tier']}-star {before.get(t['tier'], '-')} -> {t['rounded']}"
            for t in p["thresholds"]))
