"""A dataset's EPCIS documents read with what the store already holds: the identifier
mappings come from the store, the reading itself is `rareflow.epcis.reader.read_epcis`
(which knows nothing of the store)."""

from __future__ import annotations

from pathlib import Path

from rareflow.epcis.mapping import MappingTables
from rareflow.epcis.reader import EpcisRead, read_epcis
from rareflow.store.base import Store
from rareflow.store.tables import all_table


def read_dataset_epcis(store: Store, paths: list[Path]) -> EpcisRead:
    """`read_epcis` with the identifier mappings of the dataset already in `store`: the
    `epcis_parties` table, the `products` table (`gtin` column, units) and, for lot numbers
    that name a customs declaration, `shipments`."""
    party_rows: list[tuple[str, str]] = []
    mp = store.table_or_none("epcis_parties")
    if mp is not None:
        df = store.to_pandas(mp.select("gln_or_uri", "party_id"))
        party_rows = [(str(a), str(b)) for a, b in df.itertuples(index=False, name=None)
                      if isinstance(a, str) and isinstance(b, str)]
    product_rows: list[dict] = []
    products = all_table(store, "products")
    if products is not None:
        cols = [c for c in ("product", "unit", "re_kg_per_unit") if c in products.columns]
        product_rows = store.to_pandas(products.select(*cols)).to_dict("records")
    own = store.table_or_none("products")
    if own is not None and "gtin" in own.columns:
        gt = store.to_pandas(own.select("product", "gtin"))
        extra = {p: g for p, g in gt.itertuples(index=False, name=None) if isinstance(g, str)}
        for row in product_rows:
            if row["product"] in extra:
                row["gtin"] = extra[row["product"]]
    shipments = store.table_or_none("shipments")

    def known(numbers: set[str]) -> set[str]:
        if shipments is None or not numbers:
            return set()
        hit = shipments.filter(shipments.declaration_id.isin(sorted(numbers)))
        return set(store.to_pandas(hit.select("declaration_id")).declaration_id)

    return read_epcis(paths, MappingTables.build(party_rows, product_rows), known)
