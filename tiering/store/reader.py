"""Reading the store: a :class:`StoreReader` keeps one read-only connection between calls.

It reopens when a run has swapped in a new catalog; the one-shot ``Store.lines``/
``Store.effective_tiers``/... open a reader for a single call. A reader that keeps being
asked about a month answers from an in-memory index of it (tiering.store.index). User values
only ever reach SQL as parameters.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from tiering.errors import NotFound, StoreError
from tiering.policy import Policy, policy_from_text
from tiering.privacy import mask_id
from tiering.store.catalog import DEFAULT_STORE, check_format, lines_view, month_files
from tiering.store.engine import duckdb, relational

if TYPE_CHECKING:
    import polars as pl

    from tiering.store.index import MonthIndex

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Effective:
    """The tier that drives service for one line, and where it comes from (就高原则)."""

    tier: int
    own_tier: int | None
    customer_tier: int | None
    override_tier: int | None
    override_reason: str | None
    default_used: bool


def _retried(method: Callable[..., T]) -> Callable[..., T]:
    """Run a read again, once, on the new catalog when a run swapped it mid-call: the run
    removes the files the old catalog named, so the first try may find them gone."""

    @functools.wraps(method)
    def wrapper(self: StoreReader, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (duckdb.IOException, StoreError):
            with self._lock:
                if not self._swapped():
                    raise
                self.close()
            return method(self, *args, **kwargs)

    return wrapper


class StoreReader:
    """Read-only access to a store that stays open between calls.

    Holds one connection and, per month, the parsed policy and the thresholds document. Every
    call first compares the file's identity (``os.stat``: device, inode, mtime, size) with the
    one it opened; a run swaps in a new file with ``os.replace``, so a changed identity means a
    new store and the reader reopens. A reader therefore never answers from a replaced file for
    longer than the call that was running when the swap happened.

    The connection is a private in-memory DuckDB with the store ATTACHed read-only, not
    ``duckdb.connect(path)``: DuckDB shares one database instance per path inside a process, so
    a plain connect after a swap could be handed the instance another reader still holds on
    the old file. Calls are serialised by a lock; for parallel look-ups use one reader per
    thread, and open readers after forking worker processes, not before (a DuckDB connection
    does not survive a fork).

    Look-ups by subscriber id (``lines`` and ``effective_tiers``; not ``customer=True``) of
    a month are answered by SQL for the first ``index_after`` calls that need the month, and
    from then on by an in-memory index of it (tiering.store.index), built once and dropped
    with the file. SQL costs milliseconds of planning and scanning per call but nothing up
    front; the index costs a read of the month once (under a second per million lines) and
    then a fraction of a millisecond per call. So a one-shot call (``Store.lines``, the CLI)
    never builds one, and a long-lived reader does on its second call of a month.
    ``index_after=0`` builds it on the first call, ``None`` never. Memory per indexed month:
    about 10 bytes a line for ``effective_tiers`` (8 for an id that packs into 64 bits, else
    the longest id's length; 2 for the tiers), about 65 more once ``lines`` needs every
    column (building it briefly holds the month's ids and columns as Arrow as well).
    """

    # Above this many ids, the ids reach DuckDB as a registered Arrow column, not a list.
    TABLE_IDS = 2_000

    def __init__(self, path: str | Path = DEFAULT_STORE, *, index_after: int | None = 1) -> None:
        self.path = Path(path)
        self.index_after = index_after
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int, int, int] | None = None
        self._runs: dict[str, int] = {}  # month -> unrated_service_tier, of the open file
        self._files: dict[str, list[Path]] = {}  # month -> its line files, of the open file
        self._policies: dict[str, Policy] = {}
        self._thresholds: dict[str, dict[str, Any]] = {}
        self._calls: dict[str, int] = {}  # month -> look-ups that needed it
        self._indexes: dict[str, MonthIndex | None] = {}  # None: the month cannot be indexed
        self._lock = threading.RLock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._identity = None, None
            self._runs, self._files, self._policies, self._thresholds = {}, {}, {}, {}
            self._calls, self._indexes = {}, {}

    # --- the connection --------------------------------------------------------------------

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection to the current store file (reopened if a run swapped it)."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except OSError:
                self.close()
                raise StoreError(f"no store at {self.path}: run `tiering run` first "
                                 "(or give --store PATH)") from None
            identity = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            if self._con is None or identity != self._identity:
                self.close()
                # The identity was taken before the open: a swap in between makes the open
                # see the newer file and the next call reopen once more, never the reverse.
                self._con, self._runs, self._files = self._open()
                self._identity = identity
            return self._con

    def _open(self) -> tuple[duckdb.DuckDBPyConnection, dict[str, int], dict[str, list[Path]]]:
        con = duckdb.connect()
        try:
            con.execute("ATTACH $path AS store (READ_ONLY)", {"path": str(self.path)})
            con.execute("USE store")
            check_format(con, self.path)
            runs = dict(con.execute(
                "SELECT month, unrated_service_tier FROM runs ORDER BY month").fetchall())
            files = month_files(con, self.path)
        except StoreError:
            con.close()
            raise
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        return con, runs, files

    def _lines(self, month: str | None = None) -> str:
        """The ``lines`` relation (SQL text) of one month, or of every month if None, from the
        files where the catalog is now (the catalog's own view for analysts names them by
        absolute path, so it breaks if the store moves). A query names only the month it
        reads: each month's files cost a read of their footers when a query is planned
        (measured at 10M lines a month: 8 ms a month), so a view of every month made a
        look-up's cost grow with the history kept."""
        files = self._files if month is None else (
            {month: self._files[month]} if self._files.get(month) else {})
        return f"({lines_view(files)})"

    def _swapped(self) -> bool:
        """Whether a run has swapped in another catalog since this reader opened it."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) != self._identity

    # --- months, runs, policy, thresholds ----------------------------------------------------
    # Each public call checks the file once (connection()) and then works on that connection
    # only: the private helpers below never reopen, so one call never mixes two files.

    def months(self) -> list[str]:
        with self._lock:
            self.connection()
            return list(self._runs)

    def resolve_month(self, month: str | None = None) -> str:
        """``month`` if the store holds it, the latest stored month if None."""
        with self._lock:
            self.connection()
            return self._resolve(month)

    def policy(self, month: str | None = None) -> Policy:
        """The policy a month was rated with, as stored with its run (parsed once)."""
        with self._lock:
            con = self.connection()
            return self._policy(con, self._resolve(month))

    @_retried
    def month_table(self, month: str | None = None, columns: str = "* EXCLUDE (month)",
                    *, effective_on: date | None = None) -> tuple[str, Any]:
        """A month's lines as an Arrow table of ``columns`` (fixed SQL text over ``lines``
        as ``l``), in id order; with ``effective_on``, each line's effective tier on that
        date follows as ``effective_tier``."""
        relational()
        with self._lock:
            con = self.connection()
            month = self._resolve(month)
            params: dict[str, Any] = {"month": month}
            if effective_on is None:
                sql = f"SELECT {columns} FROM {LINES} l WHERE l.month = $month"
            else:
                params["on"] = effective_on
                sql = (f"SELECT {columns}, e.effective_tier FROM {LINES} l JOIN "
                       f"({effective_sql(REQUESTS_OF_MONTH)}) e USING (subscriber_id) "
                       "WHERE l.month = $month")
            return month, con.sql(with_lines(f"{sql} ORDER BY l.subscriber_id",
                                             self._lines(month)), params=params
                                  ).to_arrow_table()

    def run_record(self, month: str | None = None) -> dict[str, Any]:
        with self._lock:
            con = self.connection()
            cur = con.execute("SELECT * FROM runs WHERE month = ?", [self._resolve(month)])
            names = [d[0] for d in cur.description]
            record = dict(zip(names, cur.fetchall()[0]))
        for key in ("inputs", "counts", "unrated", "timings"):
            record[key] = json.loads(record[key])
        record.pop("policy_toml")
        return record

    def thresholds(self, month: str | None = None) -> dict[str, Any]:
        """The thresholds document of ``thresholds --json`` (read once per month)."""
        with self._lock:
            con = self.connection()
            month = self._resolve(month)
            if month not in self._thresholds:
                self._thresholds[month] = _thresholds_doc(con, month)
            return copy.deepcopy(self._thresholds[month])

    def _resolve(self, month: str | None) -> str:
        if month is None:
            if not self._runs:
                raise StoreError(f"the store {self.path} holds no rated month yet")
            return max(self._runs)
        if month not in self._runs:
            stored = ", ".join(self._runs) or "none"
            raise NotFound(f"month {month} is not in the store {self.path} "
                           f"(months stored: {stored})")
        return month

    def _policy(self, con: duckdb.DuckDBPyConnection, month: str) -> Policy:
        if month not in self._policies:
            row = _one(con, "SELECT policy_toml FROM runs WHERE month = ?", [month])
            self._policies[month] = policy_from_text(row[0], source=f"stored with {month}")
        return self._policies[month]

    # --- look-ups ----------------------------------------------------------------------------

    @_retried
    def lines(self, ids: Sequence[str], *, month: str | None = None, customer: bool = False,
              at: date | None = None) -> tuple[str, Policy, list[dict[str, Any]]]:
        """The stored rows of some lines (or of every line of some customers), each with its
        effective tier on ``at`` (default: today) under ``"effective"``, ordered by
        subscriber id. Raises NotFound when nothing matches."""
        at = at or date.today()
        wanted = list(dict.fromkeys(ids))
        with self._lock:
            con = self.connection()
            month = self._resolve(month)
            policy = self._policy(con, month)
            index = None if customer else self._index(con, month, rows=True)
            rows = (_indexed_rows(index, month, wanted, at) if index is not None
                    else self._sql_rows(con, month, wanted, customer, at))
        if not rows:
            what = "customer" if customer else "subscriber"
            shown = ", ".join(mask_id(i) if not customer else i for i in ids)
            raise NotFound(f"{what} {shown} is not in month {month} of {self.path}")
        return month, policy, rows

    def _sql_rows(self, con: duckdb.DuckDBPyConnection, month: str, wanted: list[Any],
                  customer: bool, at: date) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"month": month, "on": at}
        if customer:
            requests = REQUESTS_OF_CUSTOMERS
            params["ids"] = wanted
        elif len(wanted) == 1:
            requests = REQUEST_ONE
            params["id"] = wanted[0]
        elif len(wanted) <= self.TABLE_IDS:
            requests = REQUESTS_LISTED
            params["ids"] = wanted
        else:
            requests = REQUESTS_REGISTERED
            relational()  # Arrow data is registered by the package's Python layer
            con.register(REQUESTS_TABLE, _id_table(wanted))
        try:
            sql = effective_sql(requests, LINE_ALL, NARROW_ONE if requests is REQUEST_ONE
                                else "")
            cur = con.execute(with_lines(sql, self._lines(month)), params)
            names = [d[0] for d in cur.description]
            found = cur.fetchall()
        finally:
            if requests is REQUESTS_REGISTERED:
                con.unregister(REQUESTS_TABLE)
        first_line = names.index(EFFECTIVE_COLUMNS[-1]) + 1
        line_names = names[first_line:]
        # In id order; Python's order of str is DuckDB's order of VARCHAR (UTF-8 bytes keep
        # code point order), and sorting here spares the query an ORDER BY.
        found.sort(key=itemgetter(first_line + line_names.index("subscriber_id")))
        rows = []
        for r in found:
            row = dict(zip(line_names, r[first_line:]))
            tier, default_used, o_tier, o_reason = r[1:first_line]
            row["effective"] = Effective(tier, row["tier"], row["customer_tier"], o_tier, o_reason,
                                         default_used)
            rows.append(row)
        return rows

    @_retried
    def effective_tiers(self, ids: pl.Series, at: pl.Series) -> pl.Series:
        """Effective tier per (subscriber, date), from the latest stored month not after the
        date's month (a ticket takes the tiers of the month it opened in). Null: not found."""
        import polars as pl

        dates = (at.dt.date() if at.dtype != pl.Date else at).cast(pl.Date)
        with self._lock:
            con = self.connection()
            indexed = self._indexed_tiers(con, ids, dates)
            if indexed is not None:
                return indexed
            n = len(ids)
            requests = pl.DataFrame({"i": pl.int_range(n, dtype=pl.Int64, eager=True),
                                     "subscriber_id": ids.cast(pl.String), "on_date": dates})
            relational()
            con.register(REQUESTS_TABLE, requests)
            try:
                found = con.sql(with_lines(
                    f"SELECT i, effective_tier FROM ({effective_sql(REQUESTS_DATED)})",
                    self._lines())).to_arrow_table()
            finally:
                con.unregister(REQUESTS_TABLE)
        found_df = pl.from_arrow(found)
        assert isinstance(found_df, pl.DataFrame)
        return pl.repeat(None, n, dtype=pl.Int8, eager=True).alias("effective_tier").scatter(
            found_df["i"], found_df["effective_tier"].cast(pl.Int8))

    def _indexed_tiers(self, con: duckdb.DuckDBPyConnection, ids: pl.Series, dates: pl.Series
                       ) -> pl.Series | None:
        """``effective_tiers`` from the indexes of the months the dates fall in; None when
        one of them is (still) to be answered by SQL."""
        import numpy as np
        import polars as pl
        import pyarrow as pa

        from tiering.store.index import months_of

        months = list(self._runs)
        on = dates.to_numpy()
        month_of = months_of(on, months)
        touched = np.unique(month_of[month_of >= 0]).tolist()
        indexes = [self._index(con, months[m], rows=False) for m in touched]
        if None in indexes:
            return None
        keys = ids.cast(pl.String).to_arrow()
        tier = np.zeros(len(ids), np.int8)  # 0: not found
        for m, index in zip(touched, indexes, strict=True):
            assert index is not None
            asked = np.flatnonzero(month_of == m)
            lines, found = index.find(keys.take(asked))
            hit = asked[found]
            tier[hit] = index.effective(lines[found], on[hit]).tier
        return pl.Series("effective_tier", pa.array(tier, mask=tier == 0))

    def _index(self, con: duckdb.DuckDBPyConnection, month: str, *, rows: bool
               ) -> MonthIndex | None:
        """The month's index when this call is to use it (see ``index_after``), loaded on
        first use, with ``lines``' columns if ``rows``; None: answer with SQL."""
        calls = self._calls[month] = self._calls.get(month, 0) + 1
        if self.index_after is None or calls <= self.index_after:
            return None
        index = self._indexes.get(month)
        if month not in self._indexes or (rows and index is not None and index.rows is None):
            index = self._indexes[month] = _load_index(con, month, self._runs[month],
                                                       self._lines(month), rows=rows)
        return index


def _load_index(con: duckdb.DuckDBPyConnection, month: str, unrated_service_tier: int,
                month_lines: str, *, rows: bool) -> MonthIndex | None:
    from tiering.store import index as month_index

    relational()
    params = {"month": month}
    overrides = con.sql(with_lines(MONTH_OVERRIDES, month_lines), params=params
                        ).to_arrow_table()
    lines = con.sql(with_lines(MONTH_LINES.format(columns=INDEX_ALL if rows else INDEX_RULE,
                                                  lines=LINES),
                               month_lines), params=params).to_arrow_reader(month_index.CHUNK)
    return month_index.build(lines, overrides, unrated_service_tier, rows=rows)


def _indexed_rows(index: MonthIndex, month: str, wanted: list[Any], at: date
                  ) -> list[dict[str, Any]]:
    """``lines`` from a month's index: the same rows, in the same order, as ``_sql_rows``."""
    import numpy as np
    import pyarrow as pa

    stored = index.rows
    assert stored is not None
    texts = [None if i is None else str(i) for i in wanted]
    at_line, found = index.find(pa.array(texts, pa.large_string()))
    lines, first = np.unique(at_line[found], return_index=True)  # id order, each line once
    ids = [texts[i] for i in np.flatnonzero(found)[first].tolist()]
    tiers = index.effective(lines, np.full(len(lines), np.datetime64(at, "D")))
    # A frame's row costs microseconds and a gather a tenth of a millisecond to set up.
    picked = ([stored.row(i) for i in lines.tolist()] if len(lines) <= FEW_ROWS
              else stored[lines].rows())
    columns = stored.columns  # a new list from the frame at each ask
    names = ("month", "subscriber_id", *columns, "effective")
    own, customer = columns.index("tier"), columns.index("customer_tier")
    reasons = index.overrides.reasons
    return [dict(zip(names, (month, sid, *row, _effective(
                tier, row[own], row[customer], o_tier or None, reasons[o_rank], default_used)),
                     strict=True))
            for sid, row, tier, default_used, o_tier, o_rank in zip(
                ids, picked, tiers.tier.tolist(), tiers.default_used.tolist(),
                tiers.override_tier.tolist(), tiers.override_rank.tolist(), strict=True)]


# Effective is frozen, so equal ones can be one object: a batch of lines makes a handful.
_effective = functools.lru_cache(maxsize=1024)(Effective)
FEW_ROWS = 32


def _thresholds_doc(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, Any]:
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


def _id_table(ids: list[Any]) -> Any:
    import pyarrow as pa

    return pa.table({"i": pa.array(range(len(ids)), pa.int64()),
                     "subscriber_id": pa.array([None if i is None else str(i) for i in ids],
                                               pa.string())})


# The look-ups ask EFFECTIVE_SQL about a relation of requests (i, subscriber_id, month,
# on_date). Each form below is fixed SQL text: user ids and dates only ever arrive as
# parameters or as a registered column of data, never as SQL. LINES stands for the lines of
# the months a query reads (StoreReader._lines: our own file names), put in by with_lines.
LINES = "{lines}"


def with_lines(sql: str, lines: str) -> str:
    return sql.replace(LINES, lines)


REQUESTS_TABLE = "tiering_lookup_requests"
REQUEST_ONE = ("SELECT 0::BIGINT AS i, $id::VARCHAR AS subscriber_id, $month::VARCHAR AS month, "
               "$on::DATE AS on_date")
REQUESTS_LISTED = ("SELECT unnest(range(len($ids::VARCHAR[]))) AS i, "
                   "unnest($ids::VARCHAR[]) AS subscriber_id, $month::VARCHAR AS month, "
                   "$on::DATE AS on_date")
REQUESTS_REGISTERED = (f"SELECT i, subscriber_id, $month::VARCHAR AS month, $on::DATE AS on_date "
                       f"FROM {REQUESTS_TABLE}")
REQUESTS_OF_CUSTOMERS = ("SELECT row_number() OVER () AS i, subscriber_id, month, "
                         "$on::DATE AS on_date FROM {lines} "
                         "WHERE month = $month AND customer_id IN (SELECT unnest($ids::VARCHAR[]))")
REQUESTS_OF_MONTH = ("SELECT row_number() OVER () AS i, subscriber_id, month, "
                     "$on::DATE AS on_date FROM {lines} WHERE month = $month")
# A ticket takes the tiers of the latest stored month not after the month it opened in.
REQUESTS_DATED = ("SELECT q.i, q.subscriber_id, (SELECT max(r.month) FROM runs r "
                  "WHERE r.month <= strftime(q.on_date, '%Y-%m')) AS month, q.on_date "
                  f"FROM {REQUESTS_TABLE} q")
# With one request, the same id and month also go straight to the scan of lines as constants:
# DuckDB then skips every row group the zone maps rule out (lines are stored in id order) and
# plans no dynamic join filter. It narrows what is read, never what matches.
NARROW_ONE = "WHERE l.month = $month AND l.subscriber_id = $id"

# What a month's index reads (tiering.store.index): the lines, and the overrides matched to
# the lines they apply to as ``matched`` below does (fixed text; the month is a parameter).
MONTH_LINES = "SELECT {columns} FROM {lines} WHERE month = $month"
INDEX_RULE = "subscriber_id, tier, customer_tier"
INDEX_ALL = "* EXCLUDE (month)"
MONTH_OVERRIDES = """
SELECT l.subscriber_id, o.tier, o.valid_from, o.valid_to, o.reason
FROM overrides o JOIN {lines} l ON l.month = o.month AND l.subscriber_id = o.subscriber_id
WHERE o.month = $month
UNION ALL
SELECT l.subscriber_id, o.tier, o.valid_from, o.valid_to, o.reason
FROM overrides o JOIN {lines} l ON l.month = o.month AND l.customer_id = o.customer_id
WHERE o.month = $month
"""

# Highest applies (就高原则), the one definition of the effective tier: the line's own tier,
# the customer's best line, an override active on the date; else the policy's tier for
# unrated lines (tiering.store.index.highest_applies is its array twin for indexed months,
# tiering.effective.effective_tier the scalar one; tests hold them equal). Of active overrides of
# equal tier, the greatest reason is reported, whatever order the rows come in. One row per
# request that names a stored line: the request's i, the
# EFFECTIVE_COLUMNS, then the line's columns: LINE_KEYS (what the rule reads) or all of them.
LINE_KEYS = "l.month, l.subscriber_id, l.customer_id, l.tier, l.customer_tier"
LINE_ALL = "l.*"
EFFECTIVE_COLUMNS = ("effective_tier", "default_used", "override_tier", "override_reason")
EFFECTIVE_SQL = """
WITH hit AS (
    SELECT q.i, q.on_date, {line_columns}
    FROM ({requests}) q JOIN {lines} l ON l.month = q.month AND l.subscriber_id = q.subscriber_id
    {narrow}),
matched AS (  -- the overrides of the line, then those of its customer (two equi-joins:
               -- one join on "subscriber OR customer" would compare every pair)
    SELECT h.i, h.on_date, o.tier, o.reason, o.valid_from, o.valid_to
    FROM hit h JOIN overrides o ON o.month = h.month AND o.subscriber_id = h.subscriber_id
    UNION ALL
    SELECT h.i, h.on_date, o.tier, o.reason, o.valid_from, o.valid_to
    FROM hit h JOIN overrides o ON o.month = h.month AND o.customer_id = h.customer_id),
ov AS (
    SELECT i, max(tier) AS tier,
           first(reason ORDER BY tier DESC, reason DESC NULLS LAST) AS reason
    FROM matched
    WHERE valid_from <= on_date AND (valid_to IS NULL OR valid_to >= on_date)
    GROUP BY i)
SELECT h.i,
       coalesce(greatest(h.tier, h.customer_tier, ov.tier), r.unrated_service_tier) AS effective_tier,
       greatest(h.tier, h.customer_tier, ov.tier) IS NULL AS default_used,
       ov.tier AS override_tier, ov.reason AS override_reason,
       h.* EXCLUDE (i, on_date)
FROM hit h LEFT JOIN ov USING (i) JOIN runs r ON r.month = h.month
"""


def effective_sql(requests: str, line_columns: str = LINE_KEYS, narrow: str = "") -> str:
    """EFFECTIVE_SQL over one of the request forms above (all fixed text)."""
    return EFFECTIVE_SQL.format(requests=requests, line_columns=line_columns, narrow=narrow,
                                lines=LINES)


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row, reading the result to its end (DuckDB 2 refuses new work on a
    connection with an unfinished result)."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None
