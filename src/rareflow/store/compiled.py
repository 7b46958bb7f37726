"""SQL compiled once per expression shape, for every DuckDB store of the process.

Compiling an Ibis expression to SQL (Ibis's rewrites, then sqlglot's generator) costs far more
than DuckDB's execution of it on small data: about 1.5 CPU-seconds of the 4 that ingesting the
contract's example takes. The same shapes come back in every ingest and analysis (the same
contract tables, the same scratch names, the same rules), so the SQL text is kept, keyed by
the expression's node: Ibis nodes are immutable, compare by structure and carry their hash.

A node names its tables (name, schema, namespace) and their backend. The SQL reads only the
names, so every DuckDB connection of rareflow gets one identity (`IDENTITY`), and a node built
over one store's tables finds the SQL compiled for the same tables of another store. An
expression is still executed by the store that runs it (the store's own connection).

The cache is bounded (least recently used first out), as each key holds the backend of the
store it was first compiled for: at most a few pipelines' stores stay referenced.

The in-memory tables an expression holds, which Ibis finds by walking the whole expression
before every execution, are kept per node the same way (`MEMTABLES`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import ibis.expr.operations as ops

from rareflow.store import sql_files

IDENTITY = "rareflow-duckdb"
SIZE = 1024  # entries: an ingest and analysis of a small dataset compiles about 130


class Bounded:
    """A bounded, thread-safe map, least recently used first out; counts hits and misses."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
            else:
                self._items.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class CompiledSQL(Bounded):
    """(expression node, limit) -> its SQL text."""

    def sql(self, key: tuple[Any, Any], compile_: Callable[[], str]) -> str:
        sql = self.get(key)
        if sql is None:
            sql = compile_()
            self.put(key, sql)
        return sql


CACHE = CompiledSQL()
MEMTABLES = Bounded()  # expression node -> the in-memory tables it holds


def _from_files(original: Callable[..., str], expr: Any, limit: Any) -> str:
    """The SQL a former process compiled for this shape (`sql_files`), else compiled and
    written there for the next."""
    key = sql_files.shape_key(expr.op(), limit)
    sql = sql_files.load(key) if key else None
    if sql is None:
        sql = original(expr, limit=limit)
        if key:
            sql_files.save(key, sql)
    return sql


def install(con: Any) -> None:
    """Give the Ibis DuckDB connection `con` rareflow's identity and a `compile` that looks
    in `CACHE` first. Ibis's own execution paths (execute, to_pyarrow, to_csv, insert) call
    `con.compile`, so they all use it. Scalar parameters, pretty printing and any keyword
    Ibis may add later are compiled afresh."""
    con.db_identity = IDENTITY  # a cached property: the instance's value wins
    original = con.compile

    def compile(expr: Any, /, *, limit: Any = None, params: Any = None,
                pretty: bool = False, **kwargs: Any) -> str:
        if params or pretty or kwargs:
            return original(expr, limit=limit, params=params, pretty=pretty, **kwargs)
        return CACHE.sql((expr.op(), limit), lambda: _from_files(original, expr, limit))

    con.compile = compile
    original_hooks = con._run_pre_execute_hooks

    def run_pre_execute_hooks(expr: Any) -> None:
        """Ibis's hooks before an execution walk the whole expression three times (record
        batch readers, spatial functions, UDFs and in-memory tables to register). The
        in-memory tables an expression holds are kept per node (`MEMTABLES`); on a later
        run only the ones this connection lacks are registered, by Ibis. An expression with
        UDFs or spatial functions, or a connection with record batch readers, runs Ibis's
        hooks in full every time."""
        op = expr.op()
        memtables = MEMTABLES.get(op)
        if memtables is None or con._record_batch_readers_consumed:
            original_hooks(expr)
            if not op.find((ops.ScalarUDF, ops.GeoSpatialUnOp, ops.GeoSpatialBinOp)):
                MEMTABLES.put(op, tuple(op.find(ops.InMemoryTable)))
            return
        for memtable in memtables:
            if memtable not in con._memtables:
                con._register_in_memory_tables(memtable.to_expr())

    con._run_pre_execute_hooks = run_pre_execute_hooks
