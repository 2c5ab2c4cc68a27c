"""Commands of the monthly rating: run, lookup, thresholds, export."""

from __future__ import annotations

import sys
import time
import warnings
from datetime import date
from typing import Any

import click

from tiering.cli._common import (MONTH, handle_errors, json_option, month_option, plural,
                                 print_json, stored_month_done)
from tiering.privacy import mask_id
from tiering.store import DEFAULT_STORE, Store

store_option = click.option(
    "--store", "store_path", default=DEFAULT_STORE, show_default=True,
    type=click.Path(dir_okay=False), help="The DuckDB file holding the rated months.")
STARS = "★"


def _stars(tier: int | None, tiers: int = 5) -> str:
    return "unrated" if tier is None else f"{STARS * tier}{'☆' * (tiers - tier)} ({tier})"


@click.command("run")
@click.option("--month", required=True, type=MONTH,
              help="The rating month M; the ARPU window is M-12 .. M-1.")
@click.option("--billing", required=True, multiple=True, metavar="PATH_OR_GLOB",
              help="Billing extract: CSV or Parquet with subscriber_id,bill_month,amount. "
                   "A glob ('bills/*.parquet') or the option repeated reads many files.")
@click.option("--subscribers", required=True, metavar="PATH",
              help="Subscribers: subscriber_id,join_date,status[,customer_id,line_type,region,"
                   "billed_in_month].")
@click.option("--overrides", metavar="PATH",
              help="Manual tiers (VIP lists): subscriber_id or customer_id, tier, valid_from, "
                   "valid_to, reason.")
@click.option("--policy", "policy_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="Policy TOML (default: the shipped SPEC defaults).")
@click.option("--amount-unit", type=click.Choice(["yuan", "fen"]), default="yuan",
              show_default=True, help="Unit of the amount column; fen means integer fen.")
@click.option("--column", "column_map", multiple=True, metavar="OURS=THEIRS",
              help="Map a column name, e.g. --column subscriber_id=MSISDN (repeatable).")
@click.option("--encoding", type=click.Choice(["utf-8", "utf-8-sig", "gb18030", "gbk"],
                                              case_sensitive=False),
              default="utf-8", show_default=True,
              help="Encoding of every CSV input (gbk is read as gb18030, which contains it; "
                   "a UTF-8 byte-order mark is skipped).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]),
              help="Field delimiter of every CSV input (default: read from each header line: "
                   "the first of ',', tab, ';' in it).")
@click.option("--memory", metavar="SIZE",
              help="Memory budget of the run, e.g. 2GB or 1536MiB (default: a quarter of "
                   "this machine's or container's memory). A month whose lines do not fit is "
                   "rated in parts of whole customers, with its work files beside the store.")
@click.option("--parts", type=click.IntRange(1, 4096), metavar="N",
              help="Rate in N parts of whole customers whatever the budget (1: in memory); "
                   "the lines are the same either way.")
@click.option("--engine", type=click.Choice(["embedded", "spark"]), default="embedded",
              show_default=True, help="embedded: DuckDB and polars on this machine; spark: "
              "a Spark cluster (pip install 'tiering[spark]'), inputs may be table names.")
@click.option("--master", default="local[2]", show_default=True,
              help="With --engine spark: the Spark master (local[N], yarn, spark://...).")
@click.option("--spark-conf", multiple=True, metavar="KEY=VALUE",
              help="With --engine spark: a Spark setting (repeatable).")
@click.option("--out", metavar="DIR",
              help="With --engine spark: write the month as a Parquet directory.")
@store_option
@json_option
@handle_errors
def run_cmd(month: str, billing: tuple[str, ...], subscribers: str, overrides: str | None,
            policy_path: str | None, amount_unit: str, column_map: tuple[str, ...],
            encoding: str, delimiter: str | None, memory: str | None, parts: int | None,
            engine: str, master: str,
            spark_conf: tuple[str, ...], out: str | None, store_path: str,
            as_json: bool) -> None:
    """Rate every subscriber for a month and store the result.

    Reads the billing extract and the subscriber list, computes each line's composite value
    score, the five-star cut points and the tiers, and replaces MONTH in the store in one
    step (a failed run leaves the store as it was).

    \b
    Example:
      tiering run --month 2026-11 --billing 'extract/bill_*.parquet' \\
                  --subscribers extract/subscribers.csv --overrides vip.csv
      tiering run --engine spark --master local[2] --month 2026-11 \\
                  --billing dw.billing --subscribers dw.subscribers --out tiers/2026-11
    """
    from tiering import __version__
    from tiering.engine import rate
    from tiering.errors import InputError, InputWarning
    from tiering.policy import load_policy

    columns = _pairs(column_map, "--column", "OURS=THEIRS")
    if engine == "spark":
        from tiering.cli._spark import run_spark

        run_spark(month, billing, subscribers, overrides, policy_path, amount_unit, columns,
                  master, _pairs(spark_conf, "--spark-conf", "KEY=VALUE"), out, store_path,
                  as_json)
        return
    if out is not None:
        raise InputError("--out is for --engine spark; the embedded engine writes the store "
                         "(tiering export writes files)")
    started = time.perf_counter()
    tty = sys.stderr.isatty() and not as_json

    def progress(step: str) -> None:
        if tty:
            click.echo(f"  {time.perf_counter() - started:6.1f}s  {step}...", err=True)

    policy = load_policy(policy_path)
    store = Store(store_path)
    store.check_writable()  # a bad store fails now, not after the rating
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", InputWarning)
        result = rate(month, list(billing), subscribers, overrides=overrides, policy=policy,
                      amount_unit=amount_unit, columns=columns, progress=progress,
                      encoding=encoding, delimiter="\t" if delimiter == "tab" else delimiter,
                      memory=memory, workdir=store.nearest_folder(), parts=parts)
    for w in warned:  # loud: on stderr before the summary, in --json mode too
        if issubclass(w.category, InputWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    progress("writing the store")
    store.write_month(result, __version__)
    stored_month_done()  # the month is stored: the summary is not cut short by a signal
    elapsed = round(time.perf_counter() - started, 3)
    thresholds = store.thresholds(result.month)
    if as_json:
        print_json({"month": result.month, "store": store_path, "counts": result.counts,
                    "unrated": result.unrated, "seconds": elapsed, **thresholds})
        return
    click.echo(f"rated month {result.month} into {store_path} in {elapsed:.1f} s")
    _echo_counts(result.counts, result.unrated, policy)
    _echo_thresholds(thresholds)
    if any(p["thresholds"] for p in thresholds["partitions"]):
        click.echo(f"  realised shares differ from nominal ones because cut points are rounded "
                   f"to multiples of {policy.rating.round_to} points (lines on a cut point go up)")


def _pairs(items: tuple[str, ...], option: str, shape: str) -> dict[str, str]:
    """``A=B`` options as a mapping."""
    from tiering.errors import InputError

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"{option}: expected {shape}, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _echo_counts(c: dict[str, int], unrated: dict[str, int], policy: Any) -> None:
    from tiering.score import reason_text

    click.echo(f"  subscribers {c['subscribers']:,}: rated {c['rated']:,}, unrated "
               f"{c['subscribers'] - c['rated']:,}")
    for code, n in unrated.items():
        if n:
            click.echo(f"    {code:<12} {plural(n, 'line'):>12}: "
                       f"{reason_text(code, policy.rating)}")
    click.echo(f"  billing rows {c['billing_rows']:,}: outside the window "
               f"{c['outside_window_rows']:,}, unknown subscribers "
               f"{c['unknown_subscriber_rows']:,}; overrides {c['overrides']:,}")


def _echo_thresholds(doc: dict[str, Any]) -> None:
    for p in doc["partitions"]:
        click.echo(f"  partition {p['partition']}: {plural(p['rated'], 'rated line')}")
        if not p["thresholds"]:
            click.echo("    no cut points (no rated line): every line is unrated")
        for t in p["thresholds"]:
            raw = f"raw {t['raw']} at rank {t['rank']:,}" if t["raw"] is not None else "fixed"
            click.echo(f"    {t['tier']}-star from {t['rounded']:>6}  ({raw}, top "
                       f"{t['cumulative_share']}%)")
        for t in p["tiers"]:
            click.echo(f"    {t['tier']}-star {plural(t['count'], 'line'):>14}  "
                       f"{t['realised_share']:6.2f}% "
                       f"(nominal {t['nominal_share']}%)")


@click.command("lookup")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--customer", is_flag=True, help="IDs are customer ids: show all their lines.")
@click.option("--at", "at_date", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Date for overrides' validity (default: today).")
@click.option("--mask", is_flag=True,
              help="Star the middle of subscriber ids in the answer (138****8000).")
@month_option
@store_option
@json_option
@handle_errors
def lookup_cmd(ids: tuple[str, ...], customer: bool, at_date: Any, mask: bool,
               month: str | None, store_path: str, as_json: bool) -> None:
    """Show one subscriber's tier and how it was made.

    Prints the tier, the effective tier that drives service and why (highest of own tier,
    the customer's other lines and manual overrides), the score with its ARPU, window,
    tenure and coefficient, the cut points of its partition, the distance to the next tier
    up, and its SLA targets per issue class. Exit code 1 when the id is not in the store.

    \b
    Examples:
      tiering lookup 13800000009
      tiering lookup C100 --customer --month 2026-11 --json
    """
    at = at_date.date() if at_date else date.today()
    with Store(store_path).reader() as reader:  # one open of the file for both reads
        month, policy, rows = reader.lines(list(ids), month=month, customer=customer, at=at)
        doc = reader.thresholds(month)
    by_partition = {p["partition"]: p for p in doc["partitions"]}
    answers = [_describe(r, month, at, policy, by_partition.get(r["partition"])) for r in rows]
    found = {r["customer_id" if customer else "subscriber_id"] for r in rows}
    asked = list(dict.fromkeys(ids))
    missing = [i for i in asked if i not in found]
    if mask:
        answers = [a | {"subscriber_id": mask_id(a["subscriber_id"])} for a in answers]
    if as_json:
        # One id: an object; several ids (or customers): always a list, however many found.
        print_json(answers[0] if len(asked) == 1 and not customer else answers)
    else:
        for a in answers:
            _echo_line(a)
    if missing:
        shown = ", ".join(i if customer else mask_id(i) for i in missing)
        what = "customer" if customer else "subscriber"
        click.echo(f"error: not in month {month} of {store_path}: {what} {shown}", err=True)
        sys.exit(1)


def _describe(row: dict[str, Any], month: str, at: date, policy: Any,
              partition: dict[str, Any] | None) -> dict[str, Any]:
    eff = row["effective"]
    bounds = partition["thresholds"] if partition else []
    tier = row["tier"]
    above = [t for t in bounds if tier is not None and t["tier"] == tier + 1]
    distance = (f"{above[0]['rounded'] - row['score']:.2f}" if above else None)
    why = []
    if eff.own_tier is not None and eff.tier == eff.own_tier:
        why.append("own tier")
    if eff.customer_tier is not None and eff.tier == eff.customer_tier and (
            eff.own_tier is None or eff.customer_tier > eff.own_tier):
        why.append(f"customer {row['customer_id']}'s best line")
    if eff.override_tier is not None and eff.tier == eff.override_tier:
        why.append(f"override: {eff.override_reason or 'no reason given'}")
    if eff.default_used:
        why.append("unrated: served at the policy's unrated_service_tier")
    sla = {name: {"target": c.target(eff.tier), "unit": c.unit, "clock": c.clock}
           for name, c in policy.sla.classes.items()}
    return {
        "subscriber_id": row["subscriber_id"], "customer_id": row["customer_id"],
        "month": month, "region": row["region"], "partition": row["partition"],
        "tier": tier, "effective_tier": eff.tier, "effective_tier_why": why,
        "effective_on": at.isoformat(), "override_tier": eff.override_tier,
        "customer_tier": eff.customer_tier,
        "score": None if row["score"] is None else f"{row['score']:.2f}",
        "arpu_yuan": row["arpu_yuan"], "arpu_score": row["arpu_score"],
        "window_months": row["window_months"], "tenure_months": row["tenure_months"],
        "coefficient": None if row["coefficient"] is None else f"{row['coefficient']:.2f}",
        "reason": row["reason"], "thresholds": bounds, "distance_to_next_tier": distance,
        "next_tier": above[0]["tier"] if above else None, "sla_targets": sla,
    }


def _echo_line(a: dict[str, Any]) -> None:
    click.echo(f"subscriber {a['subscriber_id']}  (customer {a['customer_id'] or '-'}, "
               f"month {a['month']}, partition {a['partition']})")
    click.echo(f"  tier            {_stars(a['tier'])}"
               + (f"  reason: {a['reason']}" if a["reason"] else ""))
    click.echo(f"  effective tier  {_stars(a['effective_tier'])}  on {a['effective_on']}: "
               f"{'; '.join(a['effective_tier_why'])}")
    if a["score"] is not None:
        click.echo(f"  score           {a['score']} = ARPU score {a['arpu_score']} "
                   f"(ARPU {a['arpu_yuan']} yuan over {a['window_months']} months) x "
                   f"{a['coefficient']} (tenure {a['tenure_months']} months)")
    else:
        click.echo(f"  score           none (tenure {a['tenure_months']} months)")
    if a["thresholds"]:
        click.echo("  cut points      " + ", ".join(
            f"{t['tier']}-star >= {t['rounded']}" for t in a["thresholds"]))
    if a["distance_to_next_tier"] is not None:
        click.echo(f"  next tier up    {a['distance_to_next_tier']} points to "
                   f"{a['next_tier']}-star")
    click.echo("  SLA targets     " + ", ".join(
        f"{name} {t['target']} {t['unit']}" for name, t in a["sla_targets"].items()))


@click.command("thresholds")
@month_option
@store_option
@json_option
@handle_errors
def thresholds_cmd(month: str | None, store_path: str, as_json: bool) -> None:
    """Print a month's cut points (raw and rounded) and the realised share of each tier.

    \b
    Example:
      tiering thresholds --month 2026-11 --json
    """
    doc = Store(store_path).thresholds(month)
    if as_json:
        print_json(doc)
        return
    click.echo(f"month {doc['month']}")
    _echo_thresholds(doc)


@click.command("export")
@month_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output file: .parquet or .csv.")
@click.option("--mask", is_flag=True,
              help="Star the middle of subscriber ids (138****8000): they are personal data.")
@click.option("--with", "extra", type=click.Choice(["month", "effective_tier"]),
              multiple=True, help="Add a column: the month (first) or each line's effective "
              "tier, highest applies, on --at (last). Repeat for both.")
@click.option("--at", "at_date", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Date of the effective tier (default: the month's first day; it must lie "
                   "in the month).")
@store_option
@json_option
@handle_errors
def export_cmd(month: str | None, out: str, mask: bool, extra: tuple[str, ...],
               at_date: Any, store_path: str, as_json: bool) -> None:
    """Write a month's per-subscriber rows (the SPEC section 7 columns) to Parquet or CSV.

    \b
    Example:
      tiering export --month 2026-11 --out tiers-2026-11.parquet
      tiering export --month 2026-11 --with month --with effective_tier --out t.csv
    """
    from pathlib import Path

    from tiering.errors import InputError

    try:  # as `run` creates the store's folder
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the folder: {exc.strerror}") from None
    store = Store(store_path)
    on = None
    if "effective_tier" in extra:
        from datetime import date

        month = store.run_record(month)["month"]
        first = date.fromisoformat(f"{month}-01")
        on = at_date.date() if at_date else first
        if (on.year, on.month) != (first.year, first.month):
            raise InputError(f"--at {on}: not in the exported month {month}")
    month, rows = store.export(out, month, mask=mask, with_month="month" in extra,
                               effective_on=on)
    if as_json:
        print_json({"month": month, "out": out, "rows": rows})
    else:
        click.echo(f"wrote {rows:,} rows of {month} to {out}")
