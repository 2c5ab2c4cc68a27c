"""Many tickets at once: a polars frame in, the same frame with deadline and status out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from tiering.clock import US, ArrayOps, BusinessCalendar, Clock, get_clock, to_us
from tiering.effective import default_policy
from tiering.errors import InputError
from tiering.policy import Policy
from tiering.sla.rule import (
    DEADLINE_BEYOND,
    NONE,
    OUT_OF_RANGE,
    OUT_OF_YEARS,
    PAUSE_REVERSED,
    RESOLVED_BEFORE_OPENED,
    STATES,
    Core,
    beyond_text,
    classify,
    compute,
    fixed_error_text,
    latest_instant,
    provisional_text,
)
from tiering.sla.ticket import NO_PAUSES, bad_tier_text, instant, unknown_class_text

ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")


@dataclass(frozen=True, slots=True)
class _Tickets:
    opened: np.ndarray
    resolved: np.ndarray  # NONE: not resolved
    tier: np.ndarray  # 0: missing
    tier_given: pl.Series  # the tier column as given (for error texts)
    issue_class: pl.Series  # text
    pt: np.ndarray  # pauses, sorted by ticket
    ps: np.ndarray
    pe: np.ndarray


def deadlines(frame: pl.DataFrame, now: datetime | str | None = None,
              policy: Policy | None = None, *, source: str = "<frame>",
              skip_bad: bool = False) -> pl.DataFrame:
    """Deadline and status at ``now`` (default: the current time) for a frame of tickets.

    Columns: ``opened_at`` (Datetime with a zone, or ISO text with an offset), ``tier``
    (stars the ticket opened with), ``issue_class``; optional ``resolved_at`` and ``pauses``
    (a list of struct{start, end}, or text ``START/END;START/END`` with ``START/`` for a
    running pause). Adds ``deadline, state, counted_seconds, remaining_seconds, fraction,
    escalation, error, warning``; ``warning`` names the provisional year of an answer
    that rests on one (``sla.unknown_years``). A ticket that cannot be computed (unknown
    class or tier, a date
    outside the calendar's known years) gets a null deadline and an ``error`` text; the
    others are computed. Malformed input raises :class:`~tiering.errors.InputError` naming
    ``source``, the row (1-based, header not counted), the column and the value of the first
    malformed cell, with the count and the first five; with ``skip_bad=True`` the other rows
    are computed and each malformed row gets its ``error`` text instead.
    ``deadline`` is in the calendar's zone when all classes used share one, else in the
    policy's ``sla.timezone``.
    """
    pol = policy if policy is not None else default_policy()
    now_us = to_us(datetime.now(timezone.utc)) if now is None else instant(
        now, "now", pol.sla.timezone, False)
    problems: list[Problem] = []
    t = _read_tickets(frame, source, problems)
    if problems and not skip_bad:
        raise _report(source, problems)
    n = frame.height
    skipped = np.zeros(n, bool)
    skipped[[p.row for p in problems]] = True
    names = list(pol.sla.classes)
    tiers = pol.rating.tiers
    cidx = t.issue_class.replace_strict(names, list(range(len(names))), default=-1,
                                        return_dtype=pl.Int64).to_numpy()
    tier_ok = (t.tier >= 1) & (t.tier <= tiers) & ~skipped
    deadline_us = np.full(n, NONE)
    counted = np.zeros(n, np.int64)
    target = np.ones(n, np.int64)
    state = np.zeros(n, np.int64)
    step = np.full(n, -1, np.int64)
    failed = (cidx < 0) | ~tier_ok
    errors = pl.repeat(None, n, dtype=pl.String, eager=True).alias("error")
    warnings = pl.repeat(None, n, dtype=pl.String, eager=True).alias("warning")
    steps_at = [s.at_percent for s in pol.sla.escalation]
    zones: set[str] = set()
    for ci, name in enumerate(names):
        rows = np.flatnonzero((cidx == ci) & tier_ok)
        if not len(rows):
            continue
        cls = pol.sla.classes[name]
        clock = get_clock(cls, pol)
        zones.add(clock.timezone)
        by_stars = np.array(cls.targets[::-1], np.int64)
        pt, ps, pe = _pauses_of(t, rows, n)
        core = compute(ArrayOps, clock, cls.unit, by_stars[t.tier[rows] - 1], t.opened[rows],
                        now_us, t.resolved[rows], (pt, ps, pe))
        s, e = classify(ArrayOps, core, pol.sla.warning_at_percent, steps_at)
        deadline_us[rows], counted[rows], target[rows] = core.deadline, core.counted, core.target
        state[rows], step[rows] = s, e
        if isinstance(clock, BusinessCalendar):
            warnings = _provisional(warnings, clock, rows, core)
        bad = np.flatnonzero(core.err)
        if len(bad):
            failed[rows[bad]] = True
            errors = errors.scatter(rows[bad], _error_texts(clock, core.err[bad],
                                                            core.err_at[bad]))
    errors = _lookup_errors(errors, t, np.where(skipped, 0, cidx), tier_ok | skipped, pol)
    if problems:
        first = {p.row: p for p in reversed(problems)}
        errors = errors.scatter(list(first), pl.Series([problem_text(p) for p in first.values()],
                                                       dtype=pl.String))
    out_zone = zones.pop() if len(zones) == 1 else pol.sla.timezone
    notify = [s.notify for s in pol.sla.escalation]
    ok = ~failed
    cols = pl.DataFrame({
        "dl": deadline_us, "counted": counted, "target": target,
        "state": pl.Series(STATES).gather(state), "step": step,
        "has_dl": ok & (deadline_us != NONE), "ok": ok, "has_step": ok & (step >= 0),
        "error": errors, "warning": warnings,
    })
    added = cols.select(
        pl.when("has_dl").then(pl.col("dl")).cast(pl.Datetime("us", "UTC"))
        .dt.convert_time_zone(out_zone).alias("deadline"),
        pl.when("ok").then(pl.col("state")).alias("state"),
        pl.when("ok").then(pl.col("counted") / US).alias("counted_seconds"),
        pl.when("ok").then((pl.col("target") - pl.col("counted")) / US)
        .alias("remaining_seconds"),
        pl.when("ok").then(pl.col("counted") / pl.col("target")).alias("fraction"),
        (pl.when("has_step").then(pl.lit(pl.Series(notify, dtype=pl.String))
                                  .gather(pl.col("step").clip(0)))
         if notify else pl.lit(None, pl.String)).alias("escalation"),
        pl.col("error"), pl.when("ok").then(pl.col("warning")).alias("warning"),
    )
    return frame.drop([c for c in added.columns if c in frame.columns]).hstack(added)


def _provisional(warnings: pl.Series, clock: BusinessCalendar, rows: np.ndarray,
                 core: Core) -> pl.Series:
    """The warning of every answer that rests on a provisional year, naming that year."""
    latest = latest_instant(ArrayOps, core)
    hit = np.flatnonzero(latest >= clock.provisional_lo)
    if not len(hit):
        return warnings
    years = (pl.Series(latest[hit]).cast(pl.Datetime("us", "UTC"))
             .dt.convert_time_zone(clock.timezone).dt.year())
    texts = {y: provisional_text(clock, y) for y in years.unique().to_list()}
    return warnings.scatter(rows[hit], pl.Series([texts[y] for y in years.to_list()],
                                                 dtype=pl.String))


FIXED_CODES = [RESOLVED_BEFORE_OPENED, PAUSE_REVERSED, OUT_OF_RANGE]


def _error_texts(clock: Clock, codes: np.ndarray, at: np.ndarray) -> pl.Series:
    if not isinstance(clock, BusinessCalendar):  # only the input checks fail on 24x7
        return pl.Series([fixed_error_text(int(c)) for c in codes], dtype=pl.String)
    head, tail = str(clock.out_of_bounds("\x00")).split("\x00")
    df = pl.DataFrame({"code": codes, "at": np.where(at == NONE, 0, at)})
    date = (pl.col("at").cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(clock.timezone)
            .dt.strftime("%Y-%m-%d"))
    return df.select(
        pl.when(pl.col("code") == OUT_OF_YEARS).then(pl.concat_str(pl.lit(head), date,
                                                                   pl.lit(tail)))
        .when(pl.col("code") == DEADLINE_BEYOND)
        .then(pl.lit(str(clock.out_of_bounds(beyond_text(clock)))))
        .otherwise(pl.col("code").replace_strict(
            FIXED_CODES, [fixed_error_text(c) for c in FIXED_CODES], default=None,
            return_dtype=pl.String))
    ).to_series()


def _lookup_errors(errors: pl.Series, t: _Tickets, cidx: np.ndarray, tier_ok: np.ndarray,
                   pol: Policy) -> pl.Series:
    """The texts of the scalar API's SlaLookupError, one per distinct bad value."""
    unknown = np.flatnonzero(cidx < 0)
    if len(unknown):
        values = t.issue_class.gather(unknown)
        texts = {v: unknown_class_text(v, pol) for v in values.unique().to_list()}
        errors = errors.scatter(unknown, pl.Series([texts[v] for v in values.to_list()],
                                                   dtype=pl.String))
    bad_tier = np.flatnonzero((cidx >= 0) & ~tier_ok)
    if len(bad_tier):
        values = t.tier_given.gather(bad_tier).to_list()
        errors = errors.scatter(bad_tier, pl.Series(
            [bad_tier_text(v, pol.rating.tiers) for v in values], dtype=pl.String))
    return errors


def _pauses_of(t: _Tickets, rows: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    if not len(t.pt):
        return NO_PAUSES
    local = np.full(n, -1, np.int64)
    local[rows] = np.arange(len(rows))
    mapped = local[t.pt]
    sel = mapped >= 0
    return mapped[sel], t.ps[sel], t.pe[sel]


@dataclass(frozen=True, slots=True)
class Problem:
    row: int  # 0-based
    column: str
    problem: str
    value: object


SHOWN = 5  # malformed cells named in the message (the rating run's checks show as many)


def _report(source: str, problems: list[Problem]) -> InputError:
    """The first malformed cell in the usual form, then the count and the first five."""
    first = problems[0]
    err = InputError(source=source, row=first.row + 1, column=first.column,
                     problem=first.problem, value=first.value)
    rows = len({p.row for p in problems})
    if len(problems) == 1:
        return err
    listed = "; ".join(f"row {p.row + 1}, column {p.column!r}: {p.value!r}"
                       for p in problems[:SHOWN])
    return InputError(f"{err}; {len(problems)} malformed cells in {rows} rows, the first "
                      f"{min(SHOWN, len(problems))}: {listed} (--skip-bad computes the others)")


def problem_text(p: Problem) -> str:
    return f"row {p.row + 1}, column {p.column!r}: {p.problem}: {p.value!r}"


def _read_tickets(frame: pl.DataFrame, source: str,
                  problems: list[Problem]) -> _Tickets:
    """The ticket columns as arrays; every malformed cell goes to ``problems`` (its row then
    holds NONE or tier 0 and is not computed)."""
    for col in ("opened_at", "tier", "issue_class"):
        if col not in frame.columns:
            raise InputError(f"{source}: missing column {col!r} (needs opened_at, tier, "
                             f"issue_class; optional resolved_at, pauses)")
    opened = instants_us(frame["opened_at"], source, "opened_at", problems=problems)
    known_bad = {p.row for p in problems}
    problems.extend(Problem(int(i), "opened_at", "missing", None)
                    for i in np.flatnonzero(opened == NONE) if int(i) not in known_bad)
    resolved = (instants_us(frame["resolved_at"], source, "resolved_at", problems=problems)
                if "resolved_at" in frame.columns else np.full(frame.height, NONE))
    given = frame["tier"]
    if given.dtype == pl.String:
        given = given.str.strip_chars().replace("", None)
    tier = given.cast(pl.Int64, strict=False)
    problems.extend(Problem(int(i), "tier", "not a whole number of stars", given[int(i)])
                    for i in (tier.is_null() & given.is_not_null()).arg_true())
    pt, ps, pe = (_read_pauses(frame, source, problems) if "pauses" in frame.columns
                  else NO_PAUSES)
    problems.sort(key=lambda p: p.row)
    return _Tickets(opened=opened, resolved=resolved, tier=tier.fill_null(0).to_numpy(),
                    tier_given=tier, issue_class=frame["issue_class"].cast(pl.String)
                    .str.strip_chars(), pt=pt, ps=ps, pe=pe)


def instants_us(col: pl.Series, source: str, name: str, rows: pl.Series | None = None,
                shown: pl.Series | None = None,
                problems: list[Problem] | None = None) -> np.ndarray:
    """Epoch µs (NONE for null) of a zoned Datetime column or ISO text with an offset. A
    malformed text raises, or with ``problems`` is recorded there (and read as NONE)."""
    if isinstance(col.dtype, pl.Datetime):
        if col.dtype.time_zone is None:
            raise InputError(f"{source}: column {name!r} holds times without a zone; give "
                             f"them a zone (e.g. .dt.replace_time_zone(\"Asia/Shanghai\"))")
        us = col.dt.cast_time_unit("us").cast(pl.Int64)
    elif col.dtype in (pl.String, pl.Null):
        text = col.cast(pl.String).str.strip_chars().replace("", None)
        norm = (text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
                .str.replace(r"[Zz]$", "+00:00"))
        us = pl.select(pl.coalesce([
            norm.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
            for f in ISO_FORMATS])).to_series().cast(pl.Int64)
        found = [Problem(int(rows[i]) if rows is not None else int(i), name,
                         "not an ISO-8601 time with a UTC offset "
                         "(e.g. 2026-10-01T17:30:00+08:00)",
                         shown[int(i)] if shown is not None else col[int(i)])
                 for i in (us.is_null() & text.is_not_null()).arg_true()]
        if found and problems is None:
            raise _report(source, found[:1])
        (problems if problems is not None else []).extend(found)
    else:
        raise InputError(f"{source}: column {name!r} must be a Datetime with a zone or ISO "
                         f"text, not {col.dtype}")
    return us.fill_null(NONE).to_numpy()


def _read_pauses(frame: pl.DataFrame, source: str,
                 problems: list[Problem]) -> tuple[np.ndarray, ...]:
    col = frame["pauses"]
    rowed = pl.DataFrame({"row": np.arange(frame.height, dtype=np.int64), "p": col})
    if col.dtype in (pl.String, pl.Null):
        parts = (rowed.with_columns(pl.col("p").cast(pl.String).alias("given"))
                 .with_columns(pl.col("p").cast(pl.String).str.split(";")).explode("p")
                 .with_columns(pl.col("p").str.strip_chars())
                 .filter(pl.col("p").is_not_null() & (pl.col("p") != "")))
        split = parts["p"].str.split_exact("/", 1)
        start = split.struct.field("field_0").str.strip_chars()
        end = split.struct.field("field_1").str.strip_chars()
        wrong = end.is_null() | (start == "")
        problems.extend(Problem(int(parts["row"][int(i)]), "pauses",
                                "expected START/END;START/END (START/ while it runs)",
                                parts["given"][int(i)]) for i in wrong.arg_true())
        end = end.replace({"": None, "..": None})
        start = pl.select(pl.when(~wrong).then(start)).to_series()
        shown = parts["given"]
    elif isinstance(col.dtype, pl.List) and isinstance(col.dtype.inner, pl.Struct):
        parts = rowed.explode("p").filter(pl.col("p").is_not_null())
        fields = [f.name for f in col.dtype.inner.fields]
        if not {"start", "end"} <= set(fields):
            raise InputError(f"{source}: column 'pauses' must be a list of struct{{start, end}}"
                             f", has fields {fields}")
        start = parts["p"].struct.field("start")
        end = parts["p"].struct.field("end")
        shown = start.cast(pl.String)
        problems.extend(Problem(int(parts["row"][int(i)]), "pauses", "pause without a start",
                                None) for i in start.is_null().arg_true())
    else:
        raise InputError(f"{source}: column 'pauses' must be text START/END;... or a list of "
                         f"struct{{start, end}}, not {col.dtype}")
    rows = parts["row"]
    ps = instants_us(start, source, "pauses", rows, shown, problems)
    pe = instants_us(end, source, "pauses", rows, shown, problems)
    ok = ps != NONE  # a pause without a readable start belongs to a row not computed
    return rows.to_numpy()[ok], ps[ok], pe[ok]
