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


def _set_aside(path: Path) -> list[tuple[str, int, str]]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return sorted((Path(r["file"]).name, int(r["line"]), r["column"]) for r in rows
                  if r.get("level", "").lower() not in ("warning", "info"))


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="conformance suite not available")
def test_analyze_exits_nonzero_when_rows_are_set_aside(tmp_path: Path) -> None:
    res, out = _analyze("23-rejects", tmp_path)
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
def test_analyze_run_twice_on_one_store_keeps_the_status(tmp_path: Path) -> None:
    res, _ = _analyze("23-rejects", tmp_path)
    assert res.exit_code == 1
    again = runner.invoke(app, ["analyze", str(tmp_path / "data"), "--out",
                                str(tmp_path / "out2"), "--db", str(tmp_path / "s.duckdb")])
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
