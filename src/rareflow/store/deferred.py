"""A result too long to bring into Python whole (the licence ledger has one row per shipment
drawn on a licence: millions at country scale). The engine counts it, hands over its first or
selected rows, and writes all of it to a file; nothing row-sized reaches Python."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from rareflow.errors import RareflowError
from rareflow.store.base import Store


class Deferred:
    """An engine table kept in the engine until an output asks for a part of it."""

    def __init__(self, store: Store, expr: ir.Table) -> None:
        self.store = store
        self.expr = expr

    @cached_property
    def rows(self) -> int:
        return int(self.store.scalar(self.expr.count()))

    def __len__(self) -> int:
        return self.rows

    @property
    def empty(self) -> bool:
        return self.rows == 0

    @property
    def columns(self) -> list[str]:
        return list(self.expr.columns)

    def head(self, n: int) -> pd.DataFrame:
        return self.store.to_pandas(self.expr.limit(n))

    def where(self, predicate: ir.BooleanValue, n: int | None = None) -> pd.DataFrame:
        """The rows `predicate` selects (the first `n`)."""
        x = self.expr.filter(predicate)
        return self.store.to_pandas(x if n is None else x.limit(n))

    def count_where(self, predicate: ir.BooleanValue) -> int:
        return int(self.store.scalar(self.expr.filter(predicate).count()))

    def frame(self) -> pd.DataFrame:
        """Every row (for small results and tests)."""
        return self.store.to_pandas(self.expr)

    def to_csv(self, path: Path) -> None:
        """All rows, written by the engine."""
        try:
            self.store.write_csv(self.expr, path)
        except Exception as exc:
            if "closed" in str(exc).lower():
                raise RareflowError(
                    f"cannot write {path}: the result lives in the store, which was closed "
                    "(write the outputs before closing the workspace)") from exc
            raise
