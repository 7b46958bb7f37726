"""Rare-earth content of every quantity: declared where given, else from the product table."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def shipment_content(shipments: ir.Table, products: ir.Table) -> ir.Table:
    """Shipments with `content_kg` and `heavy_kg` (rare-earth element mass, of which Dy+Tb),
    `kind` of the product and `content_source` ('declared' or 'product table')."""
    p = products.select("product", "kind", "unit", "re_kg_per_unit",
                        _heavy=products.heavy_re_kg_per_unit.fill_null(0))
    j = shipments.left_join(p, "product").select(shipments, p.kind, p.unit, p.re_kg_per_unit,
                                                  p._heavy)
    qty = ibis.cases((j.unit == "unit", j.units.fill_null(0)), else_=j.net_kg)
    return j.mutate(
        content_kg=j.re_kg.fill_null(qty * j.re_kg_per_unit),
        heavy_kg=j.heavy_re_kg.fill_null(qty * j._heavy),
        content_source=ibis.cases((j.re_kg.notnull(), "declared"), else_="product table"),
    ).drop("unit", "re_kg_per_unit", "_heavy")
