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
    """One finding per shipment and breach. One pass over the shipments computes every
    breach as a flag (controlled without a licence, a licence not in the register, each
    mismatch with the licence, outside its validity, beyond its quantity cumulatively in
    date order); only the flagged rows are kept (computed once in the engine), and the
    findings are written from them."""
    t = m.t
    s = mark_controlled(m.shipments, m.policy)
    # only the columns the findings use: the window below sorts every row it carries
    s = s.select(*SHIPMENT_COLUMNS, _period=period_of(s.date.cast("date")))
    if t.licences is not None:
        lic = t.licences.select(*LICENCE_COLUMNS, "valid_from", "valid_to", "max_kg")
        lic = lic.rename(lambda c: f"l_{c}")
        j = s.left_join(lic, s.licence_id == lic.l_licence_id)
        j = j.select(s, *[lic[c] for c in lic.columns])
        known = j.l_licence_id.notnull()
    else:
        j = s.mutate(**{f"l_{c}": ibis.null("string") for c in LICENCE_COLUMNS},
                     l_valid_from=ibis.null("date"), l_valid_to=ibis.null("date"),
                     l_max_kg=ibis.null("float64"))
        known = ibis.literal(False)
    d = j.date.cast("date")
    j = j.mutate(_known=known)
    # the cumulative drawdown (a sort of every shipment of a licence) only for the licences
    # whose shipments add up to more than they allow: in an honest world, none
    total = j.filter(j._known).group_by("licence_id").aggregate(
        _total=j.net_kg.sum(), _max=j.l_max_kg.max())
    beyond = total.filter(total._total > total._max).licence_id
    o = j.filter(j.licence_id.isin(beyond))
    w = ibis.window(group_by=o.licence_id, order_by=[o.date, o.declaration_id],
                    preceding=None, following=0)
    o = o.mutate(_cum=o.net_kg.sum().over(w))
    o = o.mutate(_excess=ibis.least(o.net_kg, o._cum - o.l_max_kg))
    o = o.filter(o._excess > 0).select("declaration_id", "_cum", "_excess")
    flags = {
        "_none": j.controlled & j.licence_id.isnull(),
        "_unknown": j.licence_id.notnull() & ~j._known,
        "_outside": j._known & ((d < j.l_valid_from) | (d > j.l_valid_to)),
        **{f"_mm{k}": j._known & cond(j) for k, (_, cond, _, _) in enumerate(MISMATCHES)},
    }
    j = j.mutate(**{k: v.fill_null(False) for k, v in flags.items()})
    j = j.left_join(o, "declaration_id").select(j, o._cum, o._excess)
    j = j.mutate(_over=j._excess.notnull())
    cand = m.computed("licence_breaches",
                      j.filter(ibis.or_(j._over, *[j[k] for k in flags])))
    return ibis.union(*_findings(cand))


SHIPMENT_COLUMNS = ("declaration_id", "date", "exporter_id", "consignee_id", "end_user_id",
                    "destination", "product", "net_kg", "licence_id", "controlled",
                    "control_id")
LICENCE_COLUMNS = ("licence_id", "exporter_id", "consignee_id", "end_user_id", "destination",
                   "product")

# (what, breach, shipment's value, licence's value) over the shipment joined to its licence
MISMATCHES = (
    ("exporter", lambda j: j.exporter_id != j.l_exporter_id, "exporter_id", "l_exporter_id"),
    ("consignee", lambda j: j.consignee_id != j.l_consignee_id, "consignee_id",
     "l_consignee_id"),
    ("end user", lambda j: j.l_end_user_id.notnull()
     & (j.end_user_id.isnull() | (j.end_user_id != j.l_end_user_id)), "end_user_id",
     "l_end_user_id"),
    ("destination", lambda j: j.destination != j.l_destination, "destination",
     "l_destination"),
    ("product", lambda j: j["product"] != j.l_product, "product", "l_product"),
)


def _findings(c: ir.Table) -> list[ir.Table]:
    def rows(x: ir.Table, message: ir.StringValue, *, kg: ir.Value | None = None,
             severity: ir.Value | str = "high", with_licence: bool = True,
             share: ir.Value | None = None) -> ir.Table:
        ev = [x.declaration_id, x.licence_id] if with_licence else [x.declaration_id]
        extra = {} if share is None else {"share": share}
        return finding_rows(
            x, rule=ibis.literal(RULE),
            severity=ibis.literal(severity) if isinstance(severity, str) else severity,
            subject_type=ibis.literal("shipment"), subject_id=x.declaration_id,
            period=x._period, kg=x.net_kg if kg is None else kg,
            evidence=ibis.array(ev), message=message, **extra)

    x = c.filter(c._none)
    out = [rows(x, ibis.literal("Controlled item (").concat(
        x.control_id, ") exported without a licence: ", x["product"], ", ", fmt_kg(x.net_kg),
        " to ", x.consignee_id, " (", x.destination, ") on ",
        x.date.cast("date").cast("string"), "."), with_licence=False)]
    x = c.filter(c._unknown)
    out.append(rows(x, ibis.literal("Shipment declares licence ").concat(
        x.licence_id, ", which is not in the licence register."),
        severity=ibis.cases((x.controlled, "high"), else_="medium")))
    for k, (what, _, got, want) in enumerate(MISMATCHES):
        x = c.filter(c[f"_mm{k}"])
        out.append(rows(x, ibis.literal(f"Shipment {what} ").concat(
            _col(x, x[got]), f" differs from the licensed {what} ", _col(x, x[want]),
            " (licence ", x.licence_id, ").")))
    x = c.filter(c._outside)
    out.append(rows(x, ibis.literal("Shipment on ").concat(
        x.date.cast("date").cast("string"), " is outside licence ", x.licence_id,
        "'s validity ", x.l_valid_from.cast("string"), " to ", x.l_valid_to.cast("string"),
        ".")))
    x = c.filter(c._over)
    out.append(rows(x, ibis.literal("Licence ").concat(
        x.licence_id, " overdrawn: cumulative ", fmt_kg(x._cum), " against ",
        fmt_kg(x.l_max_kg), " allowed; this shipment exceeds it by ", fmt_kg(x._excess), "."),
        kg=x._excess, share=x._excess / x.l_max_kg))
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
