"""`Store`: an Ibis backend plus the few engine-specific operations rareflow needs.

Analyses build lazy Ibis expressions; only the store executes or materialises them. Engine
differences live in one `Capabilities` record per engine, never as `if engine == ...` in
analyses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, read in one place."""

    name: str
    exact_line_numbers: bool
    structural_csv_rejects: bool
    persistent: bool


@dataclass
class RawRead:
    """A file read as strings: one column per header cell plus `_line`, and the rows the
    CSV parser itself could not split (wrong column count, bad quoting, bad encoding)."""

    table: ir.Table
    structural_rejects: list[dict[str, Any]]


class Store:
    """Base class: one per engine. Subclasses implement the `_read_*` methods."""

    caps: Capabilities

    def __init__(self, con: ibis.BaseBackend) -> None:
        self.con = con
        self._tmp: dict[str, int] = {}
        self.largest_pull = 0  # rows of the largest result brought into Python (benchmarks)

    # --- tables -------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.con.list_tables()

    def names(self) -> set[str]:
        """Every table's name (one catalog query)."""
        return set(self.con.list_tables())

    def table(self, name: str) -> ir.Table:
        return self.con.table(name)

    def table_or_none(self, name: str) -> ir.Table | None:
        return self.con.table(name) if self.has(name) else None

    def materialize(self, name: str, expr: ir.Table, *, temp: bool = False) -> ir.Table:
        """Compute `expr` once into a table `name` (replacing it).

        A new name is created in place: Ibis replaces a table by writing a second one and
        copying it over (on DuckDB, for a temporary table), which writes every row twice."""
        return self.con.create_table(name, expr, temp=temp, overwrite=self.has(name))

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """A derived table that an analysis reads several times, named in the store for the
        session. On DuckDB a view: its optimiser pushes each reader's filters and columns
        into the scan, which is cheaper than writing the rows once (10 million rows: about
        0.3 s a read against 5 s to write them). Engines that gain from computing it once
        (Spark) cache it instead. Here: the expression itself."""
        return expr

    def temp_name(self, stem: str) -> str:
        """A new scratch name, `_rf_tmp_<stem>_<n>`, n counting this store's names of that
        stem (characters other than letters, digits and `_` become `_`). Counted per stem,
        not in one sequence: the same step gets the same name whatever ran before it (a
        table absent from one dataset shifts no other name), so its SQL is found compiled
        (`store.compiled`) for any dataset."""
        stem = re.sub(r"[^A-Za-z0-9_]", "_", stem)
        n = self._tmp[stem] = self._tmp.get(stem, 0) + 1
        return f"_rf_tmp_{stem}_{n}"

    def append(self, name: str, expr: ir.Table) -> None:
        """Add rows to `name`, creating it from `expr`'s schema if it does not exist."""
        if self.has(name):
            target = self.table(name)
            missing = [c for c in expr.columns if c not in target.columns]
            if missing:
                self._add_columns(name, {c: expr[c].type() for c in missing})
                target = self.table(name)
            cols = {c: (expr[c] if c in expr.columns else ibis.null(target[c].type()))
                    for c in target.columns}
            self._insert(name, expr.select(**cols))
        else:
            self.materialize(name, expr)

    def _insert(self, name: str, expr: ir.Table) -> None:
        """Add the rows of `expr` (the columns of `name`, in its order) to `name`."""
        self.con.insert(name, expr)

    def delete_matching(self, name: str, keys: ir.Table, key: tuple[str, ...]) -> None:
        """Remove the rows of `name` whose `key` columns equal a row of `keys` (a missing
        key part matches a missing one). Engines with DELETE do better than this rewrite."""
        t = self.table(name)
        k = keys.select(*[keys[c].name(f"_k_{c}") for c in key]).distinct()
        cond = [t[c].identical_to(k[f"_k_{c}"]) for c in key]
        kept = self.materialize(self.temp_name(f"{name}_kept"), t.anti_join(k, cond), temp=True)
        self.materialize(name, kept)

    def excerpt_rejects(self, name: str) -> ir.Table:
        """Turn `value` of the rejects table `name` into a short escaped excerpt and escape
        `reason` (readers.excerpt); return the table."""
        from rareflow.readers.excerpt import REASON_CHARS, excerpt_expr

        t = self.table(name)
        return self.materialize(name, t.mutate(value=excerpt_expr(t.value),
                                               reason=excerpt_expr(t.reason, REASON_CHARS)),
                                temp=True)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing, where the engine can; a no-op otherwise."""
        yield

    def from_arrow(self, name: str, data: pa.Table) -> ir.Table:
        return self.con.create_table(name, data, temp=True, overwrite=True)

    def with_value(self, name: str, table: ir.Table, column: str, value: str,
                   order: list[str]) -> ir.Table:
        """`table` with the text `value` as `column` on every row, the columns in `order`
        (`column` among them), under the scratch name `name`. Engines make it a view whose
        own SQL holds the value, so that expressions over it do not (a file's path: the
        same compiled SQL then serves every file, `store.compiled`). Here: the value as a
        literal in the expression."""
        return table.select(*[ibis.literal(value).name(c) if c == column else table[c]
                              for c in order])

    def drop(self, name: str) -> None:
        if self.has(name):
            self.con.drop_table(name, force=True)

    # --- execution ----------------------------------------------------------------------
    def to_pandas(self, expr: ir.Expr) -> pd.DataFrame:
        out = expr.to_pandas()
        self.largest_pull = max(self.largest_pull, len(out))
        return out

    def write_csv(self, expr: ir.Table, path: Path) -> None:
        """`expr` to a CSV file with a header, written by the engine."""
        self.con.to_csv(expr, path)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return expr.to_pyarrow()

    def scalar(self, expr: ir.Scalar) -> Any:
        return expr.execute()

    # --- engine-specific ----------------------------------------------------------------
    def read_csv_raw(self, path: Path) -> RawRead:
        raise NotImplementedError

    def read_parquet_raw(self, path: Path) -> RawRead:
        raise NotImplementedError

    def _add_columns(self, name: str, columns: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect:
            disconnect()
