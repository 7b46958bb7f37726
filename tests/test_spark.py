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


def test_spark_analyze_matches_duckdb(spark_store, example_dir: Path) -> None:
    """Every analysis (findings, balances, attribution and its cohort view and self-check,
    network tests) is the same on Spark as on DuckDB. The contract's example world with a
    re-export through an affiliate, a military receiver and an opening stock added, so that
    every rule's engine code runs on Spark; the whole demo world costs minutes of Spark jobs
    for no further code path."""
    append_rows(example_dir / "flows.csv",
                "X-F-1,2025-09-01,EX-IN-01,EX-IN-09,,ndfeb_magnet,100,,,,",
                "X-F-2,2025-09-15,EX-IN-09,,US,ndfeb_magnet,100,,,X-F-1,",
                "X-F-3,2025-10-01,EX-IN-01,EX-IN-08,,ndfeb_magnet,20,,,,")
    append_rows(example_dir / "parties.csv",
                "EX-IN-09,Example Affiliate Trading,IN,trader,,,,,,,",
                "EX-IN-08,Example Defence Motors,IN,manufacturer,,,,,,,")
    append_rows(example_dir / "observations.csv",
                "X-O-1,2025-01-10,EX-IN-08,military_contract,MOD-1,supplies the armed forces")
    (example_dir / "ownership.csv").write_text("owner_id,owned_id,share\nEX-IN-01,EX-IN-09,0.4\n")
    append_rows(example_dir / "stocks.csv", "EX-IN-01,2024-12-31,ndfeb_magnet,10")
    for name in spark_store.con.list_tables():  # the module's store: start empty
        spark_store.drop(name)
    results = []
    for ws in (Workspace.open(None), Workspace(spark_store)):
        ws.ingest(example_dir)
        results.append(ws.analyze())
    duck, spark = results
    assert {f.rule for f in duck.findings} >= {"unauthorised_reexport", "prohibited_end_use"}
    assert [f.model_dump() for f in duck.findings] == [f.model_dump() for f in spark.findings]
    b_keys = ["party_id", "period"]
    pd.testing.assert_frame_equal(_frame(duck.balances, b_keys), _frame(spark.balances, b_keys),
                                  check_dtype=False, rtol=1e-9)
    a_keys = ["destination", "period"]
    for name in ("attribution", "cohort", "checks"):
        pd.testing.assert_frame_equal(_frame(getattr(duck, name), a_keys),
                                      _frame(getattr(spark, name), a_keys), check_dtype=False,
                                      rtol=1e-9, atol=1e-6)
    pd.testing.assert_frame_equal(duck.reconciliation, spark.reconciliation, check_dtype=False,
                                  rtol=1e-9)
