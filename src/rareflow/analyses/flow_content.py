"""Rare-earth content of flows, transformations and stocks (kg of elements, and of Dy+Tb).

Transformations conserve content: output content = input content - scrap content, the scrap
valued at its input product's content per kg (contract 1.1, `verified_use`); for an input
counted in pieces, at the `magnet_scrap` product's content per kg."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.tables import Tables


def _per_unit(products: ir.Table) -> ir.Table:
    return products.select(
        "product", "kind", "unit", _re=products.re_kg_per_unit,
        _heavy=products.heavy_re_kg_per_unit.fill_null(0), _use=products.use)


def flow_content(t: Tables) -> ir.Table | None:
    """Flows with `content_kg`, `heavy_kg`, the product's `kind` and the receiver's and
    sender's countries."""
    if t.flows is None:
        return None
    p = _per_unit(t.products)
    f = t.flows.left_join(p, "product").select(t.flows, p.kind, p.unit, p._re, p._heavy, p._use)
    qty = ibis.cases((f.unit == "unit", f.units.fill_null(0)), else_=f.net_kg.fill_null(0))
    share = ibis.cases((f._re > 0, f._heavy / f._re), else_=0.0)
    content = f.re_kg.fill_null(qty * f._re)
    f = f.mutate(content_kg=content, heavy_kg=content * share, qty=qty)
    src = t.parties.select(_from=t.parties.party_id, from_country=t.parties.country)
    dst = t.parties.select(_to=t.parties.party_id, to_party_country=t.parties.country)
    f = f.left_join(src, f.from_id == src._from).select(f, src.from_country)
    f = f.left_join(dst, f.to_id == dst._to).select(f, dst.to_party_country)
    return f.mutate(
        dest_country=f.to_country.fill_null(f.to_party_country).fill_null(f.from_country),
        final_use=f.use.fill_null(f._use),
    ).drop("unit", "_re", "_heavy", "_use")


def transformation_content(t: Tables) -> ir.Table | None:
    """Transformations with `input_kg` (content in), `scrap_content_kg`, `output_kg`
    (= input - scrap) and their Dy+Tb parts."""
    if t.transformations is None:
        return None
    p = _per_unit(t.products)
    x = t.transformations
    x = x.left_join(p, x.input_product == p.product).select(x, p.unit, p._re, p._heavy)
    scrap = t.products.filter(t.products.product == "magnet_scrap").select(
        _s=t.products.re_kg_per_unit, _sh=t.products.heavy_re_kg_per_unit.fill_null(0))
    x = x.left_join(scrap, ibis.literal(True)).select(x, scrap._s, scrap._sh)
    per_kg = x.unit == "kg"
    s_re = ibis.cases((per_kg, x._re), else_=x._s.fill_null(0))
    s_heavy = ibis.cases((per_kg, x._heavy), else_=x._sh.fill_null(0))
    input_kg = x.input_qty * x._re
    scrap_kg = x.scrap_kg.fill_null(0) * s_re
    heavy_in = x.input_qty * x._heavy
    heavy_scrap = x.scrap_kg.fill_null(0) * s_heavy
    return x.mutate(
        input_kg=input_kg, scrap_content_kg=ibis.least(scrap_kg, input_kg),
        output_kg=ibis.greatest(input_kg - scrap_kg, 0), heavy_in_kg=heavy_in,
        heavy_out_kg=ibis.greatest(heavy_in - heavy_scrap, 0),
    ).drop("unit", "_re", "_heavy", "_s", "_sh")


def stock_content(t: Tables) -> ir.Table | None:
    """Stock reports with `content_kg`."""
    if t.stocks is None:
        return None
    p = _per_unit(t.products)
    s = t.stocks.left_join(p, "product").select(t.stocks, p._re, p._heavy)
    return s.mutate(content_kg=s.qty * s._re, heavy_kg=s.qty * s._heavy).drop("_re", "_heavy")
