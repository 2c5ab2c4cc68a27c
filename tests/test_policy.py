"""Policy validation names the bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiering.errors import PolicyError
from tiering.policy import load_policy

DEFAULT = (Path(__file__).parent.parent / "tiering/data/default_policy.toml").read_text()


def _load(tmp_path: Path, text: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_policy(path)


def test_default_policy_holds_the_spec_values():
    p = load_policy()
    assert p.rating.shares_x100 == (500, 1000, 1500, 4000, 3000)
    assert p.rating.cumulative_shares_x100 == (500, 1500, 3000, 7000)
    assert [b.coefficient_x100 for b in p.rating.tenure_bands] == [100, 110, 120, 130, 140, 150]
    assert p.rating.coefficient_x100(12) == 100 and p.rating.coefficient_x100(13) == 110
    assert p.rating.coefficient_x100(121) == 150
    assert p.sla.classes["maintenance"].targets == (8, 24, 48, 72, 96)
    assert p.sla.classes["construction"].target(5) == 20
    assert p.sla.classes["feedback"].target(1) == 3


@pytest.mark.parametrize(("old", "new", "field", "problem"), [
    ("shares = [5, 10, 15, 40, 30]", "shares = [5, 10, 15, 40, 20]", "rating.shares",
     "must sum to 100"),
    ("shares = [5, 10, 15, 40, 30]", "shares = [5, 10, 15, 70, 0]", "rating.shares[4]",
     "must be positive"),
    ("shares = [5, 10, 15, 40, 30]", "shares = [100]", "rating.shares", "at least 2 tiers"),
    ("{ from = 13, to = 24", "{ from = 12, to = 24", "rating.tenure_bands[1].from", "overlaps"),
    ("{ from = 13, to = 24", "{ from = 14, to = 24", "rating.tenure_bands[1].from",
     "leaves a gap"),
    ("coefficient = 1.1 }", "coefficient = 1.125 }", "rating.tenure_bands[1].coefficient",
     "at most 2 decimals"),
    ("targets = [8, 24, 48, 72, 96]", "targets = [8, 24, 72, 48, 96]",
     "sla.classes.maintenance.targets[2]", "higher tier gets a longer target"),
    ("targets = [8, 24, 48, 72, 96]", "targets = [8, 24, 48, 72]",
     "sla.classes.maintenance.targets", "one target per tier"),
    ('clock = "24x7"\nunit = "h"', 'clock = "sundial"\nunit = "h"',
     "sla.classes.maintenance.clock", "unknown clock 'sundial'"),
    ('clock = "24x7"\nunit = "h"', 'clock = "business"\ncalendar = "CN"\nunit = "d"',
     "sla.classes.maintenance.unit", "use the 24x7 clock"),
    ('calendar = "CN"\nunit = "wd"', 'calendar = "XX"\nunit = "wd"',
     "sla.classes.feedback.calendar", "unknown calendar 'XX'"),
    ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"', "sla.timezone",
     "not an IANA time zone"),
    ("unrated_service_tier = 1", "unrated_service_tier = 6", "rating.unrated_service_tier",
     "must be a tier 1..5"),
    ("# fixed_thresholds = [260, 140, 90, 30]", "fixed_thresholds = [260, 90, 140, 30]",
     "rating.fixed_thresholds", "must not increase"),
])
def test_invalid_policy_names_the_field(tmp_path: Path, old: str, new: str, field: str,
                                        problem: str):
    assert old in DEFAULT
    with pytest.raises(PolicyError) as err:
        _load(tmp_path, DEFAULT.replace(old, new, 1))
    assert f"field '{field}'" in str(err.value) and problem in str(err.value)


def test_not_toml(tmp_path: Path):
    with pytest.raises(PolicyError, match="not valid TOML"):
        _load(tmp_path, "[rating\nshares = 1")


def test_missing_file(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "none.toml")


def test_fingerprint_follows_content_not_file_name(tmp_path: Path):
    a = _load(tmp_path, DEFAULT)
    assert a.fingerprint == load_policy().fingerprint
    b = _load(tmp_path, DEFAULT.replace("round_to = 10", "round_to = 5"))
    assert b.fingerprint != a.fingerprint


def _many_bands(n: int) -> str:
    """The default policy with ``n`` one-month tenure bands from month 7 (issue 12 item 11)."""
    start = DEFAULT.index("tenure_bands = [")
    end = DEFAULT.index("]\n", start) + 2
    bands = [f"{{ from = {i}, to = {i}, coefficient = 1.{i % 50:02d} }}" for i in range(7, 6 + n)]
    bands.append(f"{{ from = {6 + n}, coefficient = 2 }}")
    return DEFAULT[:start] + "tenure_bands = [\n" + ",\n".join(bands) + "\n]\n" + DEFAULT[end:]


def test_band_lookup_cost_does_not_grow_with_the_bands(tmp_path: Path):
    """A when-chain of 2,000 bands took over 10 s (10,000 took 300 s and 9 GB); one binary
    search over the band starts takes milliseconds, and agrees with the policy's own
    band-by-band look-up."""
    import time

    import polars as pl

    from tiering.score import coefficient_x100

    rating = _load(tmp_path, _many_bands(2000)).rating
    tenure = pl.DataFrame({"t": pl.int_range(-3, 2100, eager=True).cast(pl.Int32)})
    started = time.perf_counter()
    got = tenure.select(coefficient_x100(pl.col("t"), rating))
    assert time.perf_counter() - started < 1.0
    assert got.to_series().to_list() == [
        rating.coefficient_x100(t) if t >= 7 else None for t in tenure["t"]]
