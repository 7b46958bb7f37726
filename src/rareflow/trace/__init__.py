"""Trace as its own feature: the lot-link index of a store and the walks over it.

- `index`: the index (nodes and CSR links), read from the store once and cached beside
  the DuckDB file.
- `walk`: the trace computation (pure: no file read, nothing drawn).
- `query`: tracing over a store, with a finding read from findings.jsonl.

The views (text tree, Sankey) are `rareflow.outputs.trace_view`."""

from rareflow.trace.index import TraceIndex, open_index
from rareflow.trace.query import trace_store
from rareflow.trace.walk import Trace, TraceError, trace

__all__ = ["Trace", "TraceError", "TraceIndex", "open_index", "trace", "trace_store"]
