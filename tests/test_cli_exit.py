"""Exit status of `rareflow analyze`: non-zero when rows were set aside (contract, "Bad
input"), after every output is written; zero on a clean dataset. The real CLI, in process."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import TESTDATA
from rareflow.cli.dataset import EXIT_REJECTS, count_rejects
from rareflow.cli.main import app

CONFORMANCE = TESTDATA / "conformance"
OUTPUTS = ("findings.jsonl", "balances.csv", "attribution.csv", "rejects.csv", "report.html")
runner = CliRunner()


def _analyze(case: str, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(CONFORMANCE / case / "data", data)
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(data), "--out", str(out),
                              "--db", str(tmp_path / "s.duckdb")])
    return res, out


@pytest.fixture(scope="module")
def rejects_case(tmp_path_factory: pytest.TempPathFactory):
    """`analyze` of the conformance case 23-rejects, run once for the two tests on it:
    (result, OUT, the case's folder holding data/ and the store s.duckdb). Read-only."""
    root = tmp_path_factory.mktemp("23-rejects")
    res, out = _analyze("23-rejects", root)
    return res, out, root


def _set_aside(path: Path) -> list[tuple[str, int, str]]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return sorted((Path(r["file"]).name, int(r["line"]), r["column"]) for r in rows
                  if r.get("level", "").lower() not in ("warning", "info"))


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="conformance suite not available")
@pytest.mark.xdist_group("23-rejects")  # one worker: the case is analysed once
def test_analyze_exits_nonzero_when_rows_are_set_aside(rejects_case) -> None:
    res, out, _ = rejects_case
    assert res.exit_code == EXIT_REJECTS == 1, res.output
    for name in OUTPUTS:
        assert (out / name).exists(), name
    expected = json.loads((CONFORMANCE / "23-rejects" / "expected.json").read_text())
    want = sorted((r["file"], r["line"], r["column"]) for r in expected["rejects"]["rows"])
    assert _set_aside(out / "rejects.csv") == want == [
        ("flows.csv", 3, "to_id"), ("flows.csv", 4, "net_kg"), ("flows.csv", 5, "date"),
        ("shipments.csv", 3, "declaration_id")]
    assert "4 row(s) set aside" in res.output
    # the run went on: the rest is the case-01 chain, analysed
    att = pd.read_csv(out / "attribution.csv", dtype={"period": str})
    row = att[(att.destination == "IN") & (att.period == "2025")].iloc[0]
    assert row.verified_use_share == pytest.approx(1.0, abs=0.01)


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="conformance suite not available")
def test_analyze_exits_zero_on_a_clean_dataset(tmp_path: Path) -> None:
    res, out = _analyze("01-honest-chain", tmp_path)
    assert res.exit_code == 0, res.output
    for name in OUTPUTS:
        assert (out / name).exists(), name
    assert _set_aside(out / "rejects.csv") == []


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="conformance suite not available")
@pytest.mark.xdist_group("23-rejects")
def test_analyze_run_twice_on_one_store_keeps_the_status(rejects_case, tmp_path: Path) -> None:
    res, _, first = rejects_case
    assert res.exit_code == 1
    for f in first.glob("s.duckdb*"):  # the first run's store and what it keeps beside it
        shutil.copy(f, tmp_path / f.name)  # (a copy: the first run's is shared)
    db = tmp_path / "s.duckdb"
    again = runner.invoke(app, ["analyze", str(first / "data"), "--out",
                                str(tmp_path / "out2"), "--db", str(db)])
    assert again.exit_code == 1, again.output
    assert len(_set_aside(tmp_path / "out2" / "rejects.csv")) == 4


def test_analyze_unreadable_folder_exits_two(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", str(tmp_path / "nothing"), "--out",
                              str(tmp_path / "out"), "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 2, res.output


def test_warnings_are_not_rejects() -> None:
    frame = pd.DataFrame({"file": ["a.csv"] * 4, "level": ["reject", "warning", "info",
                                                            None]})
    assert count_rejects(frame) == 2  # a row without a level is set aside
    assert count_rejects(frame.drop(columns="level")) == 4
    assert count_rejects(pd.DataFrame()) == 0
    assert count_rejects(None) == 0


# --- one error-to-exit-status mapping for every command (cli/errors.py) ----------------------

def _one_error_line(res, status: int, *needles: str) -> str:
    """`status`, exactly one `error:` line on standard error naming every needle, no
    traceback anywhere."""
    assert res.exit_code == status, res.output
    assert "Traceback" not in res.output
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_every_command_runs_inside_the_mapping() -> None:
    from typer.main import get_command

    from rareflow.cli.errors import RareflowGroup

    assert isinstance(get_command(app), RareflowGroup)


def test_exit_status_of_each_kind_of_error() -> None:
    from rareflow.cli.errors import EXIT_CODES, exit_status
    from rareflow.errors import (
        ConfigError,
        DatasetError,
        InputLimitError,
        OutputError,
        StoreBusyError,
        UnreadableFileError,
        VerificationError,
    )

    cases = [
        (ConfigError("RAREFLOW_ENGINE='x': one of duckdb, spark"), 2),
        (DatasetError("no parties table"), 2),
        (UnreadableFileError("a.csv", "not UTF-8"), 2),
        (InputLimitError("a.json", "larger than 20 MB"), 2),
        (OutputError("k.json exists"), 2),
        (VerificationError("proof unreadable"), 1),
        (StoreBusyError("s.duckdb", 42), 3),
        (PermissionError(13, "Permission denied", "/x/out.csv"), 2),
        (FileNotFoundError(2, "No such file or directory", "/x/a", None, "/x/b"), 2),
        (KeyboardInterrupt(), 130),
        (ZeroDivisionError("division by zero"), 70),
    ]
    for exc, status in cases:
        code, message = exit_status(exc)
        assert code == status, exc
        assert code in EXIT_CODES
        assert "\n" not in message and message
    assert exit_status(StoreBusyError("s.duckdb", 42))[1].startswith(
        "the store s.duckdb is in use by another process (pid 42)")
    assert exit_status(PermissionError(13, "Permission denied", "/x/out.csv"))[1] == (
        "/x/out.csv: Permission denied")
    assert exit_status(FileNotFoundError(2, "No such file", "/x/a", None, "/x/b"))[1] == (
        "/x/a -> /x/b: No such file")
    message = exit_status(ValueError("bad\nthing " + "x" * 1000))[1]
    assert message.startswith("internal error (ValueError: bad thing x")
    assert "RAREFLOW_DEBUG=1" in message and len(message) < 500


def test_an_os_error_is_one_line_and_status_two(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = runner.invoke(app, ["synth", "--out", str(blocker / "world")])
    _one_error_line(res, 2, str(blocker), "Not a directory")


def test_an_output_that_exists_is_status_two(tmp_path: Path) -> None:
    key = tmp_path / "k.json"
    assert runner.invoke(app, ["keys", "new", "--out", str(key)]).exit_code == 0
    res = runner.invoke(app, ["keys", "new", "--out", str(key)])
    _one_error_line(res, 2, f"{key} exists: not overwritten")
    res = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "no" / "k.json")])
    _one_error_line(res, 2, "cannot write", "No such file or directory")
    world = tmp_path / "w"
    world.mkdir()
    (world / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["synth", "--out", str(world)])
    _one_error_line(res, 2, f"{world} is not empty")


def test_unreadable_input_is_status_two(tmp_path: Path) -> None:
    res = runner.invoke(app, ["certificate", "verify", str(tmp_path / "nothing.json")])
    _one_error_line(res, 2, "nothing.json", "not found")
    bad = tmp_path / "p.json"
    bad.write_text('{"A": [[1, -1]], "measured": [1], "variance": [1, 1]}')
    res = runner.invoke(app, ["reconcile", str(bad)])
    _one_error_line(res, 2, "shape mismatch")


def test_usage_errors_and_command_results_pass_through(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze"])  # click's own usage error
    assert res.exit_code == 2 and "Usage" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["reconcile", str(tmp_path / "p.json"), "--alpha", "2"])
    assert res.exit_code == 2 and "--alpha" in res.output
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("rareflow ")


def _probe_app():
    """A two-command app under the same root group as `rareflow` (its commands fail as a
    bug or Ctrl-C would: no real command should, so none is used for this)."""
    import typer

    from rareflow.cli.errors import RareflowGroup

    probe = typer.Typer(cls=RareflowGroup, pretty_exceptions_enable=False)

    @probe.command("bug")
    def bug() -> None:
        {}["missing"]  # noqa: B018  a KeyError: an internal error

    @probe.command("interrupt")
    def interrupt() -> None:
        raise KeyboardInterrupt

    sub = typer.Typer()

    @sub.command("bug")
    def sub_bug() -> None:
        raise RuntimeError("deep\ninside")

    probe.add_typer(sub, name="sub")
    return probe


def test_an_unexpected_error_is_an_internal_error_without_traceback() -> None:
    probe = _probe_app()
    res = runner.invoke(probe, ["bug"])
    line = _one_error_line(res, 70, "internal error (KeyError: 'missing')",
                           "RAREFLOW_DEBUG=1")
    assert "bug in rareflow" in line
    res = runner.invoke(probe, ["sub", "bug"])  # a sub-command too
    _one_error_line(res, 70, "internal error (RuntimeError: deep inside)")


def test_debug_shows_the_traceback() -> None:
    res = runner.invoke(_probe_app(), ["bug"], env={"RAREFLOW_DEBUG": "1"})
    assert res.exit_code == 70
    assert "Traceback" in res.stderr and "KeyError" in res.stderr
    assert res.stderr.rstrip().splitlines()[-1].startswith("error: internal error")


def test_ctrl_c_is_status_130() -> None:
    res = runner.invoke(_probe_app(), ["interrupt"])
    assert res.exit_code == 130
    assert res.stderr.strip() == "interrupted" and "Traceback" not in res.output


def test_the_installed_command_maps_errors_in_a_real_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    exe = Path(sys.executable).with_name("rareflow")
    proc = subprocess.run([str(exe), "synth", "--out", str(blocker / "w")],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "RAREFLOW_LOCK_WAIT": "soon"})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_the_exit_codes_page_lists_every_status() -> None:
    from conftest import ROOT
    from rareflow.cli.errors import EXIT_CODES

    page = (ROOT / "docs" / "commands" / "exit-codes.md").read_text("utf-8")
    for code in EXIT_CODES:
        assert f"| **{code}** |" in page, code
