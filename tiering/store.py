"""The embedded store: one DuckDB file holding every rated month, its thresholds and runs.

Writing never touches the live file: a run copies the store, writes the month into the copy
in one transaction, and swaps the copy in with an atomic rename. A crash leaves the old file
as it was, and readers in other processes (DuckDB allows one writer) keep answering from the
last complete month while a run writes the next. Writers queue on a lock file.
User values only ever reach SQL as parameters.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from tiering.errors import NotFound, StoreError
from tiering.policy import Policy, policy_from_text
from tiering.privacy import mask_id, mask_sql

if TYPE_CHECKING:
    import polars as pl

    from tiering.engine import RateResult

DEFAULT_STORE = "tiering.duckdb"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    month VARCHAR PRIMARY KEY, run_at TIMESTAMPTZ, version VARCHAR,
    policy_fingerprint VARCHAR, policy_toml VARCHAR, unrated_service_tier TINYINT,
    inputs JSON, counts JSON,
    unrated JSON, timings JSON);
CREATE TABLE IF NOT EXISTS lines (
    month VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, region VARCHAR,
    tenure_months INTEGER, window_months INTEGER, arpu_yuan BIGINT, arpu_score BIGINT,
    coefficient DECIMAL(6,2), score DECIMAL(18,2), tier TINYINT, reason VARCHAR,
    partition VARCHAR, customer_tier TINYINT);
CREATE TABLE IF NOT EXISTS thresholds (
    month VARCHAR, partition VARCHAR, rated BIGINT, tier TINYINT, cumulative_share DECIMAL(5,2),
    rank BIGINT, raw DECIMAL(18,2), rounded BIGINT);
CREATE TABLE IF NOT EXISTS tier_counts (
    month VARCHAR, partition VARCHAR, tier TINYINT, count BIGINT, nominal_share DECIMAL(5,2),
    realised_share DECIMAL(5,2));
CREATE TABLE IF NOT EXISTS overrides (
    month VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, tier TINYINT, valid_from DATE,
    valid_to DATE, reason VARCHAR);
"""
MONTH_TABLES = ("lines", "thresholds", "tier_counts", "overrides", "runs")
EXPORT_COLUMNS = ("subscriber_id, customer_id, region, tenure_months, window_months, arpu_yuan, "
                  "arpu_score, coefficient, score, tier, reason")


@dataclass(frozen=True, slots=True)
class Effective:
    """The tier that drives service for one line, and where it comes from (就高原则)."""

    tier: int
    own_tier: int | None
    customer_tier: int | None
    override_tier: int | None
    override_reason: str | None
    default_used: bool


def file_fingerprint(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _pct(x100: int) -> Decimal:
    return Decimal(x100) / 100


class Store:
    """A store file. Reading opens it read-only; :meth:`write_month` swaps in a new file."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)

    # --- writing -------------------------------------------------------------------------

    def write_month(self, result: RateResult, policy: Policy, version: str) -> None:
        """Replace ``result.month`` in one transaction on a copy, then swap the copy in."""
        from tiering.engine import LINE_COLUMNS

        lines = result.lines.select(*LINE_COLUMNS, "partition", "customer_tier").with_columns(
            result.lines["subscriber_id"].cast(str))
        thresholds, counts = self._partition_rows(result)
        overrides = result.overrides
        inputs = {kind: {f: file_fingerprint(f) for f in files}
                  for kind, files in result.files.items()}
        run = [result.month, datetime.now(timezone.utc), version, policy.fingerprint, policy.text,
               policy.rating.unrated_service_tier, json.dumps(inputs), json.dumps(result.counts), json.dumps(result.unrated),
               json.dumps(result.timings)]
        with self._writer() as con:
            con.execute("BEGIN")
            for table in MONTH_TABLES:
                con.execute(f"DELETE FROM {table} WHERE month = ?", [result.month])
            con.register("new_lines", lines)
            con.execute("INSERT INTO lines SELECT ?, * FROM new_lines ORDER BY subscriber_id",
                        [result.month])
            con.executemany("INSERT INTO thresholds VALUES (?, ?, ?, ?, ?, ?, ?, ?)", thresholds)
            con.executemany("INSERT INTO tier_counts VALUES (?, ?, ?, ?, ?, ?)", counts)
            con.register("new_overrides", overrides)
            con.execute("INSERT INTO overrides SELECT ?, subscriber_id, customer_id, tier, "
                        "valid_from, valid_to, reason FROM new_overrides", [result.month])
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run)
            con.execute("COMMIT")

    def export(self, out: str | Path, month: str | None = None, *, mask: bool = False
               ) -> tuple[str, int]:
        """Write a month's per-subscriber rows (SPEC section 7 columns) to Parquet or CSV;
        ``mask`` stars the middle of every subscriber id."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        out = Path(out)
        suffix = out.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise StoreError(f"{out}: export writes .parquet or .csv files")
        with self._reader() as con:
            month = self.resolve_month(con, month)
            columns = EXPORT_COLUMNS.replace(
                "subscriber_id,", f"{mask_sql('subscriber_id')} AS subscriber_id,", 1
            ) if mask else EXPORT_COLUMNS
            table = con.sql(f"SELECT {columns} FROM lines WHERE month = ? "
                            "ORDER BY subscriber_id", params=[month]).to_arrow_table()
        tmp = out.with_name(f".{out.name}.tmp")
        if suffix == ".parquet":
            pq.write_table(table, tmp)
        else:
            pcsv.write_csv(table, tmp, pcsv.WriteOptions(quoting_style="needed"))
        os.replace(tmp, out)
        return month, table.num_rows

    @staticmethod
    def _partition_rows(result: RateResult) -> tuple[list[list[Any]], list[list[Any]]]:
        thresholds, counts = [], []
        for p in result.partitions:
            for t in p.thresholds:
                raw = None if t.raw_x100 is None else _pct(t.raw_x100)
                thresholds.append([result.month, p.partition, p.rated, t.tier,
                                   _pct(t.cumulative_share_x100), t.rank, raw, t.rounded])
            for c in p.tiers:
                counts.append([result.month, p.partition, c.tier, c.count,
                               _pct(c.nominal_share_x100), _pct(c.realised_share_x100)])
        return thresholds, counts

    @contextlib.contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time; readers never wait
            # Holding the lock, any copy left here is a killed writer's: remove it.
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp*"):
                stale.unlink(missing_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            if self.path.exists():
                shutil.copyfile(self.path, tmp)
            try:
                con = duckdb.connect(str(tmp))
                try:
                    con.execute(SCHEMA)
                    yield con
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            finally:
                tmp.unlink(missing_ok=True)

    # --- reading -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if not self.path.exists():
            raise StoreError(f"no store at {self.path}: run `tiering run` first "
                             "(or give --store PATH)")
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        try:
            yield con
        finally:
            con.close()

    def months(self) -> list[str]:
        with self._reader() as con:
            return [r[0] for r in con.execute("SELECT month FROM runs ORDER BY month").fetchall()]

    def resolve_month(self, con: duckdb.DuckDBPyConnection, month: str | None) -> str:
        if month is None:
            row = _one(con, "SELECT max(month) FROM runs")
            if row is None or row[0] is None:
                raise StoreError(f"the store {self.path} holds no rated month yet")
            return str(row[0])
        if _one(con, "SELECT 1 FROM runs WHERE month = ?", [month]) is None:
            raise NotFound(f"month {month} is not in the store {self.path}")
        return month

    def policy(self, con: duckdb.DuckDBPyConnection, month: str) -> Policy:
        row = _one(con, "SELECT policy_toml FROM runs WHERE month = ?", [month])
        return policy_from_text(row[0], source=f"stored with {month}")

    def run_record(self, month: str | None = None) -> dict[str, Any]:
        with self._reader() as con:
            month = self.resolve_month(con, month)
            cur = con.execute("SELECT * FROM runs WHERE month = ?", [month])
            names = [d[0] for d in cur.description]
            record = dict(zip(names, cur.fetchall()[0]))
        for key in ("inputs", "counts", "unrated", "timings"):
            record[key] = json.loads(record[key])
        record.pop("policy_toml")
        return record

    def thresholds(self, month: str | None = None) -> dict[str, Any]:
        """The thresholds document of ``thresholds --json``."""
        with self._reader() as con:
            month = self.resolve_month(con, month)
            parts: dict[str, dict[str, Any]] = {}
            for name, rated, tier, share, rank, raw, rounded in con.execute(
                "SELECT partition, rated, tier, cumulative_share, rank, raw, rounded "
                "FROM thresholds WHERE month = ? ORDER BY partition, tier DESC", [month]
            ).fetchall():
                p = parts.setdefault(name, {"partition": name, "rated": rated,
                                            "thresholds": [], "tiers": []})
                p["thresholds"].append({"tier": tier, "cumulative_share": _num(share),
                                        "rank": rank, "raw": None if raw is None else f"{raw:.2f}",
                                        "rounded": rounded})
            for name, tier, count, nominal, realised in con.execute(
                "SELECT partition, tier, count, nominal_share, realised_share FROM tier_counts "
                "WHERE month = ? ORDER BY partition, tier DESC", [month]
            ).fetchall():
                p = parts.setdefault(name, {"partition": name, "rated": 0,
                                            "thresholds": [], "tiers": []})
                p["tiers"].append({"tier": tier, "count": count, "nominal_share": _num(nominal),
                                   "realised_share": float(realised)})
                p["rated"] = sum(t["count"] for t in p["tiers"])
        return {"month": month, "partitions": list(parts.values())}

    def lines(self, ids: Sequence[str], *, month: str | None = None, customer: bool = False,
              at: date | None = None) -> tuple[str, Policy, list[dict[str, Any]]]:
        """The stored rows of some lines (or of every line of some customers), each with its
        effective tier on ``at`` (default: today). Raises NotFound when nothing matches."""
        at = at or date.today()
        key = "customer_id" if customer else "subscriber_id"
        with self._reader() as con:
            month = self.resolve_month(con, month)
            policy = self.policy(con, month)
            cur = con.execute(
                f"SELECT * FROM lines WHERE month = ? AND {key} IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY subscriber_id", [month, list(ids)])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            if not rows:
                what = "customer" if customer else "subscriber"
                shown = ", ".join(mask_id(i) if not customer else i for i in ids)
                raise NotFound(f"{what} {shown} is not in month {month} of {self.path}")
            effective = _effective(con, [r["subscriber_id"] for r in rows], [month] * len(rows),
                                   [at] * len(rows))
        for row, eff in zip(rows, effective):
            row["effective"] = eff
        return month, policy, rows

    def effective_tiers(self, ids: pl.Series, at: pl.Series) -> pl.Series:
        """Effective tier per (subscriber, date), from the latest stored month not after the
        date's month (a ticket takes the tiers of the month it opened in). Null: not found."""
        import polars as pl

        dates = at.dt.date() if at.dtype != pl.Date else at
        with self._reader() as con:
            found = _effective(con, ids.cast(pl.String).to_list(), [None] * len(ids),
                               dates.to_list())
        return pl.Series("effective_tier", [None if f is None else f.tier for f in found],
                         dtype=pl.Int8)


EFFECTIVE_SQL = """
WITH req AS (
    SELECT unnest(?::BIGINT[]) AS i, unnest(?::VARCHAR[]) AS subscriber_id,
           unnest(?::VARCHAR[]) AS month, unnest(?::DATE[]) AS on_date),
req_month AS (
    SELECT i, subscriber_id, on_date, coalesce(month, (SELECT max(r.month) FROM runs r
                                                  WHERE r.month <= strftime(on_date, '%Y-%m'))) AS month
    FROM req),
hit AS (
    SELECT q.i, q.on_date, l.month, l.subscriber_id, l.customer_id, l.tier, l.customer_tier
    FROM req_month q JOIN lines l ON l.month = q.month AND l.subscriber_id = q.subscriber_id),
ov AS (
    SELECT h.i, max(o.tier) AS tier, arg_max(o.reason, o.tier) AS reason
    FROM hit h JOIN overrides o ON o.month = h.month AND o.valid_from <= h.on_date
        AND (o.valid_to IS NULL OR o.valid_to >= h.on_date)
        AND (o.subscriber_id = h.subscriber_id OR o.customer_id = h.customer_id)
    GROUP BY h.i)
SELECT h.i, h.tier, h.customer_tier, ov.tier, ov.reason,
       greatest(h.tier, h.customer_tier, ov.tier), r.unrated_service_tier
FROM hit h LEFT JOIN ov USING (i) JOIN runs r ON r.month = h.month
"""


def _effective(con: duckdb.DuckDBPyConnection, ids: list[str], months: list[str | None],
               dates: list[date]) -> list[Effective | None]:
    """Highest applies (就高原则): the line's own tier, the customer's best line, an override
    active on the date; else the policy's tier for unrated lines. None: no such line."""
    out: list[Effective | None] = [None] * len(ids)
    rows = con.execute(EFFECTIVE_SQL, [list(range(len(ids))), ids, months, dates]).fetchall()
    for i, own, customer, o_tier, o_reason, best, default in rows:
        out[i] = Effective(default if best is None else best, own, customer, o_tier, o_reason,
                           best is None)
    return out


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row, reading the result to its end (DuckDB 2 refuses new work on a
    connection with an unfinished result)."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None
