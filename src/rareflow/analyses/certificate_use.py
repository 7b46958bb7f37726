"""How shipments use end-user certificates: `certificate_violated` (drawn beyond the
certificate's `max_kg` cumulatively in date order, shipped outside its validity, goods it does
not cover) and `certificate_forged` for a certificate presented after its revocation, or
presented for a shipment to an importer it was not issued to (contract 1.1 §9: one number used
by different parties).

Several documents may carry one certificate number (a reused number is itself a finding);
a shipment draws on the document whose end user (then importer) matches it."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.tables import Tables, finding_rows, fmt_kg, period_of
from rareflow.policy import Policy

VIOLATED = "certificate_violated"
FORGED = "certificate_forged"


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


def certificate_violations(t: Tables, policy: Policy) -> ir.Table | None:
    dd = certificate_drawdown(t)
    if dd is None:
        return None
    dd = _dated(dd)
    parts = []
    over = dd.mutate(_excess=ibis.least(dd.net_kg, dd.c_cum_kg - dd.c_max_kg))
    x = over.filter(over._excess > 0)
    parts.append(finding_rows(
        x, rule=ibis.literal(VIOLATED), severity=ibis.literal("high"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x._excess, share=x._excess / x.c_max_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id]),
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " overdrawn by shipment ", x.declaration_id, ": cumulative ",
            fmt_kg(x.c_cum_kg), " of ", x.product, " against the certified ",
            fmt_kg(x.c_max_kg), "; ", fmt_kg(x._excess), " beyond it.")))
    x = dd.filter(dd.c_max_kg.isnull())
    parts.append(finding_rows(
        x, rule=ibis.literal(VIOLATED), severity=ibis.literal("medium"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x.net_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id]),
        message=ibis.literal("Shipment ").concat(
            x.declaration_id, " of ", x.product, " draws on certificate ", x.certificate_id,
            ", which does not cover that product.")))
    until = dd.c_valid_until.substr(0, 10).try_cast("date")
    since = dd.c_valid_from.substr(0, 10).try_cast("date")
    x = dd.filter((dd._day > until) | (dd._day < since))
    parts.append(finding_rows(
        x, rule=ibis.literal(VIOLATED), severity=ibis.literal("high"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x.net_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id]),
        message=ibis.literal("Shipment ").concat(
            x.declaration_id, " on ", x._day.cast("string"), " draws on certificate ",
            x.certificate_id, " outside its validity (",
            x.c_valid_from.substr(0, 10).fill_null("?"), " to ",
            x.c_valid_until.substr(0, 10).fill_null("?"), ").")))
    return ibis.union(*parts)


def revoked_presented(t: Tables, policy: Policy) -> ir.Table | None:
    """`certificate_forged`: a shipment presented a certificate on or after its revocation."""
    dd = certificate_drawdown(t) if t.revocations is not None else None
    if dd is None:
        return None
    dd = _dated(dd)
    r = t.revocations.select("certificate_id", r_date=t.revocations.date.cast("date"),
                             r_reason=t.revocations.reason)
    j = dd.inner_join(r, "certificate_id")
    x = j.filter(j._day >= j.r_date)
    return finding_rows(
        x, rule=ibis.literal(FORGED), severity=ibis.literal("high"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x.net_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id]),
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " was revoked on ", x.r_date.cast("string"), " (",
            x.r_reason.fill_null("no reason given"), ") but presented for shipment ",
            x.declaration_id, " on ", x._day.cast("string"), "."))


def ownership_threshold(policy: Policy) -> float:
    """Affiliates are owned this share or more, either way: the policy's
    `analysis.responsibility.ownership_threshold` (contract 1.1 §5), 0.25 by default."""
    section = (getattr(policy, "analysis", None) or {}).get("responsibility") or {}
    return float(section.get("ownership_threshold", 0.25))


def certificate_parties(t: Tables, policy: Policy) -> ir.Table | None:
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
    o = o.filter(o.share.cast("float64") >= ownership_threshold(policy))
    down = named.inner_join(o, named.party == o.owner_id).select(
        "certificate_id", party=o.owned_id)
    up = named.inner_join(o, named.party == o.owned_id).select(
        "certificate_id", party=o.owner_id)
    return ibis.union(named, down, up, distinct=True)


def reused_presented(t: Tables, policy: Policy) -> ir.Table | None:
    """`certificate_forged` (high): a shipment presents a certificate number whose documents
    name neither its consignee as importer or end user, nor a party affiliated with them.
    One finding per shipment, on the certificate."""
    related = certificate_parties(t, policy)
    if related is None:
        return None
    c = t.certificates
    holders = c.filter(c.certificate_id.notnull()).group_by("certificate_id").aggregate(
        _importers=c.importer_id.collect(distinct=True),
        _users=c.end_user_id.collect(distinct=True))
    s = t.shipments
    s = s.filter(s.certificate_id.notnull() & s.consignee_id.notnull())
    s = s.inner_join(holders, "certificate_id")
    x = s.anti_join(related, [s.certificate_id == related.certificate_id,
                              s.consignee_id == related.party])
    x = x.mutate(_period=period_of(x.date.cast("date")), _day=x.date.cast("date").cast("string"))
    return finding_rows(
        x, rule=ibis.literal(FORGED), severity=ibis.literal("high"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x.net_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id, x.consignee_id]),
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " (issued to importer ", x._importers.join(", "),
            ", end user ", x._users.join(", "), ") presented for shipment ",
            x.declaration_id, " on ", x._day, " to ", x.consignee_id,
            ", an importer it was not issued to and not affiliated with them: one "
            "certificate number used by different parties."))


def forged_presented(t: Tables, policy: Policy) -> ir.Table | None:
    """The engine part of `certificate_forged`: revoked and presented; presented for an
    unrelated importer."""
    parts = [p for p in (revoked_presented(t, policy), reused_presented(t, policy))
             if p is not None]
    return ibis.union(*parts) if parts else None
