"""Tables derived at ingest from the stored contract tables, rebuilt after every ingest in
the same transaction: `commitments` (one row per certificate commitment and licence
condition, normalised once; `rareflow.vocabulary.commitment_rows`)."""

from __future__ import annotations

import pandas as pd

from rareflow.store.base import Store
from rareflow.vocabulary import COMMITMENT_COLUMNS, COMMITMENTS, commitment_rows

SOURCES = (("certificate", "certificates", "certificate_id", "commitments"),
           ("licence", "licences", "licence_id", "conditions"))


def commitments(store: Store) -> pd.DataFrame:
    """The commitments of the stored certificates and licences (their cells are few: one
    certificate per consignment or contract, one licence per authorisation)."""
    parts = [pd.DataFrame(columns=list(COMMITMENT_COLUMNS))]
    for kind, table, key, cell in SOURCES:
        t = store.table_or_none(table)
        if t is None or cell not in t.columns:
            continue
        cells = store.to_pandas(t.filter(t[cell].notnull()).select(key, cell).distinct())
        parts.append(commitment_rows(kind, zip(cells[key], cells[cell], strict=True)))
    return pd.concat(parts, ignore_index=True).astype(str)


def derive(store: Store) -> None:
    """Rebuild every derived table."""
    store.con.create_table(COMMITMENTS, commitments(store), overwrite=True)
