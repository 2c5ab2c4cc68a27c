"""Publishing months: new files first, one atomic swap of the catalog, then the clean-up.

Nothing a reader can see changes until the swap (``os.replace`` of a new catalog file), so a
run that fails, is interrupted or killed leaves the store as it was; what it had written is
removed on the way out (a SIGKILL's leftovers by the next writer, under the lock). Everything
a run creates takes the mode and group of the catalog it replaces (a store restricted to its
owner stays so); a new store is created ``0600`` (folders ``0700``), less the umask: it holds
subscriber ids.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from tiering.errors import StoreError
from tiering.store.catalog import (
    MONTH_TABLES,
    SCHEMA,
    check_format,
    data_dir,
    lines_view,
    month_dir,
    month_files,
)

NEW_FILE_MODE = 0o600
# The named steps of a write; TIERING_KILL_AT=STEP makes the process send itself SIGKILL
# there (or TIERING_KILL_SIGNAL), so the fault tests can aim at each one
# (tests/test_store_faults.py).
STEPS = ("files_written", "catalog_written", "swapped")


def _step(name: str) -> None:
    if os.environ.get("TIERING_KILL_AT") == name:
        os.kill(os.getpid(), getattr(signal, os.environ.get("TIERING_KILL_SIGNAL", "SIGKILL")))


@dataclass(frozen=True, slots=True)
class Modes:
    """What a run's files and folders are created with: the catalog's mode and group."""

    file: int
    folder: int
    gid: int | None

    @classmethod
    def of(cls, catalog: Path) -> Modes:
        try:
            st = os.stat(catalog)
        except FileNotFoundError:
            file = NEW_FILE_MODE & ~_umask()
            return cls(file, _folder_mode(file), None)
        file = stat.S_IMODE(st.st_mode)
        return cls(file, _folder_mode(file), st.st_gid)

    def apply(self, path: Path, *, folder: bool = False) -> None:
        os.chmod(path, self.folder if folder else self.file)
        if self.gid is not None and os.stat(path).st_gid != self.gid:
            with contextlib.suppress(PermissionError):  # only a member of the group may
                os.chown(path, -1, self.gid)


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would change it for every
    thread for a moment)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def _folder_mode(file_mode: int) -> int:
    """A folder readers can enter wherever they may read the files (0600 -> 0700)."""
    return file_mode | ((file_mode & 0o444) >> 2)


@dataclass
class Publication:
    """One writer's changes: new month folders and the rows of a new catalog."""

    catalog: Path
    con: duckdb.DuckDBPyConnection
    modes: Modes
    run_id: str
    created: list[Path] = field(default_factory=list)
    superseded: list[Path] = field(default_factory=list)
    expected_bytes: int = 0
    published: bool = False  # the new catalog is the store: nothing may be undone any more

    def new_month_dir(self, month: str) -> Path:
        """A new, empty folder for a month's files, published by :meth:`replace_month`."""
        parent = month_dir(self.catalog, month)
        for folder in (data_dir(self.catalog), parent):
            if not folder.exists():
                folder.mkdir()
                self.modes.apply(folder, folder=True)
        path = parent / self.run_id
        path.mkdir()
        self.created.append(path)
        self.modes.apply(path, folder=True)
        return path

    def replace_month(self, month: str, files: list[Path]) -> None:
        """Drop what the catalog holds of ``month`` and point it at ``files``."""
        self.drop_month(month)
        root = data_dir(self.catalog)
        for f in files:
            self.modes.apply(f)
        self.con.executemany("INSERT INTO month_files VALUES (?, ?)",
                             [[month, str(f.relative_to(root))] for f in files])

    def drop_month(self, month: str) -> None:
        old = {(data_dir(self.catalog) / f).parent for (f,) in self.con.execute(
            "SELECT file FROM month_files WHERE month = ?", [month]).fetchall()}
        self.superseded.extend(sorted(old))
        for table in MONTH_TABLES:
            self.con.execute(f"DELETE FROM {table} WHERE month = ?", [month])


@contextlib.contextmanager
def publishing(catalog: Path, *, replace: bool = False) -> Iterator[Publication]:
    """Hold the store's lock and yield a :class:`Publication`; when the block ends without
    an error, make its changes the store in one atomic step. On any error (or Ctrl-C) the
    store stays as it was and every file written here is removed. ``replace`` starts from
    an empty catalog that replaces whatever file is there (the upgrade of a 0.1 store)."""
    try:
        folder = catalog.parent
        folder.mkdir(parents=True, exist_ok=True)
        modes = Modes.of(catalog)
        lock_fd = os.open(catalog.with_name(catalog.name + ".lock"), os.O_RDWR | os.O_CREAT,
                          modes.file)
    except PermissionError as exc:
        raise StoreError(f"cannot write the store {catalog}: {exc.filename or folder} is not "
                         "writable") from None
    except OSError as exc:
        raise _disk_error(exc, catalog, 0) from None
    # The new catalog is made inside a private folder, so no other user can read it before
    # it has the store's mode, then renamed into place.
    private = catalog.with_name(f".{catalog.name}.{os.getpid()}.tmp")
    tmp = private / catalog.name
    pub: Publication | None = None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # one writer at a time; readers never wait
        if not replace:
            _remove_leftovers(catalog)
        private.mkdir(mode=0o700)
        if catalog.exists() and not replace:
            shutil.copyfile(catalog, tmp)
        con = duckdb.connect(str(tmp))
        modes.apply(tmp)
        try:
            if catalog.exists() and not replace:
                check_format(con, catalog)
            con.execute(SCHEMA)
            pub = Publication(catalog, con, modes, _run_id())
            con.execute("BEGIN")
            yield pub
            _step("files_written")
            files = month_files(con, catalog)
            con.execute(f"CREATE OR REPLACE VIEW lines AS {lines_view(files)}")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        for path in [*pub.created, tmp]:
            _fsync_tree(path)
        _step("catalog_written")
        # From the swap on the month is stored: Ctrl-C and SIGTERM wait until the superseded
        # files are gone (then they arrive, and Store.write_month says the month was stored).
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            os.replace(tmp, catalog)
            pub.published = True
            _fsync_tree(folder)
            _step("swapped")
            for old in pub.superseded:  # readers on the old catalog re-read it (reader.py)
                shutil.rmtree(old, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    except BaseException as exc:
        if pub is not None and pub.published:
            raise  # a signal that waited for the swap: what was published stays
        for path in (pub.created if pub else []):
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(exc, (OSError, duckdb.Error)) and no_space(exc):
            raise _disk_error(exc, catalog, pub.expected_bytes if pub else 0) from None
        if isinstance(exc, PermissionError):
            raise StoreError(f"cannot write the store {catalog}: {exc}") from None
        if isinstance(exc, duckdb.IOException) and not isinstance(exc, duckdb.InterruptException):
            raise StoreError(f"cannot write the store {catalog}: {exc}") from None
        raise
    finally:
        shutil.rmtree(private, ignore_errors=True)
        os.close(lock_fd)


def _run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"run-{stamp}-{uuid.uuid4().hex[:8]}"


def _remove_leftovers(catalog: Path) -> None:
    """Holding the lock, what no catalog names is a killed writer's: remove it."""
    for stale in catalog.parent.glob(f".{catalog.name}.*.tmp*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    root = data_dir(catalog)
    if not catalog.exists() or not root.exists():
        return
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        check_format(con, catalog)
        live = {(root / f).parent for f in
                (r[0] for r in con.execute("SELECT file FROM month_files").fetchall())}
    finally:
        con.close()
    for month in root.glob("month=*"):
        for run in month.iterdir():
            if run not in live:
                shutil.rmtree(run, ignore_errors=True)
        with contextlib.suppress(OSError):
            month.rmdir()  # only when empty


def _fsync_tree(path: Path) -> None:
    """Flush a file, or a folder and the files in it, to disk before the swap names them."""
    paths = [path, *path.iterdir()] if path.is_dir() else [path]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc).lower()
    return "no space left" in text or "disk quota" in text


def _disk_error(exc: BaseException, catalog: Path, expected: int) -> StoreError:
    if not no_space(exc):
        return StoreError(f"cannot write the store {catalog}: {exc}")
    return StoreError(no_space_message(catalog, expected))


def no_space_message(path: Path, expected: int) -> str:
    mount = Path(os.path.realpath(path.parent))
    while not os.path.ismount(mount):
        mount = mount.parent
    needed = max(1, round(expected / 1e6))
    return (f"no space left on {mount} (needed about {needed:,} MB) writing {path}; "
            "nothing was changed")
