"""The same ingest and analyses on a local PySpark session, through the same Ibis code."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import append_rows
from rareflow.workspace import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_store(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pyspark")
    from rareflow.store import open_store

    return open_store(engine="spark", warehouse=tmp_path_factory.mktemp("warehouse"))


def _frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys).reset_index(drop=True)


def test_spark_ingest_and_summary_match_duckdb(spark_store, example_dir: Path) -> None:
    append_rows(example_dir / "shipments.csv",
                "B-DATE,2025-13-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,1,,,,,,",
                "B-PARTY,2025-05-12,EX-CN-99,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,1,,,,,,",
                "B-NOLIC,2025-06-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,dy_metal,280530,40,,,,,,",
                "B-SHORT,2025-05-12")
    duck = Workspace.open(None)
    spark = Workspace(spark_store)
    reports = [w.ingest(example_dir) for w in (duck, spark)]
    loaded = [{t: r.loaded for t, r in rep.tables.items()} for rep in reports]
    assert loaded[0] == loaded[1]
    cols = ["table", "line", "column", "reason", "level"]
    rej = [_frame(w.rejects()[cols], cols[:3]) for w in (duck, spark)]
    assert rej[0][["table", "line", "column", "level"]].equals(
        rej[1][["table", "line", "column", "level"]])
    keys = ["destination", "year", "product"]
    ex = [_frame(w.exports(), keys) for w in (duck, spark)]
    pd.testing.assert_frame_equal(ex[0], ex[1], check_dtype=False)
    f = [sorted((x.rule, x.subject_id, x.message) for x in w.findings()) for w in (duck, spark)]
    assert f[0] == f[1]
    assert any(r == "licence_violation" and s == "B-NOLIC" for r, s, _ in f[0])
