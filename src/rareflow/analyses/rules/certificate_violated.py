"""`certificate_violated`: a certificate drawn beyond its `max_kg` (cumulatively, in date
order), used outside its validity or for goods it does not cover (engine), or whose goods a
re-export, a transfer or a prohibited use contradicts (contract 1.1 §5, through the
responsibility of acts: `analyses/responsibility.py`)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.certificate_use import certificate_drawdown, certificate_rows
from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.analyses.tables import Tables, fmt_kg, period_of
from rareflow.findings import Finding

NAME = "certificate_violated"
VIOLATED = NAME


def dated(dd: ir.Table) -> ir.Table:
    """The drawdown with each shipment's day and its finding period (YYYY-MM)."""
    return dd.mutate(_period=period_of(dd.date.cast("date")), _day=dd.date.cast("date"))


def drawdown_violations(t: Tables) -> ir.Table | None:
    dd = certificate_drawdown(t)
    if dd is None:
        return None
    dd = dated(dd)
    parts = []
    over = dd.mutate(_excess=ibis.least(dd.net_kg, dd.c_cum_kg - dd.c_max_kg))
    x = over.filter(over._excess > 0)
    parts.append(certificate_rows(
        x, VIOLATED, "high", x._excess, share=x._excess / x.c_max_kg,
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " overdrawn by shipment ", x.declaration_id, ": cumulative ",
            fmt_kg(x.c_cum_kg), " of ", x.product, " against the certified ",
            fmt_kg(x.c_max_kg), "; ", fmt_kg(x._excess), " beyond it.")))
    x = dd.filter(dd.c_max_kg.isnull())
    parts.append(certificate_rows(
        x, VIOLATED, "medium", x.net_kg,
        message=ibis.literal("Shipment ").concat(
            x.declaration_id, " of ", x.product, " draws on certificate ", x.certificate_id,
            ", which does not cover that product.")))
    until = dd.c_valid_until.substr(0, 10).try_cast("date")
    since = dd.c_valid_from.substr(0, 10).try_cast("date")
    x = dd.filter((dd._day > until) | (dd._day < since))
    parts.append(certificate_rows(
        x, VIOLATED, "high", x.net_kg,
        message=ibis.literal("Shipment ").concat(
            x.declaration_id, " on ", x._day.cast("string"), " draws on certificate ",
            x.certificate_id, " outside its validity (",
            x.c_valid_from.substr(0, 10).fill_null("?"), " to ",
            x.c_valid_until.substr(0, 10).fill_null("?"), ").")))
    return ibis.union(*parts)


def build(m: FlowModel) -> list[Finding | ir.Table]:
    out: list[Finding | ir.Table] = []
    engine = drawdown_violations(m.t)
    if engine is not None:
        out.append(engine)
    out += of_rule(m.responsibility(), NAME)
    return out


DETECTOR = Detector(
    name=NAME,
    summary="A certificate drawn beyond its quantity, used outside its validity or for "
    "goods it does not cover, or whose goods were traced to a re-export, a transfer or a "
    "prohibited use against its commitments.",
    severity="high when the records establish it (overdrawn, out of validity, the holder "
    "acted, lot links trace the goods); medium for goods it does not cover and when the link "
    "rests on a buyer's mass balance",
    needs=("certificates", "shipments"),
    build=build,
    params=(ResponsibilitySettings,),
)
