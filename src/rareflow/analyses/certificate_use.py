"""How shipments use end-user certificates: the document each shipment draws on, the
cumulative drawdown per document and product, and the parties a certificate number may be
presented for (read by `rules/certificate_violated.py` and `rules/certificate_forged.py`).

Several documents may carry one certificate number (a reused number is itself a finding);
a shipment draws on the document whose end user (then importer) matches it."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.tables import Tables, finding_rows, period_of


def shipment_documents(t: Tables) -> ir.Table | None:
    """Each shipment that names a certificate, with the one document it draws on."""
    if t.certificates is None:
        return None
    s = t.shipments.filter(t.shipments.certificate_id.notnull())
    c = t.certificates.select(
        "certificate_id", "document_hash", c_end_user=t.certificates.end_user_id,
        c_importer=t.certificates.importer_id, c_valid_from=t.certificates.valid_from,
        c_valid_until=t.certificates.valid_until)
    j = s.inner_join(c, "certificate_id")
    score = (ibis.cases((j.end_user_id == j.c_end_user, 2), else_=0)
             + ibis.cases((j.consignee_id == j.c_importer, 1), else_=0))
    w = ibis.window(group_by=j.declaration_id, order_by=[ibis.desc(score), j.document_hash])
    j = j.mutate(_rank=ibis.row_number().over(w))
    return j.filter(j._rank == 0).drop("_rank")


def certificate_drawdown(t: Tables) -> ir.Table | None:
    """Per certificate document and product: each shipment in date order, cumulative kg and
    the certificate's `max_kg` for that product (null when the certificate does not cover
    the product)."""
    sd = shipment_documents(t)
    if sd is None or t.certificate_items is None:
        return None
    it = t.certificate_items
    cover = it.group_by(["document_hash", "product"]).aggregate(c_max_kg=it.max_kg.sum())
    j = sd.left_join(cover, [sd.document_hash == cover.document_hash,
                             sd.product == cover.product]).select(sd, cover.c_max_kg)
    w = ibis.window(group_by=[j.document_hash, j.product], order_by=[j.date, j.declaration_id],
                    preceding=None, following=0)
    return j.mutate(c_cum_kg=j.net_kg.sum().over(w))


def _dated(dd: ir.Table) -> ir.Table:
    """The drawdown with each shipment's day and its finding period (YYYY-MM)."""
    return dd.mutate(_period=period_of(dd.date.cast("date")), _day=dd.date.cast("date"))


def certificate_parties(t: Tables, ownership_threshold: float) -> ir.Table | None:
    """Per certificate number, the parties it may be presented for (certificate_id, party):
    the importer and end user of each of its documents, and their affiliates (owned
    `ownership_threshold` or more, either way, per `ownership`)."""
    if t.certificates is None:
        return None
    c = t.certificates
    named = ibis.union(
        c.select("certificate_id", party=c.importer_id),
        c.select("certificate_id", party=c.end_user_id), distinct=True)
    named = named.filter(named.party.notnull() & named.certificate_id.notnull())
    if t.ownership is None:
        return named
    o = t.ownership
    o = o.filter(o.share.cast("float64") >= ownership_threshold)
    down = named.inner_join(o, named.party == o.owner_id).select(
        "certificate_id", party=o.owned_id)
    up = named.inner_join(o, named.party == o.owned_id).select(
        "certificate_id", party=o.owner_id)
    return ibis.union(named, down, up, distinct=True)


def certificate_rows(x: ir.Table, rule: str, severity: str, kg: ir.Value,
                     message: ir.StringValue, share: ir.Value | None = None) -> ir.Table:
    """Findings on the certificate of each shipment row of `x` (which carries `_period`),
    with the certificate and the declaration as evidence."""
    extra = {} if share is None else {"share": share}
    return finding_rows(
        x, rule=ibis.literal(rule), severity=ibis.literal(severity),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=kg, evidence=ibis.array([x.certificate_id, x.declaration_id]),
        message=message, **extra)
