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
import pandas as pd

from rareflow.analyses.attribution import CATEGORIES, target_of
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


def lot_edges(involved: pd.DataFrame, link: pd.DataFrame, roles: dict[str, str],
              civil: set[str], prohibited: set[str]) -> tuple[pd.DataFrame, set[str]]:
    """Edges (from_id, target, content_kg) of the records that take part in a link, and the
    set of lot nodes. `involved`: the records that are a child or a parent of a link."""
    rows = list(involved.itertuples(index=False))  # tuples: a Series has a .product method
    content = dict(zip(involved.rid, involved.content_kg, strict=True))
    parent_of = dict(zip(link.child, link.parent, strict=True))

    def flow_target(r: object) -> str:
        return target_of(r, roles, civil, prohibited)

    # a flow that ends in a category (sale, export, prohibited party) is not a lot
    ends = {r.rid for r in rows if r.rkind == "flow" and flow_target(r) in CATEGORIES}
    parents = set(link.parent) - ends
    lots = {LOT + p for p in parents}
    taken: dict[str, float] = {}
    for child, parent in zip(link.child, link.parent, strict=True):
        if parent in parents:
            taken[parent] = taken.get(parent, 0.0) + float(content.get(child) or 0.0)
    edges = []
    for r in rows:
        rid = r.rid
        kg = float(r.content_kg or 0.0)
        if r.rkind == "flow":
            dest = flow_target(r)
            if rid in parents:
                dest = LOT + rid
        elif r.rkind == "transformation":
            dest = LOT + rid if rid in parents else r.holder
        else:
            dest = None  # a shipment: injected as a source
        parent = parent_of.get(rid)
        src = LOT + parent if parent in parents else r.sender
        if dest is not None and isinstance(src, str) and src != dest:
            edges.append((src, dest, kg))
        if rid in parents and isinstance(r.holder, str):
            rest = kg - float(taken.get(rid, 0.0))
            if rest > 1e-9:
                edges.append((LOT + rid, r.holder, rest))
    out = pd.DataFrame(edges, columns=["from_id", "target", "content_kg"])
    return out.groupby(["from_id", "target"], as_index=False).content_kg.sum(), lots
