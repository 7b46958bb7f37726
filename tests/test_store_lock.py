"""A store held by another process (issue 9 point 5): a clear message naming the pid, a
documented exit status (3), and an optional wait (RAREFLOW_LOCK_WAIT). Two real processes:
a subprocess holds a DuckDB write connection on the file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import example_subset
from rareflow.errors import ConfigError, StoreBusyError
from rareflow.store import open_store

RAREFLOW = Path(sys.executable).with_name("rareflow")
HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
print("ready", flush=True)
hold = float(sys.argv[2])
if hold < 0:
    sys.stdin.read()
else:
    time.sleep(hold)
con.close()
"""


def hold(path: Path, seconds: float = -1) -> subprocess.Popen:
    """A process that holds `path` open for writing (until its stdin closes, or `seconds`)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def release(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


def cli(*args: object, wait: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAREFLOW_LOCK_WAIT"}
    env["COLUMNS"] = "200"
    if wait is not None:
        env["RAREFLOW_LOCK_WAIT"] = wait
    return subprocess.run([str(RAREFLOW), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A small dataset (the example's parties and shipments): the lock is what is tested."""
    return example_subset(tmp_path / "data")


def test_open_store_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    proc = hold(db)
    try:
        with pytest.raises(StoreBusyError) as err:
            open_store(db)
        assert err.value.detail["pid"] == proc.pid
        assert f"the store {db} is in use by another process (pid {proc.pid})" in (
            err.value.message)
        assert err.value.exit_code == 3
        started = time.monotonic()
        with pytest.raises(StoreBusyError, match="waited 0.5 s"):
            open_store(db, lock_wait=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        release(proc)
    open_store(db).close()  # free again


def test_lock_wait_setting_is_checked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAREFLOW_LOCK_WAIT", "soon")
    with pytest.raises(ConfigError, match="RAREFLOW_LOCK_WAIT"):
        open_store(tmp_path / "s.duckdb")


def test_second_process_gets_a_message_and_status_3(data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    proc = hold(db)
    try:
        for args in (("ingest", data, "--db", db),
                     ("trace", "EX-SHP-01", "--db", db),
                     ("analyze", data, "--db", db, "--out", tmp_path / "out")):
            res = cli(*args)
            assert res.returncode == 3, (args, res.stdout, res.stderr)
            assert "Traceback" not in res.stderr + res.stdout
            assert f"in use by another process (pid {proc.pid})" in res.stderr, res.stderr
            assert "RAREFLOW_LOCK_WAIT" in res.stderr
    finally:
        release(proc)


def test_waiting_for_the_store(data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    proc = hold(db, seconds=1.5)  # lets go by itself
    try:
        res = cli("ingest", data, "--db", db, wait="60")
        assert res.returncode == 0, res.stdout + res.stderr
        assert proc.poll() is not None  # it only went ahead once the holder had gone
    finally:
        release(proc)
