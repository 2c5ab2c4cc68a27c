"""`tiering deadline` (one ticket) and `tiering sla` (a file of tickets): SPEC section 6."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from tiering.cli._common import handle_errors, json_option, print_json
from tiering.errors import InputError

ISO_EXAMPLE = "2026-10-01T17:30:00+08:00"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"  # ISO-8601 with the offset, fraction only when needed


def _aware(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: not an ISO-8601 time (e.g. {ISO_EXAMPLE})") from None
    if value.utcoffset() is None:
        raise InputError(f"{option} {text!r}: no UTC offset; write the offset, e.g. {ISO_EXAMPLE}")
    return value


def _pause(text: str) -> tuple[datetime, datetime | None]:
    from tiering.sla import parse_pause

    start, end = parse_pause(text)
    return _aware(start, "--pause"), None if end is None else _aware(end, "--pause")


def _policy(path: str | None) -> Any:
    from tiering.policy import load_policy

    return load_policy(path)


@click.command("deadline")
@click.option("--tier", type=int, required=True, metavar="N",
              help="Tier the ticket opened with, in stars (5 = top).")
@click.option("--class", "issue_class", required=True, metavar="NAME",
              help="Issue class of the policy, e.g. maintenance, construction, feedback.")
@click.option("--opened", required=True, metavar="ISO",
              help=f"Opening time with offset: {ISO_EXAMPLE}.")
@click.option("--pause", "pauses", multiple=True, metavar="START/END",
              help="A pause [START, END); START/ or START/.. while it still runs. Repeatable.")
@click.option("--now", metavar="ISO", help="Moment of the status (default: the current time).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Policy TOML (default: the shipped policy).")
@json_option
@handle_errors
def deadline_cmd(tier: int, issue_class: str, opened: str, pauses: tuple[str, ...],
                 now: str | None, policy_path: str | None, as_json: bool) -> None:
    """Deadline and status of one ticket.

    The deadline is the first instant the counted time reaches the class's target for the
    tier: elapsed time on 24x7 classes, working time on business classes (working days, `wd`,
    land on the same local time N working days after the start). Pauses do not count.

    \b
    Examples:
      tiering deadline --tier 5 --class maintenance --opened 2026-10-01T17:30:00+08:00
      tiering deadline --tier 3 --class feedback --opened 2026-09-04T18:30:00+08:00 \\
          --pause 2026-09-07T10:00:00+08:00/2026-09-07T15:00:00+08:00 --json
      tiering deadline --tier 1 --class feedback --opened 2026-09-30T17:00:00+08:00 \\
          --pause 2026-10-08T09:00:00+08:00/ --now 2026-10-08T12:00:00+08:00
    """
    from tiering.sla import Ticket, status

    policy = _policy(policy_path)
    at = _aware(now, "--now") if now is not None else datetime.now(timezone.utc)
    ticket = Ticket(tier=tier, issue_class=issue_class, opened_at=_aware(opened, "--opened"),
                    pauses=tuple(_pause(p) for p in pauses))
    st = status(ticket, at, policy=policy)
    d = st.deadline
    zone = d.opened_at.tzinfo
    doc = {
        "tier": d.tier, "issue_class": d.issue_class, "opened_at": d.opened_at,
        "clock": d.clock, "calendar": d.calendar, "target": d.target, "unit": d.unit,
        "now": at.astimezone(zone), "deadline": d.deadline, "state": st.state,
        "counted_seconds": st.counted_seconds, "remaining_seconds": st.remaining_seconds,
        "fraction": st.fraction, "escalation": st.escalation, "warning": d.warning,
    }
    if as_json:
        print_json(doc)
        return
    clock = d.clock if d.calendar is None else f"{d.clock} ({d.calendar} calendar)"
    click.echo(f"deadline   {d.deadline.isoformat() if d.deadline else 'not fixed: paused'}")
    click.echo(f"target     {d.target} {d.unit} on the {clock} clock, tier {d.tier}, "
               f"class {d.issue_class}")
    click.echo(f"state      {st.state} at {doc['now'].isoformat()}")
    click.echo(f"counted    {_hours(st.counted_seconds)} ({st.fraction:.1%} of the target)")
    click.echo(f"remaining  {_hours(st.remaining_seconds)}")
    click.echo(f"escalation {st.escalation or '-'}")
    if d.warning:
        click.echo(f"warning    {d.warning}")
        click.echo(f"warning: {d.warning}", err=True)


def _hours(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60}h{minutes % 60:02d}m"


@click.command("sla")
@click.argument("tickets", type=click.Path(exists=True, dir_okay=False))
@click.option("--now", metavar="ISO", help="Moment of the status (default: the current time).")
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the result to FILE (.csv or .parquet) instead of CSV on stdout.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Policy TOML (default: the shipped policy).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Store: a ticket with an empty tier and a subscriber_id gets the "
                   "subscriber's effective tier at opening from it.")
@click.option("--skip-bad", is_flag=True,
              help="Compute the well-formed rows; a malformed row gets its error text.")
@json_option
@handle_errors
def sla_cmd(tickets: str, now: str | None, out: str | None, policy_path: str | None,
            store_path: str | None, skip_bad: bool, as_json: bool) -> None:
    """Deadlines and status for a file of tickets (CSV or Parquet).

    Columns: ticket_id, tier (stars at opening), issue_class, opened_at (ISO-8601 with
    offset); optional resolved_at, subscriber_id, and pauses (CSV text
    START/END;START/END, START/ while running; Parquet a list of struct{start, end}).
    Adds deadline, state (on_track, warning, breached, paused, met), counted_seconds,
    remaining_seconds, fraction, escalation, error and warning (a provisional answer). A
    ticket that cannot be computed (unknown class or tier, a date outside the calendar's
    years) gets an error text and no deadline; the others are computed and the count is
    reported. Malformed input stops with exit 2 naming the file, row (1 = first ticket),
    column and value, with the count and the first five; --skip-bad computes the rest.

    \b
    Examples:
      tiering sla tickets.csv --now 2026-10-08T12:00:00+08:00 > status.csv
      tiering sla tickets.parquet --out status.parquet --json
      tiering sla tickets.csv --store tiering.duckdb --out status.csv
      tiering sla tickets.csv --now 2026-10-08T12:00:00+08:00 --skip-bad --json
    """
    from tiering.sla import deadlines

    policy = _policy(policy_path)
    at = _aware(now, "--now") if now is not None else datetime.now(timezone.utc)
    frame = _read(Path(tickets))
    missing = [c for c in ("ticket_id", "tier", "issue_class", "opened_at")
               if c not in frame.columns]
    if missing:
        raise InputError(f"{tickets}: missing column {missing[0]!r} (needs ticket_id, tier, "
                         f"issue_class, opened_at)")
    if store_path is not None:
        frame = _tiers_from_store(frame, store_path, tickets, policy.sla.timezone)
    result = deadlines(frame, now=at, policy=policy, source=tickets, skip_bad=skip_bad)
    failed = result["error"].is_not_null().sum()
    provisional = result["warning"].is_not_null().sum()
    states = {s: n for s, n in result["state"].value_counts().iter_rows() if s is not None}
    written = result if out is not None and out.endswith(".parquet") else _as_text(result, policy)
    if out is not None:
        _write(written, out)
    summary = {"tickets": result.height, "not_computed": failed, "provisional": provisional,
               "states": states, "out": out}
    if provisional:
        click.echo(f"warning: {provisional} of {result.height} answers are provisional (a year "
                   f"the calendar only guesses; see the warning column)", err=True)
    if as_json:
        print_json(summary if out is not None else {**summary, "rows": written.with_columns(
            written["tier"].cast(int, strict=False)).to_dicts()})  # tiers as integers
        return
    if out is None:
        click.echo(written.write_csv(), nl=False)
    click.echo(f"{result.height} tickets; {failed} could not be computed (see the error "
               f"column); {provisional} provisional (see the warning column); "
               + ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
               err=out is None)
    if out is not None:
        click.echo(f"wrote {out}")


def _read(path: Path) -> Any:
    import polars as pl

    try:
        if path.suffix.lower() == ".parquet":
            return pl.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    raise InputError(f"{path}: expected a .csv or .parquet file of tickets")


def _write(frame: Any, out: str) -> None:
    import polars as pl

    try:
        if out.endswith(".parquet"):
            frame.write_parquet(out)
        elif out.endswith(".csv"):
            frame.write_csv(out)
        else:
            raise InputError(f"--out {out}: expected a .csv or .parquet file name")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"--out {out}: cannot write: {exc}") from None


def _as_text(result: Any, policy: Any) -> Any:
    """The deadline as ISO-8601 text with offset, each in its class's clock zone."""
    import polars as pl

    from tiering.clock import get_clock

    by_zone: dict[str, list[str]] = {}
    for name in result["issue_class"].cast(pl.String).str.strip_chars().unique().to_list():
        cls = policy.sla.classes.get(name)
        if cls is not None:
            by_zone.setdefault(get_clock(cls, policy).timezone, []).append(name)
    text: Any = pl.lit(None, pl.String)
    for zone, names in by_zone.items():
        text = pl.when(pl.col("issue_class").cast(pl.String).str.strip_chars().is_in(names)).then(
            pl.col("deadline").dt.convert_time_zone(zone).dt.to_string(ISO_FORMAT)
        ).otherwise(text)
    return result.with_columns(text.alias("deadline"))


def _tiers_from_store(frame: Any, store_path: str, source: str, zone: str) -> Any:
    """Fill an empty tier from the store's effective tier at the month of opening, the month
    read in the operator's zone (a ticket opened 1 Oct 02:00 +08:00 is an October ticket)."""
    import polars as pl

    from tiering.sla import instants_us
    from tiering.store import Store

    if "subscriber_id" not in frame.columns:
        return frame
    tier = frame["tier"]
    empty = tier.is_null() | (tier.cast(pl.String).str.strip_chars() == "")
    need = (empty & frame["subscriber_id"].is_not_null()).arg_true()
    if not len(need):
        return frame
    opened = (pl.Series(instants_us(frame["opened_at"].gather(need), source, "opened_at",
                                    rows=need))
              .cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(zone))
    found = Store(store_path).effective_tiers(frame["subscriber_id"].gather(need), opened)
    return frame.with_columns(tier.scatter(need, found.cast(tier.dtype)))


HORIZON_DAYS = 90  # SPEC: warn when the coming 90 days are not all known


@click.command("calendar")
@click.option("--now", metavar="ISO", help="Count the coming 90 days from here (default: now).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Policy TOML (default: the shipped policy).")
@json_option
@handle_errors
def calendar_cmd(now: str | None, policy_path: str | None, as_json: bool) -> None:
    """The business calendars of the policy: known years, the library they come from, and a
    warning when the coming 90 days are not all known.

    A year after the known ones has no official schedule (for China: the State Council's
    yearly notice, the only source of make-up days). With sla.unknown_years = "provisional"
    (the default) such dates are computed from the statutory holidays and every answer on them
    carries a warning; with "error" they get no deadline.

    \b
    Examples:
      tiering calendar
      tiering calendar --json --now 2026-12-01T09:00:00+08:00
    """
    from tiering.clock import BusinessCalendar, from_us, get_clock, to_us

    policy = _policy(policy_path)
    at = to_us(_aware(now, "--now") if now is not None else datetime.now(timezone.utc))
    calendars: dict[str, Any] = {}
    for cls in policy.sla.classes.values():
        clock = get_clock(cls, policy)
        if isinstance(clock, BusinessCalendar):
            entry = calendars.setdefault(clock.name, {"clock": clock, "classes": []})
            entry["classes"].append(cls.name)
    docs, warnings = [], []
    for name, entry in calendars.items():
        clock = entry["clock"]
        horizon = from_us(at, clock.timezone) + timedelta(days=HORIZON_DAYS)
        doc = {"name": name, "timezone": clock.timezone, "source": clock.source,
               "known_years": [clock.first_year, clock.known_last],
               "provisional_years": ([clock.known_last + 1, clock.last_year]
                                     if clock.last_year > clock.known_last else None),
               "classes": entry["classes"], "horizon": horizon.date().isoformat(),
               "horizon_known": horizon.year <= clock.known_last}
        if not doc["horizon_known"]:
            warnings.append(f"calendar {name!r}: the coming {HORIZON_DAYS} days reach "
                            f"{horizon.year}, which has no official schedule in {clock.source} "
                            f"(known up to {clock.known_last}); update the package or add the "
                            f"year in a calendar file")
        docs.append(doc)
    if as_json:
        print_json({"unknown_years": policy.sla.unknown_years, "calendars": docs,
                    "warnings": warnings})
    else:
        for d in docs:
            prov = d["provisional_years"]
            click.echo(f"{d['name']:8s} known {d['known_years'][0]}-{d['known_years'][1]}"
                       + (f", provisional {prov[0]}-{prov[1]}" if prov else "")
                       + f"  ({d['source']}; {d['timezone']}; classes {', '.join(d['classes'])})")
        click.echo(f"unknown years: {policy.sla.unknown_years}")
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
