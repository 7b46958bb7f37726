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
