"""Reading stored tables as the analyses see them: a reference table is the project's
defaults under the dataset's own rows. A pure store read (nothing here writes)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.contract import load_contract
from rareflow.store.base import Store

#: The tables the project ships defaults for, and the stored table holding the defaults.
REFERENCE = {"uses": "ref_uses", "products": "ref_products"}


def all_table(store: Store, name: str, present: set[str] | None = None) -> ir.Table | None:
    """A reference table with the project's defaults under the dataset's own rows
    (`products`, `uses`); any other table as stored. `present`: the store's table names, when
    the caller has listed them already (one catalog query for many tables)."""
    if present is None:
        own = store.table_or_none(name)
    else:
        own = store.table(name) if name in present else None
    ref_name = REFERENCE.get(name)
    if ref_name is None:
        return own
    ref = store.table(ref_name)
    if own is None:
        return ref
    key = load_contract()[name].key[0]
    cols = [c for c in ref.columns if c in own.columns]
    kept = ref.filter(~ref[key].isin(own[key])).select(*cols)
    return ibis.union(own.select(*cols), kept)


__all__ = ["REFERENCE", "all_table"]
