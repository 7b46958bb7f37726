"""The one store behind the web application: its analysis cached per store state, and the
one writer.

Every use of the store goes through `StoreService._lock` (a DuckDB connection is used by one
thread at a time, and an ingest must not interleave with an analysis). Pages never query the
store: they read a `Snapshot`, an immutable result of one analysis at one store state. An
upload ingests and re-analyses under the lock and swaps the snapshot in one assignment, so a
reader sees the state before the upload or after it, never half of it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rareflow.findings import Finding
from rareflow.ingest import IngestReport
from rareflow.settings import Settings
from rareflow.workspace import Workspace

#: contract tables the pages show, pulled into the snapshot (the demo's are small; a store of
#: millions of rows would want these paged from the engine instead)
RECORD_TABLES = ("parties", "shipments", "certificates", "licences", "applications",
                 "revocations", "products", "flows", "transformations", "stocks",
                 "screening_decisions")
DROP = ("_hash", "document")  # the certificate's whole document stays in the store


@dataclass(frozen=True)
class Snapshot:
    """One analysis of one store state: everything the pages and the API read."""

    generation: int
    analysed_at: str
    seconds: float
    findings: list[Finding]
    tables: dict[str, pd.DataFrame]
    balances: pd.DataFrame
    attribution: pd.DataFrame
    exports: pd.DataFrame
    decisions: pd.DataFrame  # what the assessment proposes, per application
    rejects: pd.DataFrame
    table_counts: dict[str, int]
    by_id: dict[str, Finding] = field(default_factory=dict)
    # the state before (the last upload's): its findings and row counts, for "what changed"
    previous_state: int | None = None
    previous_findings: dict[str, Finding] | None = None
    previous_counts: dict[str, int] | None = None
    # the store's lot-link index (`rareflow.trace`), walked for a finding's lot trace (pure
    # array lookups: no store query), or None when the store cannot be traced
    trace_index: Any = None
    # the certificate documents' text (certificate_id, document_hash, document) and the keys
    # table's rows, for a certificate's verification steps (`rareflow.vc.trust`)
    documents: pd.DataFrame = field(default_factory=pd.DataFrame)
    key_records: list[dict] | None = None
    # the restricted-party screening of this analysis (`rareflow.analyses.screening`): every
    # candidate (engine.RESULT_COLUMNS: party_id, list, entity_id, entity_name, score,
    # decision, explanation) after the analysts' judgements, and the candidates judged
    # `not_same` (engine.SUPPRESSED_COLUMNS, with by, date, note)
    screening: pd.DataFrame = field(default_factory=pd.DataFrame)
    screening_suppressed: pd.DataFrame = field(default_factory=pd.DataFrame)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


def _frame(df: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if df is None else df.reset_index(drop=True)


class StoreService:
    """A workspace on one store file, held open for the life of the server."""

    def __init__(self, db: Path, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.load()
        self.db = Path(db)
        self.ws = Workspace(self.settings.open_store(self.db), self.settings.load_policy(),
                            self.settings)
        self._lock = threading.Lock()  # the one writer (and the one user of the connection)
        self._generation = 0  # bumped by every ingest through this service
        self._snapshot: Snapshot | None = None

    def close(self) -> None:
        with self._lock:
            self.ws.close()

    @property
    def generation(self) -> int:
        return self._generation

    def snapshot(self) -> Snapshot:
        """The analysis of the store's latest state (computed once per state). While an
        upload is being ingested and analysed, readers keep the previous state's snapshot
        instead of waiting: they never see a state half-ingested or half-analysed."""
        snap = self._snapshot
        if snap is not None:
            return snap
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._analyse()
            return self._snapshot

    def _analyse(self, before: Snapshot | None = None) -> Snapshot:
        """Under the lock: analyse and pull what the pages show (and what changed since
        `before`)."""
        start = time.perf_counter()
        result = self.ws.analyze()
        screened = result.screening
        assert screened is not None
        t = self.ws.tables()
        tables: dict[str, pd.DataFrame] = {}
        for name in RECORD_TABLES:
            expr = getattr(t, name, None)
            if expr is None:
                continue
            keep = [c for c in expr.columns if c not in DROP]
            tables[name] = self.ws.store.to_pandas(expr.select(*keep))
        if result.licence_ledger is not None:  # one row per shipment on a licence
            tables["licence_ledger"] = result.licence_ledger.frame()
        mapping = self.ws.store.table_or_none("epcis_parties")
        if mapping is not None:  # GLNs of the parties, for the EPCIS events (GET /events)
            tables["epcis_parties"] = self.ws.store.to_pandas(mapping)
        documents = pd.DataFrame()
        if t.certificates is not None and "document" in t.certificates.columns:
            documents = self.ws.store.to_pandas(t.certificates.select(
                "certificate_id", "document_hash", "document"))
        keys = (self.ws.store.to_pandas(t.keys).to_dict("records")
                if t.keys is not None else None)
        snap = Snapshot(
            generation=self._generation,
            analysed_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            seconds=time.perf_counter() - start,
            findings=result.findings,
            tables=tables,
            balances=_frame(result.balances),
            attribution=_frame(result.attribution),
            exports=_frame(result.exports),
            decisions=_frame(result.decisions),
            rejects=_frame(result.rejects),
            table_counts=result.table_counts,
            by_id={f.id: f for f in result.findings},
            previous_state=None if before is None else before.generation,
            previous_findings=None if before is None else before.by_id,
            previous_counts=None if before is None else before.table_counts,
            trace_index=self._trace_index(),
            documents=documents,
            key_records=keys,
            screening=_frame(screened.candidates),
            screening_suppressed=_frame(screened.suppressed),
        )
        return snap

    def _trace_index(self) -> Any:
        """Under the lock: the store's trace index (built by the analysis already, or
        loaded from beside the store file), or None when the store cannot be traced."""
        from rareflow.errors import RareflowError
        from rareflow.trace import open_index

        try:
            return open_index(self.ws.store)
        except RareflowError:
            return None

    def read_epcis(self, paths: list[Path]):  # noqa: ANN201
        """EPCIS documents read with the store's identifier mappings (nothing stored)."""
        from rareflow.ingest.epcis import read_dataset_epcis

        with self._lock:
            return read_dataset_epcis(self.ws.store, paths)

    def ingest(self, folder: Path) -> tuple[IngestReport, Snapshot]:
        """The one writer: ingest `folder` (one transaction), then bring the analysis up to
        date before anyone sees the new rows."""
        with self._lock:
            report = self.ws.ingest(folder)
            self._generation += 1
            snap = self._analyse(self._snapshot)
            self._snapshot = snap  # one assignment: readers switch to the new state
            return report, snap
