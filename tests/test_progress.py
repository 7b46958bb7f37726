"""Progress of long work (`rareflow.cli.progress`): off a terminal, one status line per stage
on standard error, nothing on standard output; run through the installed command, with
standard error a pipe as in a script or a CI log."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from conftest import EXAMPLE, example_subset
from rareflow.cli.progress import PREFIX, stage

EXE = Path(sys.executable).with_name("rareflow")
STATUS = re.compile(r"^rareflow: (?P<what>[a-z]+): (?P<n>[\d,]+)(?: (?P<unit>[a-z]+))? in "
                    r"\d+\.\d s(?: \([\d,]+/s\))?$")


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def _stages(stderr: str) -> dict[str, tuple[int, str | None]]:
    out = {}
    for line in stderr.splitlines():
        m = STATUS.match(line)
        if m:
            out[m["what"]] = (int(m["n"].replace(",", "")), m["unit"])
    return out


def test_ingest_and_analyze_write_one_status_line_per_stage(tmp_path: Path) -> None:
    # ingest: the required tables and the certificates folder (the reading stage's count
    # of every table of the whole example is checked on analyze's, below)
    small = example_subset(tmp_path / "small", "certificates")
    res = _run("ingest", small, "--db", tmp_path / "a.duckdb")
    assert res.returncode in (0, 1), res.stderr
    stages = _stages(res.stderr)
    assert list(stages) == ["reading"], res.stderr
    # one step per table: each CSV, and the certificates/ folder gives two (certificates
    # and certificate_items)
    assert stages["reading"] == (len(list(small.glob("*.csv"))) + 2, "tables")
    assert not any(line.startswith(PREFIX) for line in res.stdout.splitlines())
    assert "\x1b[" not in res.stderr  # no bar, no colour codes in a log

    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    res = _run("analyze", data, "--db", tmp_path / "b.duckdb", "--out", tmp_path / "out")
    assert res.returncode in (0, 1), res.stderr
    stages = _stages(res.stderr)
    assert list(stages) == ["reading", "analysing", "writing"], res.stderr
    n_tables = len(list(data.glob("*.csv"))) + 2
    assert stages["reading"] == (n_tables, "tables")
    assert stages["writing"][1] == "files" and stages["writing"][0] >= 8
    assert stages["analysing"][0] >= 10  # one step per rule that ran, then the accounts
    assert "report: " in res.stdout and PREFIX not in res.stdout


def test_certificate_verify_of_a_folder_reports_its_stage(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    for i in range(3):
        shutil.copy(EXAMPLE / "certificates" / "EX-EUC-01.json", folder / f"c{i}.json")
    res = _run("certificate", "verify", folder, "--keys", EXAMPLE / "keys.csv", "--date",
               "2025-06-01")
    assert _stages(res.stderr) == {"verifying": (3, "certificates")}, res.stderr
    assert len(res.stdout.splitlines()) == 3 and PREFIX not in res.stdout


def test_a_stage_that_fails_writes_no_status_line() -> None:
    console = Console(file=__import__("io").StringIO(), force_terminal=False)
    try:
        with stage("reading", unit="tables", console=console) as s:
            s("flows")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert console.file.getvalue() == ""
    with stage("reading", unit="tables", console=console) as s:
        s("flows")
        s.advance(2)
    line = console.file.getvalue().strip()
    assert STATUS.match(line) and line.startswith("rareflow: reading: 3 tables in ")


def test_epcis_validate_reports_its_stage_and_keeps_stdout_to_results(tmp_path: Path) -> None:
    from conftest import TESTDATA

    schemas = TESTDATA / "epcis" / "gs1-normative-2.0.1"
    doc = TESTDATA / "epcis" / "rare-earth-example" / "rare-earth-magnet-chain.jsonld"
    res = _run("epcis", "validate", doc, "--schemas", schemas)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{doc}: valid\n"
    assert _stages(res.stderr) == {"checking": (1, "file")}, res.stderr
    # a bad file: one error line naming it, exit 2, no traceback; the stage still ends
    res = _run("epcis", "validate", doc, tmp_path, "--schemas", schemas)
    assert res.returncode == 2
    errors = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [f"error: cannot read {tmp_path}: it is a folder, not a file"]
    assert "Traceback" not in res.stderr
    assert _stages(res.stderr) == {"checking": (2, "files")}


def test_on_a_terminal_a_bar_that_takes_any_name_and_leaves_no_line() -> None:
    import io

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with stage("checking", 2, "files", console=console) as s:
        s("a[/b].json")  # markup in a file name: shown as it is, no MarkupError
        s("[bold]x")
    text = console.file.getvalue()
    assert "2/2" in text  # the bar was drawn
    assert PREFIX not in text  # no status line on a terminal: the bar was the progress
