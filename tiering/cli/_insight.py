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


# --- explain -----------------------------------------------------------------------------


@click.command("explain")
@click.argument("subscriber_id", metavar="ID")
@month_option
@click.option("--at", "at_date", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Date for overrides' validity (default: today).")
@click.option("--billing", metavar="PATH_OR_GLOB",
              help="The billing extract: also list the line's bills per month of the window.")
@click.option("--amount-unit", type=click.Choice(["yuan", "fen"]), default="yuan",
              show_default=True, help="Unit of the extract's amount column.")
@store_option
@json_option
@handle_errors
def explain_cmd(subscriber_id: str, month: str | None, at_date: Any, billing: str | None,
                amount_unit: str, store_path: str, as_json: bool) -> None:
    """One line's rating step by step, from the facts its month stored.

    The window and its sum in fen, the ARPU with its rounding (half away from zero), the
    tenure band and coefficient, the score, the partition's cut points, the ARPU per month
    the next tier up needs, the effective tier and where it comes from, and what changed
    since the previous stored month (with the reason, as `tiering diff` gives it).

    \b
    Examples:
      tiering explain 13800000009
      tiering explain 13800000006 --month 2026-11 --billing fixtures/small/billing.csv --json
    """
    from datetime import date

    from tiering.cli._rating import _describe
    from tiering.errors import NotFound
    from tiering.insight import explain, stored

    at = at_date.date() if at_date else date.today()
    store = Store(store_path)
    with store.reader() as reader:
        month, policy, (row,) = reader.lines([subscriber_id], month=month, at=at)
        doc_now = reader.thresholds(month)
        part = {p["partition"]: p for p in doc_now["partitions"]}.get(row["partition"])
        answer = explain.explain(row, month, policy, part)
        described = _describe(row, month, at, policy, part)
        answer["effective"] = {"tier": described["effective_tier"], "on": at.isoformat(),
                               "why": described["effective_tier_why"]}
        answer["previous"] = None
        before = stored.previous_month(store, month)
        if before is not None:
            try:
                _, _, (old,) = reader.lines([subscriber_id], month=before,
                                            at=stored.first_day(before))
            except NotFound:
                old = None
            if old is not None:
                _, _, (new,) = reader.lines([subscriber_id], month=month,
                                            at=stored.first_day(month))
                answer["previous"] = explain.change(
                    stored.line_frame(old, reader.run_record(before)["unrated_service_tier"]),
                    stored.line_frame(new, reader.run_record(month)["unrated_service_tier"]),
                    reader.thresholds(before), doc_now)
            else:
                answer["previous"] = {"month": before, "move_reason": None, "then": None,
                                      "now": None}
    answer["bills"] = None
    if billing is not None and answer["window"] is not None:
        from tiering.insight.bills import line_bills
        from tiering.months import parse_month

        w = answer["window"]
        found = line_bills(billing, subscriber_id, parse_month(w["first"]),
                           parse_month(w["last"]), amount_unit)
        answer["bills"] = explain.bills_by_month(found, w["first"], w["last"])
    if as_json:
        print_json(answer)
        return
    _echo_explain(answer)


def _echo_explain(a: dict[str, Any]) -> None:
    click.echo(f"subscriber {a['subscriber_id']}  (customer {a['customer_id'] or '-'}, "
               f"month {a['month']}, partition {a['partition']})")
    w = a["window"]
    if w is not None:
        click.echo(f"  window       {w['first']} .. {w['last']}: {plural(w['months'], 'month')}, "
                   f"{plural(w['rows'], 'billing row')}, sum {w['sum_fen']:,} fen")
    for b in a["bills"] or []:
        click.echo(f"    {b['month']}  {b['amount_yuan']:>12} yuan  ({plural(b['rows'], 'row')})")
    if not a["rated"]:
        click.echo(f"  unrated      {a['reason']}: {a['reason_text']} "
                   f"(tenure {plural(a['tenure_months'], 'month')})")
    else:
        r, band, s = a["arpu"], a["tenure_band"], a["score"]
        click.echo(f"  ARPU         {r['sum_fen']:,} fen / (100 x {r['months']}) = {r['exact']} "
                   f"-> {r['rounded']} yuan ({r['rule']})")
        upper = "open-ended" if band["to"] is None else f"to {band['to']}"
        click.echo(f"  tenure       {a['tenure_months']} months: band from {band['from']} "
                   f"{upper}, coefficient {band['coefficient']}")
        click.echo(f"  score        max({r['rounded']}, 0) x {s['coefficient']} = {s['score']}")
        click.echo(f"  tier         {_stars(a['tier'])}")
    if a["thresholds"]:
        click.echo("  cut points   " + ", ".join(
            f"{t['tier']}-star >= {t['rounded']}" for t in a["thresholds"]))
    nt = a["next_tier"]
    if nt is not None:
        click.echo(f"  next tier up {nt['tier']}-star needs score {nt['cut_point']}: ARPU "
                   f"{nt['arpu_needed']} yuan per month (+{nt['arpu_increase']})")
    e = a["effective"]
    click.echo(f"  effective    {_stars(e['tier'])} on {e['on']}: {'; '.join(e['why'])}")
    p = a["previous"]
    if p is None:
        click.echo("  previous     no earlier month stored")
    elif p["then"] is None:
        click.echo(f"  previous     not in {p['month']} (a new line)")
    else:
        then, now = p["then"], p["now"]
        changed = [k for k in then if then[k] != now[k]]
        click.echo(f"  since {p['month']}: " + (", ".join(
            f"{k} {then[k]} -> {now[k]}" for k in changed) or "nothing changed")
            + (f"; moved because of {p['move_reason']}" if p["move_reason"] else ""))


# --- simulate ----------------------------------------------------------------------------


@click.command("simulate")
@month_option
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False),
              metavar="NEW.toml", help="The policy to rate the month under.")
@store_option
@json_option
@handle_errors
def simulate_cmd(month: str | None, policy_path: str, store_path: str, as_json: bool) -> None:
    """Re-rate a stored month under another policy, writing nothing.

    Reads the per-line facts the month stored (no billing extract) and applies the rules of
    a run under NEW.toml: new cut points and shares, the migration matrix current ->
    simulated, and the SLA workload (lines per service tier x target per class; manual
    overrides left out).

    \b
    Example:
      tiering simulate --month 2026-11 --policy operator_policy.toml --json
    """
    from tiering.insight.simulate import simulate
    from tiering.policy import load_policy

    new = load_policy(policy_path)
    store = Store(store_path)
    with store.reader() as reader:
        month = reader.resolve_month(month)
        now = reader.policy(month)
        doc_now = reader.thresholds(month)
    doc = simulate(store.month_lines(month), month, now, new, doc_now)
    doc["policy"] = policy_path
    if as_json:
        print_json(doc)
        return
    click.echo(f"month {month} under {policy_path} (nothing written)")
    click.echo("  current:")
    _echo_thresholds_short(doc["thresholds"]["current"])
    click.echo("  simulated:")
    _echo_thresholds_short(doc["thresholds"]["simulated"])
    _echo_matrix(doc["matrix"], "current", "simulated")
    m = doc["moves"]
    click.echo(f"  up {m['up']:,}, down {m['down']:,}, unchanged {m['unchanged']:,}, "
               f"became rated {m['rated']:,}, became unrated {m['unrated']:,}")
    for w in doc["workload"]:
        total_new = "-" if w["total_simulated"] is None else f"{w['total_simulated']:,}"
        click.echo(f"  SLA {w['class']}: {w['total_now']:,} -> {total_new} line-{w['unit']} ("
                   + ", ".join(f"{t['tier']}-star {t['lines_now']:,}x{t['target_now']} -> "
                               f"{t['lines_simulated']:,}x{t['target_simulated']}"
                               for t in w["tiers"]) + ")")


def _echo_thresholds_short(doc: dict[str, Any]) -> None:
    for p in doc["partitions"]:
        click.echo(f"    {p['partition']}: cut points " + (", ".join(
            f"{t['tier']}-star {t['rounded']}" for t in p["thresholds"]) or "none")
            + "; shares " + ", ".join(
            f"{t['tier']}-star {t['realised_share']:.2f}%" for t in p["tiers"]))


# --- report ------------------------------------------------------------------------------


@click.command("report")
@month_option
@click.option("--compare", "compare_month", type=MONTH,
              help="An earlier month: add the migration matrix from it as a heat map.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), metavar="FILE.html",
              help="The page to write (one file, every asset inline).")
@store_option
@json_option
@handle_errors
def report_cmd(month: str | None, compare_month: str | None, out: str, store_path: str,
               as_json: bool) -> None:
    """Write a month as one self-contained HTML page of charts.

    The score histogram with the cut points drawn on it, tier shares nominal vs realised
    per partition, unrated lines by reason, the migration matrix as a heat map with
    --compare, and the cut points per region when the policy splits by region. The page
    needs no network to view.

    \b
    Example:
      tiering report --month 2026-11 --compare 2026-10 --out report.html
    """
    from tiering.insight.report import render, report_data

    path = _out_path(out, (".html",))
    store = Store(store_path)
    with store.reader() as reader:
        month = reader.resolve_month(month)
        policy = reader.policy(month)
        doc = reader.thresholds(month)
        record = reader.run_record(month)
        earlier = None
        tiers = policy.rating.tiers
        if compare_month is not None:
            earlier_doc = reader.thresholds(compare_month)
            tiers = max(tiers, reader.policy(compare_month).rating.tiers)
    if compare_month is not None:
        earlier = (store.month_lines(compare_month), earlier_doc)
    data = report_data(store.month_lines(month), doc, record, policy.rating.round_to, tiers,
                       earlier)
    page = render(data)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"--out {out}: cannot write: {exc.strerror}") from None
    if as_json:
        print_json({"month": month, "compare": compare_month, "out": out,
                    "bytes": len(page.encode())})
    else:
        click.echo(f"wrote the report of {month}"
                   + (f" compared with {compare_month}" if compare_month else "")
                   + f" to {out}")
