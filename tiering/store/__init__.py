"""The embedded store: a DuckDB catalog and one set of Parquet files per rated month.

Layout and why: tiering.store.catalog. Writing: tiering.store.writer (new files, then one
atomic swap of the catalog; a failed, interrupted or killed run changes nothing). Reading:
tiering.store.reader (readers in other processes are never blocked by a run and never see a
partial month). An analyst opens the catalog with plain DuckDB (``duckdb tiering.duckdb``,
then ``SELECT * FROM lines WHERE month = '2026-11'``); polars and Spark read a month's files
under ``tiering.duckdb.d/month=YYYY-MM/``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiering.errors import StoredThenInterrupted, StoreError
from tiering.store.catalog import DEFAULT_STORE, LINE_TYPES, check_format
from tiering.store.engine import duckdb
from tiering.store.reader import Effective, StoreReader

if TYPE_CHECKING:
    import polars as pl

    from tiering.engine import RateResult
    from tiering.policy import Policy
    from tiering.store.writer import Publication

__all__ = ["DEFAULT_STORE", "LINE_TYPES", "Effective", "Store", "StoreReader",
           "file_fingerprint"]

# Rows per Parquet row group: a look-up reads one group of the month's file (the lines are
# in id order, so the groups' min/max statistics rule the others out).
ROW_GROUP = 100_000
# Bytes per data page (before compression). DuckDB skips the pages of a row group whose
# statistics rule the id out, so a look-up decodes a page of each column, not the group.
# Measured (one id with every column, DuckDB, best of 11 on the loaded 2-core machine):
# 1 MiB pages (polars' default) -> 64 KiB: 1M lines in one file 29 -> 7.5 ms, in 20
# hash-partitioned files (each in id order) 135 -> 19 ms; 10M lines 35 -> 19 ms, in 20 files
# 144 -> 23 ms. Smaller row groups instead cost more in footers than they save (10,000
# rows, 20 files at 10M: 58 ms). The store's LZ4 pages decompress faster, so gain less (20
# files at 10M: 47 -> 27 ms). write_lines, every file the embedded engine writes (a month in
# one file or in parts), uses both settings.
DATA_PAGE = 64 * 1024


def file_fingerprint(path: str) -> str:
    import hashlib  # the writing commands' only: OpenSSL's loading is a look-up's 1-5 ms

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_lines(lines: pl.DataFrame, path: Path) -> None:
    """A month's lines (or a part's) as the store keeps them: LINE_TYPES, in id order, so a
    look-up reads one row group of each file. polars sorts ten million ids in a third of
    the time DuckDB's ORDER BY takes; both order strings by bytes. LZ4 (LZ4_RAW, which
    DuckDB, polars and Spark read): a million lines written in 1.5 s and 32 MB, against
    3.3 s and 23 MB with zstd, the store's write being a third of a run's time."""
    import polars as pl

    lines.lazy().select(pl.col(c).cast(pl.String) if t == "VARCHAR" else pl.col(c)
                        for c, t in LINE_TYPES).sort("subscriber_id").collect().write_parquet(
        path, compression="lz4", row_group_size=ROW_GROUP, data_page_size=DATA_PAGE)


def _pct(x100: int) -> Decimal:
    return Decimal(x100) / 100


class Store:
    """A store. Reading opens its catalog read-only; writing publishes a new catalog.

    The path names the catalog; a symbolic link is followed once, here, so the lock, the
    new files and the swap are all on the real store."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(os.path.realpath(path))

    # --- writing -------------------------------------------------------------------------

    def nearest_folder(self) -> Path:
        """The store's folder, or the nearest one above it that exists: where a run keeps
        its work files, on the store's file system, so they move in by a rename."""
        folder = self.path.parent
        while not folder.exists():
            folder = folder.parent
        return folder

    def check_writable(self) -> None:
        """Fail now, before a long rating, if this store cannot take a new month: it is not
        a store of this format, or its folder cannot be written."""
        folder = self.nearest_folder()
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write the store {self.path}: {folder} is not writable")
        if self.path.exists():
            try:
                con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise StoreError(f"{self.path} is not a tiering store: {exc}") from None
            try:
                check_format(con, self.path)
            finally:
                con.close()

    def write_month(self, result: RateResult, version: str | None = None) -> None:
        """Store ``result.month`` (replacing it if present) with the policy it was rated
        under, in one atomic step. A month rated in parts has its files moved in."""
        from concurrent.futures import ThreadPoolExecutor  # not on the look-up path

        from tiering import __version__
        from tiering.store.writer import publishing

        if result.frame is None:
            self.write_month_files(result, result.line_files, version)
            return
        # The inputs' digests (a run record names exactly what was rated) are read in a
        # thread while the lines are written: hashing releases the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            digests = {f: pool.submit(file_fingerprint, f)
                       for files in result.files.values() for f in files}
            pub: Publication | None = None
            try:
                with publishing(self.path) as pub:
                    pub.expected_bytes = result.frame.estimated_size() // 3
                    folder = pub.new_month_dir(result.month)
                    write_lines(result.frame, folder / "part-0.parquet")
                    inputs = {kind: {f: digests[f].result() for f in files}
                              for kind, files in result.files.items()}
                    self._publish_month(pub, result, [folder / "part-0.parquet"], inputs,
                                        version or __version__)
            except KeyboardInterrupt:
                if pub is not None and pub.published:
                    raise StoredThenInterrupted(month=result.month) from None
                raise

    def write_month_files(self, result: RateResult, files: Sequence[Path],
                          version: str | None = None) -> None:
        """Store a month whose lines another engine wrote as Parquet ``files`` (the columns
        and types of tiering.store.catalog.LINE_TYPES, in id order preferably): they are
        moved into the store, and ``result`` gives everything else (``result.lines`` is not
        read). Used by the Spark engine. Input files this machine can read are
        fingerprinted as by :meth:`write_month`; a cluster's (hdfs://, s3a://, tables) are
        recorded by name."""
        import shutil

        from tiering import __version__
        from tiering.store.writer import publishing

        inputs = {kind: {f: file_fingerprint(f) if os.path.isfile(f) else None for f in fs}
                  for kind, fs in result.files.items()}
        with publishing(self.path) as pub:
            folder = pub.new_month_dir(result.month)
            moved = []
            for i, f in enumerate(files):
                target = folder / f"part-{i}.parquet"
                shutil.move(f, target)  # a rename, or a copy from another file system
                moved.append(target)
            self._publish_month(pub, result, moved, inputs, version or __version__)

    def _publish_month(self, pub: Publication, result: RateResult, files: list[Path],
                       inputs: dict[str, dict[str, str | None]], version: str) -> None:
        con, policy = pub.con, result.policy
        pub.replace_month(result.month, files)
        thresholds, counts = _partition_rows(result)
        if thresholds:  # a month with no rated line has no cut points (SPEC 4)
            con.executemany("INSERT INTO thresholds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            thresholds)
        if counts:
            con.executemany("INSERT INTO tier_counts VALUES (?, ?, ?, ?, ?, ?)", counts)
        con.register("new_overrides", result.overrides)
        con.execute("INSERT INTO overrides SELECT ?, subscriber_id, customer_id, tier, "
                    "valid_from, valid_to, reason FROM new_overrides", [result.month])
        con.unregister("new_overrides")
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            result.month, datetime.now(timezone.utc), version, policy.fingerprint,
            policy.text, policy.rating.unrated_service_tier, json.dumps(inputs),
            json.dumps(result.counts), json.dumps(result.unrated), json.dumps(result.timings)])

    def delete_month(self, month: str) -> None:
        """Remove a stored month (its lines, thresholds, overrides and run record) in one
        atomic step, giving its space back. NotFound (listing the stored months) when it is
        not there."""
        from tiering.store.writer import publishing

        self.run_record(month)  # NotFound before taking the writer's lock
        with publishing(self.path) as pub:
            pub.drop_month(month)

    def export(self, out: str | Path, month: str | None = None, *, mask: bool = False,
               with_month: bool = False, effective_on: date | None = None
               ) -> tuple[str, int]:
        """Write a month's per-subscriber rows (SPEC section 7 columns) to Parquet or CSV;
        ``mask`` stars the middle of every subscriber id; ``with_month`` adds the month as
        the first column, ``effective_on`` each line's effective tier on that date as the
        last. The folder is created if needed; a failed export leaves no file behind."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        from tiering.engine import LINE_COLUMNS
        from tiering.privacy import mask_sql
        from tiering.store.writer import no_space, no_space_message

        out = Path(out)
        suffix = out.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise StoreError(f"{out}: export writes .parquet or .csv files")
        columns = ", ".join(f"l.{c}" for c in LINE_COLUMNS)
        if mask:
            columns = columns.replace("l.subscriber_id,",
                                      f"{mask_sql('l.subscriber_id')} AS subscriber_id,", 1)
        if with_month:
            columns = f"l.month, {columns}"
        with self.reader() as reader:
            month, table = reader.month_table(month, columns, effective_on=effective_on)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if suffix == ".parquet":
                pq.write_table(table, tmp)
            else:
                pcsv.write_csv(table, tmp, pcsv.WriteOptions(quoting_style="needed"))
            os.replace(tmp, out)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                if no_space(exc):
                    raise StoreError(no_space_message(out, table.nbytes)) from None
                raise StoreError(f"cannot write {out}: {exc.strerror or exc}") from None
            raise
        return month, table.num_rows

    # --- reading -------------------------------------------------------------------------

    def reader(self, *, index_after: int | None = 1) -> StoreReader:
        """A reader that stays open, for embedding: one read-only connection and the parsed
        policy, thresholds and (see ``index_after`` in :class:`StoreReader`) look-up index of
        each month, kept until a run swaps in a new catalog. Use it as a context manager
        (``with store.reader() as r: r.lines([...])``)."""
        return StoreReader(self.path, index_after=index_after)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[StoreReader]:
        with self.reader() as reader:
            yield reader

    def months(self) -> list[str]:
        with self._reader() as r:
            return r.months()

    def run_record(self, month: str | None = None) -> dict[str, Any]:
        with self._reader() as r:
            return r.run_record(month)

    def policy(self, month: str | None = None) -> Policy:
        """The policy a month was rated under."""
        with self._reader() as r:
            return r.policy(month)

    def thresholds(self, month: str | None = None) -> dict[str, Any]:
        """The thresholds document of ``thresholds --json``."""
        with self._reader() as r:
            return r.thresholds(month)

    def lines(self, ids: Sequence[str], *, month: str | None = None, customer: bool = False,
              at: date | None = None) -> tuple[str, Policy, list[dict[str, Any]]]:
        """See :meth:`StoreReader.lines` (this opens the store for one call)."""
        with self._reader() as r:
            return r.lines(ids, month=month, customer=customer, at=at)

    def month_lines(self, month: str | None = None) -> pl.DataFrame:
        """Every stored column of a month's lines (tiering.store.catalog.LINE_TYPES: the
        SPEC columns, their integer twins, ``partition``, ``customer_tier`` and the rating
        facts), in subscriber id order."""
        import polars as pl

        with self._reader() as r:
            _, table = r.month_table(month)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def effective_tiers(self, ids: pl.Series, at: pl.Series) -> pl.Series:
        """See :meth:`StoreReader.effective_tiers` (this opens the store for one call)."""
        with self._reader() as r:
            return r.effective_tiers(ids, at)


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
