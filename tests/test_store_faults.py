"""The store under faults (issues 11 and 12): modes, links, full and read-only disks, corrupt
stores, Ctrl-C and SIGTERM, kills at each named step of a write, and the cost of history.
Each test runs the real CLI in a subprocess and fails without the protection it names."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from fixtures.generate import generate
from tiering.store import Store
from tiering.store.writer import STEPS

EXE = shutil.which("tiering", path=str(Path(sys.executable).parent)) or "tiering"
SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "small"


def run(store: Path, month: str = "2026-11", *, billing: Path = SMALL / "billing.csv",
        subscribers: Path = SMALL / "subscribers.csv", env: dict[str, str] | None = None,
        wait: bool = True, parts: int | None = None
        ) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    args = [EXE, "run", "--month", month, "--billing", str(billing), "--subscribers",
            str(subscribers), "--store", str(store), *(["--parts", str(parts)] if parts else [])]
    if not wait:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, **(env or {})})
    return subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` but the lock: content hash and mode."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.endswith(".lock"):
            out[str(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest(),
                                               stat.S_IMODE(p.stat().st_mode))
    return out


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or ".tiering-rating-" in p.name]


def stored_dirs(store: Path) -> set[Path]:
    return {p for p in Path(f"{store}.d").glob("month=*/*")}


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A small file system of its own (a full disk, a read-only one): needs root to mount;
    CI runs as root, so there it is never skipped."""
    mount = tmp_path / "fs"
    mount.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                        capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("CI"):
            pytest.fail("cannot mount a tmpfs in CI")
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


# --- modes, groups, links ---------------------------------------------------------------

def test_a_restricted_store_stays_restricted(tmp_path: Path):
    store = tmp_path / "s.duckdb"
    assert run(store, "2026-10").returncode == 0
    os.chmod(store, 0o640)
    os.chown(store, -1, 100)  # another group ("users"): kept as well
    assert run(store).returncode == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o640 and store.stat().st_gid == 100
    written = list(Path(f"{store}.d").glob("month=2026-11/**/*"))
    assert written
    for p in written:  # what this run wrote: the catalog's mode (folders enterable) and group
        assert stat.S_IMODE(p.stat().st_mode) == (0o750 if p.is_dir() else 0o640), p
        assert p.stat().st_gid == 100, p


def test_a_new_store_is_private(tmp_path: Path):
    store = tmp_path / "new" / "s.duckdb"
    assert run(store).returncode == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    for p in Path(f"{store}.d").rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_a_symlinked_store_writes_the_real_one(tmp_path: Path):
    real = tmp_path / "real" / "s.duckdb"
    assert run(real, "2026-10").returncode == 0
    link = tmp_path / "link.duckdb"
    link.symlink_to(real)
    assert run(link).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert Store(real).months() == ["2026-10", "2026-11"]
    assert not Path(f"{link}.d").exists()


def test_writers_through_a_link_and_the_real_path_queue_on_one_lock(tmp_path: Path):
    import fcntl

    real = tmp_path / "s.duckdb"
    assert run(real, "2026-10").returncode == 0
    link = tmp_path / "link.duckdb"
    link.symlink_to(real)
    with open(f"{real}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a writer on the real path
        proc = run(link, wait=False)
        time.sleep(3)
        assert proc.poll() is None  # waits for it
    assert proc.wait(timeout=120) == 0


# --- disks ---------------------------------------------------------------------------------

def test_a_full_disk_fails_cleanly_and_changes_nothing(tmpfs: Path):
    store = tmpfs / "s.duckdb"
    assert run(store, "2026-10").returncode == 0
    before = snapshot(tmpfs)
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * (free - 300_000))
    before = snapshot(tmpfs)
    done = run(store)
    assert done.returncode == 2, done.stderr
    assert "no space left on" in done.stderr and "MB" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(tmpfs) == before
    assert not leftovers(tmpfs)


def test_an_export_to_a_full_disk_leaves_nothing(tmp_path: Path, tmpfs: Path):
    store = tmp_path / "s.duckdb"
    assert run(store).returncode == 0
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * (free - 2_000))
    done = subprocess.run([EXE, "export", "--out", str(tmpfs / "out.csv"), "--store",
                           str(store)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no space left on" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]


def test_a_read_only_folder_is_refused_before_the_rating(tmp_path: Path, tmpfs: Path):
    store = tmpfs / "s.duckdb"
    assert run(store, "2026-10").returncode == 0
    before = snapshot(tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    done = run(store)
    assert done.returncode == 2, done.stderr
    assert "not writable" in done.stderr and "Traceback" not in done.stderr
    export = subprocess.run([EXE, "export", "--out", str(tmpfs / "x.csv"), "--store",
                             str(store)], capture_output=True, text=True, timeout=120)
    assert export.returncode == 2 and "Traceback" not in export.stderr, export.stderr
    assert snapshot(tmpfs) == before


@pytest.mark.parametrize("content", [b"this is not a database\n" * 100, b""])
def test_a_corrupt_store_is_refused_before_the_rating(tmp_path: Path, content: bytes):
    store = tmp_path / "s.duckdb"
    store.write_bytes(content)
    done = run(store)
    assert done.returncode == 2, done.stderr
    assert "not a tiering store" in done.stderr and "Traceback" not in done.stderr
    assert store.read_bytes() == content and not leftovers(tmp_path)


def test_a_duckdb_file_of_something_else_is_refused(tmp_path: Path):
    store = tmp_path / "s.duckdb"
    con = duckdb.connect(str(store))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    before = store.read_bytes()
    done = run(store)
    assert done.returncode == 2 and "not a tiering store" in done.stderr, done.stderr
    assert store.read_bytes() == before


def test_a_0_1_store_is_named_with_its_upgrade(tmp_path: Path):
    store = tmp_path / "s.duckdb"
    con = duckdb.connect(str(store))
    con.execute("CREATE TABLE runs (month VARCHAR); CREATE TABLE lines (month VARCHAR)")
    con.close()
    done = run(store)
    assert done.returncode == 2 and "0.1 store" in done.stderr and "upgrade" in done.stderr


# --- interruptions and kills ---------------------------------------------------------------

@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate(200_000, tmp_path_factory.mktemp("ext"), seed=3)  # runs for seconds


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_so_and_changes_nothing(extract, tmp_path: Path, sig):
    subs, bill = extract
    store = tmp_path / "s.duckdb"
    assert run(store, "2026-10", billing=bill, subscribers=subs).returncode == 0
    before = snapshot(tmp_path)
    interrupted = 0
    for delay in (1.2, 1.8, 2.4):  # after start-up (Python itself is not ours to guard)
        proc = run(store, billing=bill, subscribers=subs, wait=False)
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            break  # finished before the signal: later delays would too
        assert proc.returncode == 130, err
        assert "Traceback" not in err and not leftovers(tmp_path)
        if "was stored in full" in err:  # the signal came after the swap: the month is whole
            assert Store(store).months() == ["2026-10", "2026-11"]
            assert len(stored_dirs(store)) == 2
            break
        assert "interrupted; the store is unchanged" in err
        assert snapshot(tmp_path) == before
        interrupted += 1
    assert interrupted >= 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_run_in_parts_stopped_midway_leaves_the_store_and_no_work_files(extract, tmp_path: Path,
                                                                       sig):
    """Ctrl-C removes the work folder on the way out; a SIGKILL cannot, and the next run
    removes it (its process is gone)."""
    subs, bill = extract
    store = tmp_path / "s.duckdb"
    assert run(store, "2026-10", billing=bill, subscribers=subs).returncode == 0
    before = snapshot(tmp_path)
    proc = run(store, billing=bill, subscribers=subs, wait=False, parts=4)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".tiering-rating-*/joined")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the parts are being scored
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
    assert snapshot(tmp_path) == before
    if sig == signal.SIGINT:
        assert not leftovers(tmp_path), "work files left behind"
    else:
        assert leftovers(tmp_path), "a SIGKILL leaves its work folder"
        assert run(store, "2026-09").returncode == 0
        assert not leftovers(tmp_path)


def test_a_signal_after_the_swap_waits_and_says_the_month_is_stored(tmp_path: Path):
    """Between the swap and the clean-up a signal must not undo what is published (it did:
    the clean-up of a failed write removed the month's new, live files)."""
    store = tmp_path / "s.duckdb"
    assert run(store, "2026-10").returncode == 0
    # The kill step "swapped" is replaced by a SIGTERM to itself, held until the clean-up.
    proc = run(store, env={"TIERING_KILL_AT": "swapped", "TIERING_KILL_SIGNAL": "SIGTERM"})
    assert proc.returncode == 130, proc.stderr
    assert "interrupted after month 2026-11 was stored in full" in proc.stderr
    assert Store(store).month_lines("2026-11").height == 30
    assert not leftovers(tmp_path) and len(stored_dirs(store)) == 2


@pytest.mark.parametrize("parts", [None, 3])
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_each_step_of_a_write_leaves_a_whole_store(tmp_path: Path, step: str,
                                                             parts: int | None):
    store = tmp_path / "s.duckdb"
    assert run(store, "2026-10").returncode == 0
    assert run(store).returncode == 0
    month_before = Store(store).month_lines("2026-11")
    catalog = store.read_bytes()
    killed = run(store, env={"TIERING_KILL_AT": step}, parts=parts)
    assert killed.returncode == -signal.SIGKILL
    s = Store(store)
    assert s.months() == ["2026-10", "2026-11"]
    # Before the swap the old catalog stands; after it the new one, whole. Either way the
    # month's lines are those of a complete run (the same inputs give the same lines).
    if step != "swapped":
        assert store.read_bytes() == catalog
    assert s.month_lines("2026-11").sort("subscriber_id").equals(
        month_before.sort("subscriber_id"))
    # The next writer removes what the killed one left: no copies, no unnamed folders.
    assert run(store, parts=parts).returncode == 0
    assert not leftovers(tmp_path)
    assert len(stored_dirs(store)) == 2


# --- history -------------------------------------------------------------------------------

def test_a_run_touches_only_its_month_and_a_rerun_gives_the_space_back(tmp_path: Path):
    store = tmp_path / "s.duckdb"
    for month in ("2026-09", "2026-10", "2026-11"):
        assert run(store, month).returncode == 0
    others = {p: p.stat().st_mtime_ns for p in Path(f"{store}.d").rglob("*.parquet")
              if "2026-11" not in str(p)}
    size = sum(p.stat().st_size for p in Path(f"{store}.d").rglob("*") if p.is_file())
    for _ in range(5):
        assert run(store).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in others} == others  # never rewritten
    after = sum(p.stat().st_size for p in Path(f"{store}.d").rglob("*") if p.is_file())
    assert after <= size * 1.01
    assert len(stored_dirs(store)) == 3
