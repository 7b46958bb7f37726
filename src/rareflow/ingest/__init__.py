"""Ingest: read a dataset folder (the readers, the EPCIS reader), validate it inside the
engine and add it to the store. Above `rareflow.store`, which it writes through.

- `load`: `ingest` itself (one transaction per dataset), the rejects table.
- `report`: `IngestReport`, what one ingest did.
- `reference`: `load_reference`, the defaults the project ships (products, uses).
- `epcis`: a dataset's EPCIS documents read with the mappings the store holds."""

from rareflow.ingest.load import REJECTS, REPLACED, Progress, ingest
from rareflow.ingest.reference import load_reference
from rareflow.ingest.report import IngestReport, TableReport

__all__ = ["REJECTS", "REPLACED", "IngestReport", "Progress", "TableReport", "ingest",
           "load_reference"]
