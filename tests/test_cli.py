"""The real CLI, in process through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import append_rows, example_subset
from rareflow.cli.main import app

runner = CliRunner()


def test_validate_exit_codes(example_dir: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(example_dir)]).exit_code == 0
    # a bad row: in the required tables and stocks, the one table it is in
    bad = example_subset(tmp_path / "bad", "stocks")
    append_rows(bad / "stocks.csv", "EX-IN-01,2025-02-30,ndfeb_magnet,5")
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1
    assert "not a date" in res.output
    assert runner.invoke(app, ["validate", str(tmp_path / "nothing")]).exit_code == 2


def test_ingest_then_analyze_writes_contract_outputs(example_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    res = runner.invoke(app, ["ingest", str(example_dir), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert db.exists()
    out = tmp_path / "out"
    append_rows(example_dir / "shipments.csv",
                "S-X,2025-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,dy_metal,280530,10,,,,,,")
    res = runner.invoke(app, ["analyze", str(example_dir), "--out", str(out), "--db", str(db)])
    assert res.exit_code == 0, res.output
    for name in ("findings.jsonl", "balances.csv", "attribution.csv", "rejects.csv",
                 "report.html"):
        assert (out / name).exists(), name
    rows = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    assert [r["subject_id"] for r in rows] == ["S-X"]
    assert list(rows[0]) == ["id", "rule", "severity", "subject_type", "subject_id", "period",
                             "kg", "share", "evidence", "message"]


def test_every_command_has_help() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("validate", "ingest", "analyze", "demo"):
        sub = runner.invoke(app, [cmd, "--help"])
        assert sub.exit_code == 0 and len(sub.output) > 200, cmd
