"""The store: the one place that owns the Ibis connection and runs or materialises anything."""

from rareflow.store.base import Capabilities, Store, open_store

__all__ = ["Capabilities", "Store", "open_store"]
