"""The policy: every number of the rating and SLA rules that an operator may change.

A policy is one TOML file (``tiering/data/default_policy.toml`` holds the SPEC defaults).
Loading validates every field and names the bad one. Values that must stay exact
(coefficients, shares) are held as integer hundredths, never floats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tiering.errors import PolicyError

DEFAULT_POLICY = "default_policy.toml"
# Limits of the rating part, far beyond any real policy (5 tiers, coefficients near 1,
# thresholds in the hundreds, bands over a few decades), within which the engine's exact
# integers cannot overflow: a tier is an Int8, a coefficient a DECIMAL(6, 2), and a score
# in hundredths (ARPU up to 10^12 yuan, see billing.MAX_YUAN, times the coefficient) an
# int64.
MAX_TIERS = 100
MAX_COEFFICIENT_X100 = 1000_00
MAX_POINTS = 10**15
MAX_TENURE_MONTHS = 9999
CLOCKS = ("24x7", "business")
UNITS = ("h", "d", "wd")
UNKNOWN_YEARS = ("provisional", "error")
# The longest target a policy may set, per unit: ten years. No real SLA comes near it, and
# it keeps every deadline inside int64 microseconds (a target of 1e21 h would wrap around).
MAX_TARGET = {"h": 87_600, "d": 3_650, "wd": 2_500}


@dataclass(frozen=True, slots=True)
class TenureBand:
    first: int
    last: int | None  # None: open-ended
    coefficient_x100: int


@dataclass(frozen=True, slots=True)
class RatingPolicy:
    shares_x100: tuple[int, ...]  # percent x 100, top tier first
    fixed_thresholds: tuple[int, ...] | None
    round_to: int
    thresholds_by_region: bool
    unrated_service_tier: int
    min_tenure_months: int
    tenure_bands: tuple[TenureBand, ...]

    @property
    def tiers(self) -> int:
        return len(self.shares_x100)

    @property
    def cumulative_shares_x100(self) -> tuple[int, ...]:
        """Cumulative share at each tier boundary, top first (5%, 15%, 30%, 70% by default)."""
        out, acc = [], 0
        for share in self.shares_x100[:-1]:
            acc += share
            out.append(acc)
        return tuple(out)

    def coefficient_x100(self, tenure_months: int) -> int:
        for band in self.tenure_bands:
            if tenure_months >= band.first and (band.last is None or tenure_months <= band.last):
                return band.coefficient_x100
        raise ValueError(f"tenure {tenure_months} is below the first band")


@dataclass(frozen=True, slots=True)
class SlaClass:
    name: str
    clock: str
    unit: str
    targets: tuple[int, ...]  # top tier first
    calendar: str | None

    def target(self, tier: int) -> int:
        """The target (in ``unit``) for a tier given in stars (top tier = len(targets))."""
        return self.targets[len(self.targets) - tier]


@dataclass(frozen=True, slots=True)
class EscalationStep:
    at_percent: int
    notify: str


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    timezone: str
    warning_at_percent: int
    escalation: tuple[EscalationStep, ...]
    unknown_years: str  # "provisional" or "error": a date after the calendar's known years
    classes: dict[str, SlaClass] = field(hash=False)
    calendars: dict[str, str] = field(hash=False)  # name -> calendar file path


@dataclass(frozen=True, slots=True)
class Policy:
    rating: RatingPolicy
    sla: SlaPolicy
    source: str = "default"
    text: str = field(default="", repr=False)  # the TOML it was read from, kept with each run

    @property
    def fingerprint(self) -> str:
        """sha256 of the policy's content (not of its file name), for the run record."""
        content = asdict(self)
        content.pop("source")
        content.pop("text")
        import hashlib
        import json

        canon = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode()).hexdigest()


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file; ``None`` gives the shipped default."""
    if path is None:
        text = (Path(__file__).parent / "data" / DEFAULT_POLICY).read_text("utf-8")
        return policy_from_text(text, source="default")
    p = Path(path)
    try:
        return policy_from_text(p.read_text("utf-8"), source=str(p), base_dir=p.parent)
    except OSError as exc:
        raise PolicyError(f"policy {p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"policy {p}: not UTF-8 text") from None


def policy_from_text(text: str, *, source: str, base_dir: Path | None = None) -> Policy:
    """Parse and validate the TOML text of a policy."""
    import tomllib  # only where a policy is parsed: look-ups that never parse one skip it

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {source}: not valid TOML: {exc}") from None
    policy = parse_policy(raw, source=source, base_dir=base_dir)
    return Policy(policy.rating, policy.sla, source, text)


def parse_policy(raw: dict[str, Any], *, source: str, base_dir: Path | None) -> Policy:
    """Validate a policy given as the mapping a TOML file decodes to."""
    v = _Validator(source)
    rating = v.table(raw, "rating")
    sla = v.table(raw, "sla")
    return Policy(rating=_rating(v, rating), sla=_sla(v, sla, raw, base_dir, len(
        v.list_(rating, "rating.shares"))), source=source)


def _rating(v: _Validator, r: dict[str, Any]) -> RatingPolicy:
    shares = tuple(v.hundredths(x, f"rating.shares[{i}]") for i, x in enumerate(
        v.list_(r, "rating.shares")))
    if len(shares) < 2:
        v.fail("rating.shares", "needs at least 2 tiers")
    if len(shares) > MAX_TIERS:
        v.fail("rating.shares", f"at most {MAX_TIERS} tiers, got {len(shares)}")
    for i, s in enumerate(shares):
        if s <= 0:
            v.fail(f"rating.shares[{i}]", "must be positive")
    if sum(shares) != 100_00:
        v.fail("rating.shares", f"must sum to 100, not {Decimal(sum(shares)) / 100}")
    fixed = r.get("fixed_thresholds")
    fixed_t: tuple[int, ...] | None = None
    if fixed is not None:
        values = v.list_(r, "rating.fixed_thresholds")
        names = [f"rating.fixed_thresholds[{i}]" for i in range(len(values))]
        fixed_t = tuple(_at_most(v, v.integer(x, name, minimum=0), name, MAX_POINTS)
                        for x, name in zip(values, names))
        if len(fixed_t) != len(shares) - 1:
            v.fail("rating.fixed_thresholds", f"needs {len(shares) - 1} values (tiers - 1)")
        if any(a < b for a, b in zip(fixed_t, fixed_t[1:])):
            v.fail("rating.fixed_thresholds", "must not increase from the top tier down")
    min_tenure = _at_most(v, v.integer(r.get("min_tenure_months", 7), "rating.min_tenure_months",
                                       minimum=1), "rating.min_tenure_months", MAX_TENURE_MONTHS)
    bands = _bands(v, v.list_(r, "rating.tenure_bands"), min_tenure)
    unrated = v.integer(r.get("unrated_service_tier", 1), "rating.unrated_service_tier",
                        minimum=1)
    if unrated > len(shares):
        v.fail("rating.unrated_service_tier", f"must be a tier 1..{len(shares)}")
    by_region = r.get("thresholds_by_region", False)
    if not isinstance(by_region, bool):
        v.fail("rating.thresholds_by_region", "must be true or false")
    return RatingPolicy(
        shares_x100=shares,
        fixed_thresholds=fixed_t,
        round_to=_at_most(v, v.integer(r.get("round_to", 10), "rating.round_to", minimum=1),
                          "rating.round_to", MAX_POINTS),
        thresholds_by_region=by_region,
        unrated_service_tier=unrated,
        min_tenure_months=min_tenure,
        tenure_bands=bands,
    )


def _bands(v: _Validator, raw: list[Any], min_tenure: int) -> tuple[TenureBand, ...]:
    bands = []
    expected_first = min_tenure
    for i, b in enumerate(raw):
        name = f"rating.tenure_bands[{i}]"
        if not isinstance(b, dict):
            v.fail(name, "must be a table {from, to, coefficient}")
        first = v.integer(b.get("from"), f"{name}.from", minimum=1)
        last = b.get("to")
        if first != expected_first:
            what = "overlaps the band before it" if first < expected_first else "leaves a gap"
            v.fail(f"{name}.from", f"{what}: expected {expected_first}, got {first}")
        if last is not None:
            last = _at_most(v, v.integer(last, f"{name}.to", minimum=first), f"{name}.to",
                            MAX_TENURE_MONTHS)
            expected_first = last + 1
        elif i != len(raw) - 1:
            v.fail(f"{name}.to", "only the last band may be open-ended")
        coef = v.hundredths(b.get("coefficient"), f"{name}.coefficient")
        if coef <= 0:
            v.fail(f"{name}.coefficient", "must be positive")
        if coef > MAX_COEFFICIENT_X100:
            v.fail(f"{name}.coefficient", f"must be <= {MAX_COEFFICIENT_X100 // 100}, got "
                   f"{b.get('coefficient')!r}")
        bands.append(TenureBand(first, last, coef))
    if not bands:
        v.fail("rating.tenure_bands", "needs at least one band")
    if bands[-1].last is not None:
        v.fail(f"rating.tenure_bands[{len(bands) - 1}].to", "the last band must be open-ended")
    return tuple(bands)


def _at_most(v: _Validator, value: int, name: str, maximum: int) -> int:
    if value > maximum:
        v.fail(name, f"must be <= {maximum:,}, got {value:,}")
    return value


def _sla(v: _Validator, s: dict[str, Any], raw: dict[str, Any], base_dir: Path | None,
         tiers: int) -> SlaPolicy:
    calendars: dict[str, str] = {}
    for name, c in v.table(raw, "calendars", required=False).items():
        if not isinstance(c, dict) or not isinstance(c.get("file"), str):
            v.fail(f"calendars.{name}.file", "must be the path of a calendar file")
        f = Path(c["file"])
        calendars[name] = str(base_dir / f if base_dir is not None and not f.is_absolute() else f)
    tz = s.get("timezone", "Asia/Shanghai")
    if not isinstance(tz, str) or not _is_zone(tz):
        v.fail("sla.timezone", f"not an IANA time zone: {tz!r}")
    steps = []
    for i, e in enumerate(v.list_(s, "sla.escalation", required=False)):
        if not isinstance(e, dict) or not isinstance(e.get("notify"), str):
            v.fail(f"sla.escalation[{i}].notify", "must be a text")
        steps.append(EscalationStep(
            v.integer(e.get("at"), f"sla.escalation[{i}].at", minimum=1), e["notify"]))
    if any(a.at_percent >= b.at_percent for a, b in zip(steps, steps[1:])):
        v.fail("sla.escalation", "steps must be in increasing order of `at`")
    classes = {}
    for name, c in v.table(s, "classes", prefix="sla.").items():
        f = f"sla.classes.{name}"
        if not isinstance(c, dict):
            v.fail(f, "must be a table")
        clock = c.get("clock")
        if clock not in CLOCKS:
            v.fail(f"{f}.clock", f"unknown clock {clock!r}; known: {', '.join(CLOCKS)}")
        unit = c.get("unit")
        if unit not in UNITS:
            v.fail(f"{f}.unit", f"unknown unit {unit!r}; known: {', '.join(UNITS)}")
        if unit == "wd" and clock != "business":
            v.fail(f"{f}.unit", "working days (wd) need the business clock")
        if unit == "d" and clock != "24x7":
            v.fail(f"{f}.unit", "days of 24 h (d) are elapsed time: use the 24x7 clock, or wd "
                   "for working days")
        calendar = c.get("calendar")
        if clock == "business":
            if not isinstance(calendar, str):
                v.fail(f"{f}.calendar", "the business clock needs a calendar name, e.g. \"CN\"")
            if calendar != "CN" and calendar not in calendars:
                v.fail(f"{f}.calendar", f"unknown calendar {calendar!r}; define "
                       f"[calendars.{calendar}] file = ... or use the built-in \"CN\"")
        elif calendar is not None:
            v.fail(f"{f}.calendar", "only the business clock takes a calendar")
        targets = tuple(v.integer(x, f"{f}.targets[{i}]", minimum=1)
                        for i, x in enumerate(v.list_(c, f"{f}.targets")))
        for i, x in enumerate(targets):
            if x > MAX_TARGET[unit]:
                v.fail(f"{f}.targets[{i}]", f"must be at most {MAX_TARGET[unit]} {unit} "
                       f"(ten years), got {x}")
        if len(targets) != tiers:
            v.fail(f"{f}.targets", f"needs one target per tier ({tiers}), got {len(targets)}")
        for i in range(1, len(targets)):
            if targets[i - 1] > targets[i]:
                v.fail(f"{f}.targets[{i - 1}]", f"a higher tier gets a longer target than the "
                       f"tier below it ({targets[i - 1]} > {targets[i]})")
        classes[name] = SlaClass(name, clock, unit, targets, calendar)
    unknown = s.get("unknown_years", "provisional")
    if unknown not in UNKNOWN_YEARS:
        v.fail("sla.unknown_years", f"must be one of {', '.join(UNKNOWN_YEARS)}, got {unknown!r}")
    return SlaPolicy(
        timezone=tz, unknown_years=unknown,
        warning_at_percent=v.integer(s.get("warning_at", 75), "sla.warning_at", minimum=1),
        escalation=tuple(steps),
        classes=classes,
        calendars=calendars,
    )


def _is_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field_name: str, problem: str) -> Any:
        raise PolicyError(source=self.source, field=field_name, problem=problem)

    def table(self, raw: dict[str, Any], key: str, *, required: bool = True,
              prefix: str = "") -> dict[str, Any]:
        value = raw.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(prefix + key, "missing table" if value is None else "must be a table")
        return value

    def list_(self, raw: dict[str, Any], name: str, *, required: bool = True) -> list[Any]:
        value = raw.get(name.rsplit(".", 1)[-1])
        if value is None and not required:
            return []
        if not isinstance(value, list):
            self.fail(name, "missing" if value is None else "must be a list")
        return value

    def integer(self, value: Any, name: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"must be a whole number, got {value!r}")
        if value < minimum:
            self.fail(name, f"must be >= {minimum}, got {value}")
        return value

    def hundredths(self, value: Any, name: str) -> int:
        """A number with at most 2 decimals, as an exact integer count of hundredths."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(name, f"must be a number, got {value!r}")
        try:
            d = Decimal(str(value)) * 100
        except InvalidOperation:
            self.fail(name, f"must be a number, got {value!r}")
        if not d.is_finite() or d != d.to_integral_value():
            self.fail(name, f"must have at most 2 decimals, got {value!r}")
        return int(d)
