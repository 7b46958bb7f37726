"""What one ingest did, table by table (`IngestReport`), for the surfaces to show."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

PREVIEW = 200  # rejects of one run kept in the report for display


@dataclass
class TableReport:
    table: str
    files: list[str] = field(default_factory=list)
    read: int = 0
    loaded: int = 0
    unchanged: int = 0
    replaced: int = 0  # stored rows superseded (replace=True); counted in `loaded` too
    rejected: int = 0
    warnings: int = 0


@dataclass
class IngestReport:
    """What one ingest did, table by table."""

    root: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    unknown_files: list[str] = field(default_factory=list)
    new_rejects: int = 0
    # this run's rejects and warnings (already stored ones included), the first PREVIEW
    rejects: pd.DataFrame | None = None
    n_reject_rows: int = 0  # rows of this run's rejects table whose level is `reject`
    n_warning_rows: int = 0
    replace: bool = False
    stored: bool = False  # committed to a persistent store

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables.values())

    @property
    def warnings(self) -> int:
        return sum(t.warnings for t in self.tables.values())
