"""The same ingest and analyses on a local PySpark session, through the same Ibis code.

The default run (`make test`) checks parity on the contract's example, extended so that every
rule's engine code and every kind of reject runs on Spark; the whole demo world on Spark
(minutes of Spark jobs for no further code path) is marked `slow` (`make test-all`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import Built, append_rows
from rareflow.workspace import AnalysisResult, Workspace

# one worker holds the Spark session (JVM start-up costs ~10 s)
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

# JVM flags for a short-lived local session: the client JIT and the serial collector cut the
# time of the many small Spark jobs by about 40% (nothing of Spark's SQL settings is changed)
TEST_JVM = {"spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
            "spark.ui.showConsoleProgress": "false"}


@pytest.fixture(scope="module")
def spark_session(tmp_path_factory: pytest.TempPathFactory):
    """The product's local session (`local_session`), started with the test JVM flags."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from rareflow.store.spark_store import local_session

    for key, value in TEST_JVM.items():  # the builder is shared: local_session adds its own
        SparkSession.builder.config(key, value)
    session = local_session(tmp_path_factory.mktemp("warehouse"))
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_workspace(session) -> Workspace:
    from rareflow.store.spark_store import SparkStore

    store = SparkStore(session=session)
    for name in store.con.list_tables():  # the session's catalogue: start empty
        store.drop(name)
    return Workspace(store)


def _frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys).reset_index(drop=True)


def _same_analysis(duck: AnalysisResult, spark: AnalysisResult) -> None:
    """Findings, balances, attribution (with its cohort view and self-check) and the network
    tests are the same on both engines."""
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


def test_spark_ingest_and_analyze_match_duckdb(spark_session, example_dir: Path) -> None:
    """Ingest (rows loaded, rejects, the export summary) and every analysis (findings,
    balances, attribution and its cohort view and self-check, network tests) are the same on
    Spark as on DuckDB. The contract's example with bad shipment rows (a bad date, an unknown
    party, a short row), a shipment without its licence, a re-export through an affiliate, a
    military receiver and an opening stock added, so that every rule's engine code and each
    kind of reject runs on Spark. (One test, formerly two: one Spark ingest instead of two.)"""
    append_rows(example_dir / "shipments.csv",
                "B-DATE,2025-13-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,1,,,,,,",
                "B-PARTY,2025-05-12,EX-CN-99,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,1,,,,,,",
                "B-NOLIC,2025-06-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,dy_metal,280530,40,,,,,,",
                "B-SHORT,2025-05-12")
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
    duck, spark = Workspace.open(None), _spark_workspace(spark_session)
    reports = [w.ingest(example_dir) for w in (duck, spark)]
    loaded = [{t: r.loaded for t, r in rep.tables.items()} for rep in reports]
    assert loaded[0] == loaded[1]
    cols = ["table", "line", "column", "reason", "level"]
    rej = [_frame(w.rejects()[cols], cols[:3]) for w in (duck, spark)]
    assert rej[0][["table", "line", "column", "level"]].equals(
        rej[1][["table", "line", "column", "level"]])
    assert {"B-DATE", "B-PARTY", "B-SHORT"} <= set(  # each kind of reject, on both
        example_dir.joinpath("shipments.csv").read_text().splitlines()[n - 1].split(",")[0]
        for n in rej[1][rej[1].table == "shipments"].line)
    keys = ["destination", "year", "product"]
    ex = [_frame(w.exports(), keys) for w in (duck, spark)]
    pd.testing.assert_frame_equal(ex[0], ex[1], check_dtype=False)
    results = [w.analyze() for w in (duck, spark)]
    rules = {(f.rule, f.subject_id) for f in results[0].findings}
    assert ("licence_violation", "B-NOLIC") in rules
    assert {r for r, _ in rules} >= {"unauthorised_reexport", "prohibited_end_use"}
    _same_analysis(*results)
    duck.close()


@pytest.mark.slow
def test_spark_demo_world_matches_duckdb(spark_session, demo_world: Built) -> None:
    """The whole demo world (every planted case) on Spark: the same rows loaded, rejects and
    analysis as on DuckDB (`conftest.demo_world`). Minutes of Spark jobs: `make test-all`."""
    spark = _spark_workspace(spark_session)
    report = spark.ingest(demo_world.data)
    assert ({t: r.loaded for t, r in report.tables.items()}
            == {t: r.loaded for t, r in demo_world.report.tables.items()})
    cols = ["table", "file", "line", "column", "level"]
    pd.testing.assert_frame_equal(_frame(demo_world.result.rejects[cols], cols[:4]),
                                  _frame(spark.rejects()[cols], cols[:4]), check_dtype=False)
    _same_analysis(demo_world.result, spark.analyze())
