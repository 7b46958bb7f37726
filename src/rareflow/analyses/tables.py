"""The bundle of tables an analysis reads: the contract's tables as lazy Ibis expressions."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from rareflow.findings import FINDING_SCHEMA


@dataclass
class Tables:
    """Contract tables (None when the dataset has none); `products` and `uses` include the
    project's defaults."""

    parties: ir.Table
    shipments: ir.Table
    products: ir.Table
    uses: ir.Table
    licences: ir.Table | None = None
    certificates: ir.Table | None = None
    certificate_items: ir.Table | None = None
    keys: ir.Table | None = None
    revocations: ir.Table | None = None
    flows: ir.Table | None = None
    transformations: ir.Table | None = None
    stocks: ir.Table | None = None
    capacity: ir.Table | None = None
    trade_stats: ir.Table | None = None
    restricted_parties: ir.Table | None = None
    screening_decisions: ir.Table | None = None  # the project's extension: analysts' judgements
    observations: ir.Table | None = None
    applications: ir.Table | None = None
    ownership: ir.Table | None = None


def finding_rows(t: ir.Table, **cols: ir.Value) -> ir.Table:
    """Select `cols` from `t` into the finding schema (missing ones as nulls)."""
    out = {}
    for name, dtype in FINDING_SCHEMA.items():
        out[name] = cols[name].cast(dtype) if name in cols else ibis.null(dtype)
    return t.select(**out)


def period_of(d: ir.DateValue) -> ir.StringValue:
    """YYYY-MM of a date."""
    return d.strftime("%Y-%m")


def fmt_kg(v: ir.NumericValue) -> ir.StringValue:
    """A mass for a message: rounded to 0.1 kg."""
    return v.round(1).cast("string").concat(" kg")
