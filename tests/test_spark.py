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

# The test session's start-up settings, passed to the product's `local_session` (in PySpark 4
# `SparkSession.builder` is a new builder at each access: a setting made on it elsewhere is
# lost). They choose how the JVM and Spark's memory run, not what a query computes.
TEST_CONF = {
    # a short-lived driver: the client JIT alone and the serial collector (the server JIT's
    # compilations of Spark's code cost more CPU than the test's small jobs gain from them);
    # a fixed young generation and a larger first metaspace threshold: fewer collections, no
    # full one for the class metadata of generated code
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmn512m "
                                     "-XX:MetaspaceSize=256m",
    "spark.ui.showConsoleProgress": "false",
    # generated classes kept for reuse: more than the run makes (default 100)
    "spark.sql.codegen.cache.maxEntries": "4000",
    # 1 MB memory pages, for the hash tables of joins (default here 32 MB, from the heap's
    # size): the run kept ~700 MB of pages live at 32 MB, ~40 MB at 1 MB
    "spark.buffer.pageSize": "1m",
}

# Query settings of the default run's test only (`quick_sql`): they choose how Spark runs a
# query over tiny tables, not what it computes (Spark keeps these plans equivalent; the
# comparisons sort every frame). The `slow` test keeps the product's settings (adaptive
# execution, whole-stage code generation, 4 shuffle partitions), so `make test-all` checks
# parity under those too.
QUICK_SQL = {
    # no whole-stage code generation: each query's fused Java source, compiled (Janino) and
    # loaded for one run over a few rows, costs more than it saves
    "spark.sql.codegen.wholeStage": "false",
    # no adaptive execution: re-planning at each shuffle (one more job per stage) sizes
    # partitions for large data; with it off, one shuffle partition (the session has one core)
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}


@pytest.fixture(scope="module")
def spark_session(tmp_path_factory: pytest.TempPathFactory):
    """The product's local session (`local_session`), started with the test's settings."""
    pytest.importorskip("pyspark")
    from rareflow.store.spark_store import local_session

    session = local_session(tmp_path_factory.mktemp("warehouse"), conf=TEST_CONF)
    session.sparkContext.setLogLevel("ERROR")
    return session


@pytest.fixture
def quick_sql(spark_session):
    """The session with `QUICK_SQL` for one test; the product's settings restored after."""
    before = {key: spark_session.conf.get(key) for key in QUICK_SQL}
    for key, value in QUICK_SQL.items():
        spark_session.conf.set(key, value)
    yield spark_session
    for key, value in before.items():
        spark_session.conf.set(key, value)


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


def test_spark_ingest_and_analyze_match_duckdb(quick_sql, example_dir: Path) -> None:
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
    duck, spark = Workspace.open(None), _spark_workspace(quick_sql)
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


def test_spark_line_numbers_hold_across_partitions(spark_session, tmp_path: Path) -> None:
    """A file read in several partitions (64 KB each here) still numbers each record with
    its own line: the id column written into each row says which line it is on."""
    from rareflow.store.spark_store import SparkStore

    path = tmp_path / "big.csv"
    lines = ["id,text"] + [f"{n},{'x' * (n % 50)}" for n in range(2, 20_002)]
    path.write_text("\n".join(lines) + "\n")
    before = spark_session.conf.get("spark.sql.files.maxPartitionBytes")
    spark_session.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    try:
        store = SparkStore(session=spark_session)
        read = store.read_csv_raw(path)
        assert spark_session.read.csv(str(path)).rdd.getNumPartitions() > 1
        got = store.to_pandas(read.table.select("id", "_line"))
    finally:
        spark_session.conf.set("spark.sql.files.maxPartitionBytes", before)
    assert len(got) == 20_000
    assert (got["id"].astype(int) == got["_line"]).all()
