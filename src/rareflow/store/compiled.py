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
store it was first compiled for: at most a few pipelines' stores stay referenced."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

IDENTITY = "rareflow-duckdb"
SIZE = 1024  # entries: an ingest and analysis of a small dataset compiles about 130


class CompiledSQL:
    """A bounded, thread-safe map from (expression node, limit) to its SQL text."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._sql: OrderedDict[tuple[Any, Any], str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, Any], compile_: Callable[[], str]) -> str:
        with self._lock:
            sql = self._sql.get(key)
            if sql is not None:
                self._sql.move_to_end(key)
                self.hits += 1
                return sql
        sql = compile_()
        with self._lock:
            self.misses += 1
            self._sql[key] = sql
            while len(self._sql) > self.size:
                self._sql.popitem(last=False)
        return sql

    def clear(self) -> None:
        with self._lock:
            self._sql.clear()


CACHE = CompiledSQL()


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
        return CACHE.get((expr.op(), limit), lambda: original(expr, limit=limit))

    con.compile = compile
