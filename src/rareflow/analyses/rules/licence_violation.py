"""`licence_violation`: shipments of controlled items with no valid licence, beyond the
licence's quantity (cumulative, in date order) or period, or to other parties or destinations
than licensed. Computed in the engine; high (the records establish it)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.controls import mark_controlled
from rareflow.analyses.detector import Detector
from rareflow.analyses.model import FlowModel
from rareflow.analyses.tables import finding_rows, fmt_kg, period_of

NAME = "licence_violation"
RULE = NAME


def build(m: FlowModel) -> ir.Table:
    """One finding per shipment and breach."""
    t, policy = m.t, m.policy  # noqa: F841 (t: the licences table below)
    s = mark_controlled(m.shipments, policy)
    s = s.mutate(_period=period_of(s.date.cast("date")))
    parts = [
        finding_rows(
            x := s.filter(s.controlled & s.licence_id.isnull()),
            rule=ibis.literal(RULE), severity=ibis.literal("high"),
            subject_type=ibis.literal("shipment"), subject_id=x.declaration_id,
            period=x._period, kg=x.net_kg, evidence=ibis.array([x.declaration_id]),
            message=ibis.literal("Controlled item (").concat(
                x.control_id, ") exported without a licence: ", x.product, ", ",
                fmt_kg(x.net_kg), " to ", x.consignee_id, " (", x.destination, ") on ",
                x.date.cast("date").cast("string"), "."),
        )
    ]
    if t.licences is None:
        unknown = s.filter(s.licence_id.notnull())
    else:
        unknown = s.filter(s.licence_id.notnull() & ~s.licence_id.isin(t.licences.licence_id))
    parts.append(finding_rows(
        unknown, rule=ibis.literal(RULE),
        severity=ibis.cases((unknown.controlled, "high"), else_="medium"),
        subject_type=ibis.literal("shipment"), subject_id=unknown.declaration_id,
        period=unknown._period, kg=unknown.net_kg,
        evidence=ibis.array([unknown.declaration_id, unknown.licence_id]),
        message=ibis.literal("Shipment declares licence ").concat(
            unknown.licence_id, ", which is not in the licence register."),
    ))
    if t.licences is not None:
        parts += _against_licence(s, t.licences)
    return ibis.union(*parts)


def _against_licence(s: ir.Table, licences: ir.Table) -> list[ir.Table]:
    lic = licences.rename(lambda c: f"l_{c}" if c != "licence_id" else c)
    j = s.inner_join(lic, "licence_id")
    d = j.date.cast("date")
    out = []
    mismatches = [
        ("exporter", j.exporter_id != j.l_exporter_id, j.exporter_id, j.l_exporter_id),
        ("consignee", j.consignee_id != j.l_consignee_id, j.consignee_id, j.l_consignee_id),
        ("end user", j.l_end_user_id.notnull()
         & (j.end_user_id.isnull() | (j.end_user_id != j.l_end_user_id)),
         j.end_user_id, j.l_end_user_id),
        ("destination", j.destination != j.l_destination, j.destination, j.l_destination),
        ("product", j.product != j.l_product, j.product, j.l_product),
    ]
    for what, cond, got, want in mismatches:
        x = j.filter(cond)
        out.append(finding_rows(
            x, rule=ibis.literal(RULE), severity=ibis.literal("high"),
            subject_type=ibis.literal("shipment"), subject_id=x.declaration_id,
            period=x._period, kg=x.net_kg, evidence=ibis.array([x.declaration_id, x.licence_id]),
            message=ibis.literal(f"Shipment {what} ").concat(
                _col(x, got),
                f" differs from the licensed {what} ", _col(x, want), " (licence ",
                x.licence_id, ")."),
        ))
    x = j.filter((d < j.l_valid_from) | (d > j.l_valid_to))
    out.append(finding_rows(
        x, rule=ibis.literal(RULE), severity=ibis.literal("high"),
        subject_type=ibis.literal("shipment"), subject_id=x.declaration_id, period=x._period,
        kg=x.net_kg, evidence=ibis.array([x.declaration_id, x.licence_id]),
        message=ibis.literal("Shipment on ").concat(
            x.date.cast("date").cast("string"), " is outside licence ", x.licence_id,
            "'s validity ", x.l_valid_from.cast("string"), " to ", x.l_valid_to.cast("string"),
            "."),
    ))
    w = ibis.window(group_by=j.licence_id, order_by=[j.date, j.declaration_id],
                    preceding=None, following=0)
    c = j.mutate(_cum=j.net_kg.sum().over(w))
    c = c.mutate(_excess=ibis.least(c.net_kg, c._cum - c.l_max_kg))
    x = c.filter(c._excess > 0)
    out.append(finding_rows(
        x, rule=ibis.literal(RULE), severity=ibis.literal("high"),
        subject_type=ibis.literal("shipment"), subject_id=x.declaration_id, period=x._period,
        kg=x._excess, share=x._excess / x.l_max_kg,
        evidence=ibis.array([x.declaration_id, x.licence_id]),
        message=ibis.literal("Licence ").concat(
            x.licence_id, " overdrawn: cumulative ", fmt_kg(x._cum), " against ",
            fmt_kg(x.l_max_kg), " allowed; this shipment exceeds it by ", fmt_kg(x._excess),
            "."),
    ))
    return out


def _col(t: ir.Table, expr: ir.Value) -> ir.StringValue:
    """Re-bind a column expression of the joined table to a filtered view of it."""
    return t[expr.get_name()].cast("string").fill_null("(none)")


DETECTOR = Detector(
    name=NAME,
    summary="A shipment of a controlled item with no valid licence, beyond the licence's "
    "quantity or period, or to other parties or destinations than licensed.",
    severity="high: the declarations and the licence establish it",
    needs=("shipments",),
    build=build,
)
