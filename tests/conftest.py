"""Shared fixtures: the contract's example dataset, the shared test data, a fresh workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rareflow.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLE = SHARED / "spec" / "example"
TESTDATA = SHARED / "testdata"


@pytest.fixture
def example_dir(tmp_path: Path) -> Path:
    """A private copy of the contract's example dataset."""
    dst = tmp_path / "example"
    shutil.copytree(EXAMPLE, dst)
    return dst


@pytest.fixture
def ws() -> Workspace:
    """A workspace on an in-memory DuckDB store."""
    w = Workspace.open(None)
    yield w
    w.close()


def append_rows(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
