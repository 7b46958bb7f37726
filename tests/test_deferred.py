"""A result kept in the engine (the licence ledger of `analyze`): counted, shown in part and
written whole by the engine, the same rows as in Python; a clear error after the store is
closed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rareflow.errors import RareflowError
from rareflow.workspace import Workspace


def test_ledger_stays_in_the_engine_until_written(example_dir: Path, tmp_path: Path) -> None:
    ws = Workspace.open(None)
    try:
        ws.ingest(example_dir)
        led = ws.analyze().licence_ledger
        full = ws.licence_ledger()
        assert led is not None and full is not None
        # the example's one licence (3,000 kg) drawn by two shipments: 1,200 then 1,500 kg
        assert led.rows == len(full) == 2
        assert list(led.head(1).declaration_id) == ["EX-D-0001"]
        assert led.count_where(led.expr.status != "within") == 0
        led.to_csv(tmp_path / "ledger.csv")
        written = pd.read_csv(tmp_path / "ledger.csv")
        assert list(written.columns) == list(full.columns)
        assert list(written.cumulative_kg) == [1200.0, 2700.0]
        assert list(written.remaining_kg) == [1800.0, 300.0]
    finally:
        ws.close()
    with pytest.raises(RareflowError, match="write the outputs before closing"):
        led.to_csv(tmp_path / "again.csv")
