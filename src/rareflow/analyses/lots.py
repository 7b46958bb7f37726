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
import numpy as np
import pandas as pd

from rareflow.analyses.attribution import CATEGORIES, targets
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


def member(values: np.ndarray, wanted: set) -> np.ndarray:
    """`values[i] in wanted` for each i (pandas' isin is slow for large sets of strings)."""
    return np.fromiter((v in wanted for v in values), dtype=bool, count=len(values))


def lot_edges(involved: pd.DataFrame, link: pd.DataFrame, roles: dict[str, str],
              civil: set[str], prohibited: set[str]) -> tuple[pd.DataFrame, set[str]]:
    """Edges (from_id, target, content_kg) of the records that take part in a link, and the
    set of lot nodes. `involved`: the records that are a child or a parent of a link."""
    rec = involved.drop_duplicates("rid").reset_index(drop=True)
    rid = rec.rid.to_numpy(object)
    is_flow = (rec.rkind == "flow").to_numpy()
    tgt = np.full(len(rec), None, dtype=object)
    if is_flow.any():
        tgt[is_flow] = targets(rec[is_flow], roles, civil, prohibited)
    # a flow that ends in a category (sale, export, prohibited party) is not a lot
    ends = set(rid[is_flow & np.isin(tgt.astype(str), CATEGORIES)])
    parents = set(link.parent.to_numpy(object)) - ends
    is_parent = member(rid, parents)
    lot_id = np.array([LOT + x for x in rid], dtype=object)
    is_tr = (rec.rkind == "transformation").to_numpy()
    dest = np.where(is_tr, rec.holder.to_numpy(object), tgt)
    dest = np.where((is_flow | is_tr) & is_parent, lot_id, dest)
    dest[~(is_flow | is_tr)] = None  # shipments are injected as sources
    parent_of = dict(zip(link.child.to_numpy(object), link.parent.to_numpy(object),
                         strict=True))
    parent = [parent_of.get(x) for x in rid]
    linked = member(np.array(parent, dtype=object), parents)
    src = np.where(linked, np.array([LOT + str(x) for x in parent], dtype=object),
                   rec.sender.to_numpy(object))
    kg = rec.content_kg.fillna(0.0).to_numpy(float)
    e = pd.DataFrame({"from_id": src, "target": dest, "content_kg": kg})
    ok = np.array([isinstance(a, str) and isinstance(b, str) and a != b
                   for a, b in zip(src, dest, strict=True)], dtype=bool)
    e = e[ok]
    content = dict(zip(rid, kg, strict=True))
    taken: dict[str, float] = {}
    for c, par in zip(link.child.to_numpy(object), link.parent.to_numpy(object), strict=True):
        if par in parents:
            taken[par] = taken.get(par, 0.0) + content.get(c, 0.0)
    holder = rec.holder.to_numpy(object)
    pick = is_parent & np.array([isinstance(h, str) for h in holder], dtype=bool)
    rest = kg[pick] - np.array([taken.get(x, 0.0) for x in rid[pick]], dtype=float)
    r = pd.DataFrame({"from_id": lot_id[pick], "target": holder[pick], "content_kg": rest})
    out = pd.concat([e, r[r.content_kg > 1e-9]], ignore_index=True)
    lots = {LOT + x for x in parents}
    return out.groupby(["from_id", "target"], as_index=False).content_kg.sum(), lots
