"""The store: the one place that owns the Ibis connection and runs or materialises anything.

`base` (the `Store` class), one module per engine (`duckdb_store`, `spark_store`), `factory`
(`open_store`) and `tables` (`all_table`, a read). Ingest is `rareflow.ingest`, above."""

from rareflow.store.base import Capabilities, Store
from rareflow.store.factory import open_store

__all__ = ["Capabilities", "Store", "open_store"]
