"""SQL compiled once per expression shape (`store.compiled`), shared by the DuckDB stores of a
process: each store still answers from its own data, and the DuckDB store's own table, write
and append paths keep Ibis's meaning (declared column types, a table replaced while read)."""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from rareflow.store import compiled
from rareflow.store.duckdb_store import DuckDBStore


def _store(path: Path | None, rows: list[tuple[str, int]]) -> DuckDBStore:
    store = DuckDBStore(path)
    store.from_arrow("src", pa.table({"k": [r[0] for r in rows], "n": [r[1] for r in rows]}))
    store.materialize("t", store.table("src"))
    return store


def _total(store: DuckDBStore) -> dict[str, int]:
    t = store.table("t")
    out = store.to_pandas(t.group_by("k").aggregate(total=t.n.sum()).order_by("k"))
    return dict(zip(out["k"], out["total"], strict=True))


def test_same_shape_on_two_stores_compiles_once_and_reads_each_stores_rows(
        tmp_path: Path) -> None:
    one = _store(tmp_path / "one.duckdb", [("a", 1), ("a", 2), ("b", 5)])
    two = _store(None, [("a", 10), ("c", 7)])
    try:
        assert _total(one) == {"a": 3, "b": 5}
        hits = compiled.CACHE.hits
        assert _total(two) == {"a": 10, "c": 7}  # the other store's rows, not the first's
        assert compiled.CACHE.hits > hits  # the same SQL text, taken from the cache
        assert _total(one) == {"a": 3, "b": 5}
    finally:
        one.close()
        two.close()


def test_materialize_replaces_a_table_it_reads_and_declares_ibis_types() -> None:
    store = _store(None, [("a", 1), ("b", 2)])
    try:
        t = store.table("t")
        store.materialize("t", t.mutate(n=t.n * 10, half=(t.n / 2), one=ibis.literal(1, "int8")))
        got = store.to_pandas(store.table("t").order_by("k"))
        assert got["n"].tolist() == [10, 20]
        assert got["half"].tolist() == [0.5, 1.0]
        schema = store.table("t").schema()
        assert schema["n"].is_integer() and schema["half"].is_floating()
        assert str(schema["one"]) == "int8"  # the declared type, not DuckDB's INTEGER
        assert not store.has("_rf_tmp_t_new_1") and not store.has("_rf_tmp_t_new_2")
    finally:
        store.close()


def test_append_orders_columns_fills_missing_and_adds_new() -> None:
    store = _store(None, [("a", 1)])
    try:
        extra = ibis.memtable({"x": ["new"], "k": ["b"]})
        store.append("t", extra)
        got = store.to_pandas(store.table("t").order_by("k"))
        assert got.columns.tolist() == ["k", "n", "x"]
        assert got["k"].tolist() == ["a", "b"]
        assert got["n"].isna().tolist() == [False, True]
        assert got["x"].tolist()[1] == "new"
    finally:
        store.close()


def test_a_missing_table_is_ibis_table_not_found() -> None:
    store = DuckDBStore(None)
    try:
        with pytest.raises(ibis.common.exceptions.TableNotFound):
            store.table("nope")
        assert store.table_or_none("nope") is None
    finally:
        store.close()


def test_has_answers_for_tables_views_and_temporary_ones_only() -> None:
    store = DuckDBStore(None)
    try:
        store.raw.execute("CREATE TABLE a (x INT); CREATE TEMP TABLE b (x INT); "
                          "CREATE VIEW v AS SELECT 1 AS x; CREATE SCHEMA s; "
                          "CREATE TABLE s.c (x INT); CREATE TABLE \"d.e\" (x INT)")
        assert store.has("a") and store.has("b") and store.has("v")
        assert store.has("d.e")  # a dotted name is a name, not a schema and a table
        # not in the current schema, or DuckDB's own catalogue views: not the store's
        for name in ("c", "nope", "pg_tables", "duckdb_tables", "sqlite_master"):
            assert not store.has(name), name
        store.drop("v")  # a view is dropped as a view
        store.drop("a")
        assert not store.has("v") and not store.has("a")
    finally:
        store.close()


def test_with_value_keeps_the_value_out_of_the_compiled_sql() -> None:
    """A file's path held by a view: the expressions over two files' views compile to one SQL
    text, and each view gives its own path (quotes and all) on its own rows."""
    store = DuckDBStore(None)
    try:
        paths = ["/data/one's/shipments.csv", "/data/two/shipments.csv"]
        sqls, got = [], []
        for i, path in enumerate(paths):
            raw = store.from_arrow(store.temp_name("raw"), pa.table({"k": [f"r{i}", "s"]}))
            t = store.with_value(store.temp_name("file_shipments"), raw, "_file", path,
                                 ["_file", "k"])
            assert t.columns == ("_file", "k")
            counted = t.group_by("_file").aggregate(n=t.count())
            got.append(store.to_pandas(counted).to_dict("records"))
            sqls.append(store.con.compile(counted.filter(counted.n > 1)))
        assert got == [[{"_file": p, "n": 2}] for p in paths]
        assert paths[0] not in sqls[0] and "one''s" not in sqls[0]
    finally:
        store.close()


def test_scratch_names_do_not_depend_on_what_ran_before() -> None:
    one, two = DuckDBStore(None), DuckDBStore(None)
    try:
        one.temp_name("csv_flows")
        assert one.temp_name("csv_shipments") == two.temp_name("csv_shipments")
        assert one.temp_name("csv_shipments") != two.temp_name("csv_flows")
        assert one.temp_name("a b/c") == "_rf_tmp_a_b_c_1"
    finally:
        one.close()
        two.close()


def test_second_dataset_with_other_tables_and_paths_finds_its_sql_compiled(
        tmp_path: Path) -> None:
    """Ingest and analysis of the contract's example, then of a copy elsewhere without its
    stocks and transformations: the second pipeline compiles nothing new for the tables both
    hold (before, a file's path and a running scratch-name counter made every shape new)."""
    import shutil

    from conftest import EXAMPLE
    from rareflow.workspace import Workspace

    first = tmp_path / "first"
    shutil.copytree(EXAMPLE, first)
    second = tmp_path / "elsewhere" / "second"
    shutil.copytree(EXAMPLE, second)
    (second / "stocks.csv").unlink()
    (second / "transformations.csv").unlink()
    for data in (first, second):
        misses = compiled.CACHE.misses
        w = Workspace.open(None)
        try:
            w.ingest(data)
            w.analyze()
        finally:
            w.close()
        new = compiled.CACHE.misses - misses
    # the second run's new shapes: only those reading the tables it lacks (measured: 0-3)
    assert new <= 10, new


def _shape(store: DuckDBStore, bound: int):
    t = store.table("t")
    return t.filter(t.n > bound).group_by("k").aggregate(total=t.n.sum())


def test_a_shapes_file_key_ignores_the_store_and_spells_everything_else() -> None:
    from rareflow.store.sql_files import shape_key

    one, two = _store(None, [("a", 1)]), _store(None, [("b", 2)])
    try:
        key = shape_key(_shape(one, 1).op(), None)
        assert key is not None
        assert shape_key(_shape(two, 1).op(), None) == key  # another store, same shape
        assert shape_key(_shape(one, 2).op(), None) != key  # another literal
        assert shape_key(_shape(one, 1).op(), 10) != key  # a limit
        t = one.table("t")
        assert (shape_key(t.mutate(x=t.n.cast("int32")).op(), None)
                != shape_key(t.mutate(x=t.n.cast("int16")).op(), None))  # another type
    finally:
        one.close()
        two.close()


def test_sql_compiled_by_a_former_process_is_read_from_its_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory cache emptied (as in a new process): the SQL comes from the file the first
    compilation wrote; with the cache switched off, nothing is written."""
    from rareflow.store.sql_files import shape_key

    monkeypatch.setenv("RAREFLOW_SQL_CACHE", str(tmp_path / "sql"))
    one, two = _store(None, [("a", 1), ("a", 5)]), _store(None, [("a", 7)])
    try:
        compiled.CACHE.clear()
        expr = _shape(one, 0)
        sql = one.con.compile(expr)
        files = list((tmp_path / "sql").glob("*.sql"))
        key = shape_key(expr.op(), None)
        assert (tmp_path / "sql" / f"{key}.sql").read_text() == sql
        # a marker in the file: the next process's SQL is the file's text, not a compilation
        (tmp_path / "sql" / f"{key}.sql").write_text(sql + "\n-- from the file")
        compiled.CACHE.clear()
        again = _shape(two, 0)
        assert two.con.compile(again).endswith("-- from the file")
        assert two.to_pandas(again)["total"].tolist() == [7]  # the file's SQL, run
        assert len(list((tmp_path / "sql").glob("*.sql"))) == len(files)

        monkeypatch.setenv("RAREFLOW_SQL_CACHE", "off")
        compiled.CACHE.clear()
        one.con.compile(_shape(one, 3))
        assert len(list((tmp_path / "sql").glob("*.sql"))) == len(files)
    finally:
        compiled.CACHE.clear()
        one.close()
        two.close()


def test_memtables_named_by_their_rows() -> None:
    from rareflow.memtables import named_memtable
    from rareflow.store.sql_files import shape_key

    a = named_memtable("rf_x", {"code": ["DE", "FR"]})
    b = named_memtable("rf_x", {"code": ["DE", "FR"]})
    assert a.op().name == b.op().name
    assert shape_key(a.filter(a.code == "DE").op(), None) == shape_key(
        b.filter(b.code == "DE").op(), None)
    assert a.op().name != named_memtable("rf_x", {"code": ["DE", "IT"]}).op().name
    assert a.op().name.startswith("rf_x_")


def test_prune_keeps_the_newest_files(tmp_path: Path) -> None:
    import os

    from rareflow.store.sql_files import prune

    for n in range(5):
        path = tmp_path / f"{n}.sql"
        path.write_text("SELECT 1")
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
    prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.sql")) == ["3.sql", "4.sql"]
