"""The defaults the project ships (products, uses), loaded into the store as `ref_*`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import ibis

from rareflow.contract import load_contract
from rareflow.readers.validate import validate
from rareflow.store.base import Store
from rareflow.store.tables import REFERENCE


def load_reference(store: Store) -> None:
    """(Re)load the defaults the project ships (products, uses) from the package data."""
    for table, ref_name in REFERENCE.items():
        path = resources.files("rareflow.data").joinpath(f"{table}.csv")
        with resources.as_file(path) as p:
            read = store.read_csv_raw(Path(p))
            if read.structural_rejects:  # our own data file: a defect, not user input
                raise RuntimeError(f"rareflow data file {table}.csv: {read.structural_rejects}")
            raw = read.table.mutate(_file=ibis.literal(f"rareflow:{table}"))
            parents = {"uses.use": store.table("ref_uses").use} if table == "products" else {}
            v = validate(raw, load_contract()[table], parents)
            store.materialize(ref_name, v.typed.drop("_bad"))
