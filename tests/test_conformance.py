"""The public conformance suite (`../shared/testdata/conformance/`): each hand-made case pins
one meaning of the contract. `rareflow analyze` runs on a copy of each case's data with its
own store, and the suite's own checker judges the outputs (exit status included)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rareflow.cli.main import app

ROOT = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "conformance"
CASES = sorted(p.parent.name for p in ROOT.glob("*/expected.json")) if ROOT.is_dir() else []


def _checker():
    spec = importlib.util.spec_from_file_location("conformance_check", ROOT / "check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_suite_is_there() -> None:
    assert len(CASES) >= 24, f"conformance suite not found under {ROOT}"


@pytest.mark.parametrize("case", CASES)
def test_conformance_case(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    check = _checker()
    data = tmp_path / "data"
    shutil.copytree(ROOT / case / "data", data)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(data), "--out", str(out),
                                   "--db", str(tmp_path / "store.duckdb")])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    (out / check.EXIT_FILE).write_text(f"{res.exit_code}\n")
    capsys.readouterr()
    report = check.check_case(str(ROOT / case), str(out))
    lines = capsys.readouterr().out.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert report.passed > 0
    assert report.failed == 0, "\n".join(failed) + "\n" + res.output
