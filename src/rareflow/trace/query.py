"""Tracing over a store: open (or build once) the store's trace index, read the finding a
trace starts from in findings.jsonl, and walk (`rareflow.trace.walk`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rareflow.store.base import Store
from rareflow.trace.index import open_index
from rareflow.trace.walk import Trace, TraceError, trace


def read_finding(path: Path, finding_id: str) -> dict[str, Any] | None:
    """The finding `finding_id` in a findings.jsonl file, or None."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise TraceError(f"cannot read findings file {path}: {exc.strerror}",
                         file=str(path)) from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"{path}, line {n}: not a JSON object ({exc})",
                             file=str(path), line=n) from exc
        if isinstance(row, dict) and row.get("id") == finding_id:
            return row
    return None


@dataclass(frozen=True)
class FindingsFile:
    """A findings.jsonl file (from `rareflow analyze`) as a `FindingSource`."""

    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def find(self, finding_id: str) -> dict[str, Any] | None:
        return read_finding(self.path, finding_id)


def trace_store(store: Store, query: str, direction: str = "both", depth: int | None = None,
                max_nodes: int | None = 2000, findings: Path | None = None) -> Trace:
    """Open (or build once) the store's trace index and trace `query`."""
    return trace(open_index(store), query, direction, depth, max_nodes,
                 FindingsFile(findings) if findings is not None else None)
