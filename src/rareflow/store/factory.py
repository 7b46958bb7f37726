"""`open_store`: the factory that picks the engine's `Store` subclass (kept out of `base` so
that the base class does not import its subclasses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rareflow.store.base import Store


def open_store(path: str | Path | None = None, *, engine: str = "duckdb",
               lock_wait: float | None = None, **options: Any) -> Store:
    """Open the store: a DuckDB file (default; `None` = in memory) or a Spark session.

    A DuckDB file has one writer at a time: a file another process holds raises
    `StoreBusyError` ("in use by another process (pid N)", exit status 3), after waiting up
    to `lock_wait` seconds for it (default: $RAREFLOW_LOCK_WAIT, else 0)."""
    if engine == "duckdb":
        from rareflow.store.duckdb_store import DuckDBStore

        return DuckDBStore(path, lock_wait=lock_wait)
    if engine == "spark":
        from rareflow.store.spark_store import SparkStore

        if path is not None:
            options.setdefault("warehouse", path)  # the Spark tables' folder
        return SparkStore(**options)
    raise ValueError(f"unknown engine {engine!r} (duckdb or spark)")
