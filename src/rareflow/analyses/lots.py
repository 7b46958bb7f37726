"""Lot links (`source_ref` of flows, `input_ref` of transformations) followed exactly inside
the mass-balance chain of `attribution`.

A record (customs shipment, flow, transformation) that later records name as their source is
a *lot node* `lot:<id>`: its content goes to exactly those records, in their quantities
(identity preserved), and only what they do not take (the remainder) joins its holder's
pool, which is allocated in proportion as before. A link counts only when the referenced
record is held by the party that uses it (a flow's sender received it, a transformation's
party holds it); other references are treated as absent."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.attribution import CATEGORIES
from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content, transformation_content
from rareflow.analyses.tables import Tables

LOT = "lot:"
FLOW_FIELDS = ("to_id", "product", "kind", "final_use", "dest_country", "from_country")


def records(t: Tables) -> ir.Table:
    """Every record that holds material: rid, rkind, holder, sender, ref, content_kg and, for
    flows, the fields that decide where a flow goes."""
    s = shipment_content(t.shipments, t.products)
    nulls = {c: ibis.null("string") for c in FLOW_FIELDS}
    parts = [s.select(rid=s.declaration_id, rkind=ibis.literal("shipment"),
                      holder=s.consignee_id, sender=ibis.null("string"),
                      ref=ibis.null("string"), content_kg=s.content_kg.cast("float64"),
                      **nulls)]
    f = flow_content(t)
    if f is not None:
        parts.append(f.select(rid=f.flow_id, rkind=ibis.literal("flow"), holder=f.to_id,
                              sender=f.from_id, ref=f.source_ref,
                              content_kg=f.content_kg.cast("float64"),
                              **{c: f[c].cast("string") for c in FLOW_FIELDS}))
    x = transformation_content(t)
    if x is not None:
        parts.append(x.select(rid=x.transformation_id, rkind=ibis.literal("transformation"),
                              holder=x.party_id, sender=x.party_id, ref=x.input_ref,
                              content_kg=x.input_kg.cast("float64"), **nulls))
    return ibis.union(*parts)


def links(recs: ir.Table) -> ir.Table:
    """(child, parent): a record whose ref names a record its sender holds."""
    c = recs.filter(recs.ref.notnull()).select(child=recs.rid, _ref=recs.ref,
                                               _sender=recs.sender)
    p = recs.select(parent=recs.rid, _holder=recs.holder)
    j = c.inner_join(p, [c._ref == p.parent, c._sender == p._holder])
    return j.select("child", "parent").distinct()


def flow_target_expr(r: ir.Table, recyclers: ir.Column, civil: list[str],
                     prohibited: list[str]) -> ir.StringValue:
    """`attribution.targets` as an engine expression over flow records."""
    leaves = r.dest_country != r.from_country
    civil = civil or ["\u2400"]
    prohibited = prohibited or ["\u2400"]
    return ibis.cases(
        (r.to_id.notnull() & r.to_id.isin(prohibited), "prohibited_use"),
        (leaves & r.kind.isin(["material", "component"]), "reexported"),
        (leaves, "verified_use"),
        (r.to_id.isnull() & r.final_use.notnull() & ~r.final_use.isin(civil),
         "prohibited_use"),
        (r.to_id.isnull(), "verified_use"),
        ((r["product"] == "magnet_scrap") & r.to_id.isin(recyclers), "verified_use"),
        else_=r.to_id,
    )


def lot_edges(recs: ir.Table, link: ir.Table, parties: ir.Table, civil: set[str],
              prohibited: set[str]) -> ir.Table:
    """Edges (from_id, target, content_kg) of the records that take part in a link, computed
    in the engine (one row per pair of ends, aggregated)."""
    recyclers = parties.filter(parties.roles.contains("recycler")).party_id
    ids = link.select(rid=link.child).union(link.select(rid=link.parent)).distinct()
    r = recs.filter(recs.rid.isin(ids.rid))
    r = r.mutate(_t=ibis.cases((r.rkind == "flow", flow_target_expr(
        r, recyclers, sorted(civil), sorted(prohibited))), else_=ibis.null("string")))
    # a flow that ends in a category (sale, export, prohibited party) is not a lot
    ends = r.filter((r.rkind == "flow") & r._t.isin(list(CATEGORIES))).select(_e=r.rid)
    par = link.filter(~link.parent.isin(ends._e)).select(_p=link.parent).distinct()
    par_of = link.filter(link.parent.isin(par._p)).select(_c=link.child, _pp=link.parent)
    r = r.left_join(par_of, r.rid == par_of._c).select(r, par_of._pp)
    is_parent = r.rid.isin(par._p)
    lot = ibis.literal(LOT).concat(r.rid)
    dest = ibis.cases(((r.rkind != "shipment") & is_parent, lot),
                      (r.rkind == "transformation", r.holder),
                      (r.rkind == "flow", r._t), else_=ibis.null("string"))
    src = ibis.cases((r._pp.notnull(), ibis.literal(LOT).concat(r._pp)), else_=r.sender)
    moves = r.select(from_id=src, target=dest, content_kg=r.content_kg)
    moves = moves.filter(moves.from_id.notnull() & moves.target.notnull()
                         & (moves.from_id != moves.target))
    kids = r.filter(r._pp.notnull()).group_by(_q=r._pp).aggregate(_taken=r.content_kg.sum())
    p = r.filter(is_parent & r.holder.notnull())
    p = p.left_join(kids, p.rid == kids._q).select(p, kids._taken)
    rest = p.select(from_id=ibis.literal(LOT).concat(p.rid), target=p.holder,
                    content_kg=p.content_kg - p._taken.fill_null(0.0))
    rest = rest.filter(rest.content_kg > 1e-9)
    u = ibis.union(moves, rest, distinct=False)
    return u.group_by(["from_id", "target"]).aggregate(content_kg=u.content_kg.sum())
