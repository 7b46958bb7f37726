"""Per-party rare-earth mass balances per period, with the standard deviation of the
residual ("unaccounted") propagated from each source's measurement uncertainty.

    unaccounted = received (customs + other parties) + produced - used in transformations
                  + process scrap held - sent - stock change

A transformation's output holds its input's content minus the scrap's (contract), so
`produced - used` is minus the process scrap. Process scrap is documented scrap, an end of
the material (contract 1.1, `verified_use`): `scrap_kg` is the part of it that the party
does not send on as a scrap product or keep in a reported scrap stock; the rest is held
until it leaves by a flow or a stock report.

A stock change is the last report at or before the period's end minus the last report at or
before its start; reports dated before the data's first period are opening stocks, not a
change to explain (contract 1.1 §2).

Each quantity's standard deviation is `relative sd of its source x quantity`; independent
entries add in quadrature. Defaults (`BalanceSettings`) are documented in
docs/rules/unaccounted_material.md."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content, stock_content, transformation_content
from rareflow.analyses.tables import Tables

COMPONENTS = ("received_customs", "received_flows", "produced", "scrap_generated", "sent",
              "used", "stock_change", "scrap_sent", "scrap_stock_change", "scrap_received")
SIGN = {"received_customs": 1, "received_flows": 1, "produced": 1, "sent": -1, "used": -1,
        "stock_change": -1}


def is_scrap(product: ir.StringValue) -> ir.BooleanValue:
    """Scrap products (`magnet_scrap` and any product code naming scrap)."""
    return product.lower().contains("scrap")


@dataclass(frozen=True)
class BalanceSettings:
    """Relative standard deviations by source, and where the controlling country is."""

    controlling_country: str = "CN"
    sd_customs: float = 0.01  # export declarations: weighed, checked
    sd_flows: float = 0.03  # parties' own reports of deliveries
    sd_transformations: float = 0.03  # production records
    sd_stocks: float = 0.05  # stock counts: loosest
    period: str = "year"  # year, quarter or month


def period_expr(d: ir.DateValue, period: str) -> ir.StringValue:
    if period == "month":
        return d.strftime("%Y-%m")
    if period == "quarter":
        return d.year().cast("string").concat("-Q", d.quarter().cast("string"))
    return d.year().cast("string")


def _part(t: ir.Table, party: ir.Value, d: ir.Value, kg: ir.Value, component: str,
          rel_sd: float, period: str) -> ir.Table:
    """One component, already summed per party and period (the engine reduces millions of
    records before the union)."""
    x = t.select(party_id=party, period=period_expr(d.cast("date"), period),
                 kg=kg.cast("float64"))
    g = x.group_by(["party_id", "period"]).aggregate(kg=x.kg.sum(), _kg2=(x.kg * x.kg).sum())
    return g.select("party_id", "period", component=ibis.literal(component), kg=g.kg,
                    var=(g._kg2 * rel_sd ** 2).cast("float64"))


def balance_entries(t: Tables, s: BalanceSettings) -> ir.Table:
    """Long table: party_id, period, component, kg, var (per party, period and component)."""
    ship = shipment_content(t.shipments, t.products)
    parts = [_part(ship, ship.consignee_id, ship.date, ship.content_kg, "received_customs",
                   s.sd_customs, s.period)]
    f = flow_content(t)
    if f is not None:
        to_party = f.filter(f.to_id.notnull())
        parts.append(_part(to_party, to_party.to_id, to_party.date, to_party.content_kg,
                           "received_flows", s.sd_flows, s.period))
        parts.append(_part(f, f.from_id, f.date, f.content_kg, "sent", s.sd_flows, s.period))
        sc = f.filter(is_scrap(f["product"]))
        parts.append(_part(sc, sc.from_id, sc.date, sc.content_kg, "scrap_sent", 0.0,
                           s.period))
        sr = sc.filter(sc.to_id.notnull())
        parts.append(_part(sr, sr.to_id, sr.date, sr.content_kg, "scrap_received", 0.0,
                           s.period))
    x = transformation_content(t)
    if x is not None:
        for comp, col in (("used", "input_kg"), ("produced", "output_kg"),
                          ("scrap_generated", "scrap_content_kg")):
            parts.append(_part(x, x.party_id, x.date, x[col], comp, s.sd_transformations,
                               s.period))
    st = stock_content(t)
    if st is not None:
        ch = stock_changes(st, s, first_period(t, s))
        parts.append(ch.select("party_id", "period", component=ibis.literal("stock_change"),
                               kg=ch.kg, var=ch["var"]))
        sc = ch.filter(is_scrap(ch["product"]))
        parts.append(sc.select("party_id", "period",
                               component=ibis.literal("scrap_stock_change"), kg=sc.kg,
                               var=ibis.literal(0.0)))
    return ibis.union(*parts)


def first_period(t: Tables, s: BalanceSettings) -> ir.StringValue:
    """The data's first period: that of its earliest shipment, flow or transformation."""
    dates = [t.shipments.select(d=t.shipments.date.cast("date"))]
    for x in (t.flows, t.transformations):
        if x is not None:
            dates.append(x.select(d=x.date.cast("date")))
    u = ibis.union(*dates, distinct=False)
    return period_expr(u.d.min(), s.period).as_scalar()


def stock_changes(st: ir.Table, s: BalanceSettings, first: ir.Value) -> ir.Table:
    """Per party, product and period from `first` on: the last reported stock minus the last
    one before (0 when there is none); earlier reports are opening stocks."""
    st = st.mutate(period=period_expr(st.date.cast("date"), s.period))
    w = ibis.window(group_by=[st.party_id, st.product, st.period], order_by=st.date.desc())
    last = st.mutate(_rn=ibis.row_number().over(w)).filter(ibis._._rn == 0)
    w2 = ibis.window(group_by=[last.party_id, last.product], order_by=last.period)
    prev = last.content_kg.lag().over(w2).fill_null(0)
    ch = last.mutate(kg=last.content_kg - prev,
                     var=(last.content_kg * s.sd_stocks) ** 2 + (prev * s.sd_stocks) ** 2)
    ch = ch.filter(first.isnull() | (ch.period >= first))
    return ch.select("party_id", "period", "product", kg=ch.kg.cast("float64"),
                     var=ch["var"].cast("float64"))


def party_balances(t: Tables, s: BalanceSettings) -> ir.Table:
    """Wide table per party and period: each component in kg, unaccounted and its sd.
    Parties of the controlling country are left out (their books are not in the data)."""
    e = balance_entries(t, s)
    aggs = {f"{c}_kg": e.kg.sum(where=e.component == c).fill_null(0) for c in COMPONENTS}
    wide = e.group_by(["party_id", "period"]).aggregate(**aggs, _var=e.var.sum())
    # process scrap not sent on as scrap nor kept in a scrap stock: documented scrap, an end
    scrap_end = ibis.greatest(
        wide.scrap_generated_kg - wide.scrap_sent_kg
        - ibis.greatest(wide.scrap_stock_change_kg, 0.0), 0.0)
    unacc = (sum(SIGN[c] * wide[f"{c}_kg"] for c in SIGN)
             + wide.scrap_generated_kg - scrap_end)
    # scrap delivered to a recycler is documented scrap too, for what the recycler's own
    # records do not follow further (recovered material sent back stays in the chain)
    recyclers = t.parties.filter(t.parties.roles.contains("recycler")).party_id
    recycled = ibis.cases(
        (wide.party_id.isin(recyclers),
         ibis.greatest(ibis.least(wide.scrap_received_kg, unacc), 0.0)), else_=0.0)
    wide = wide.mutate(
        received_kg=wide.received_customs_kg + wide.received_flows_kg,
        scrap_kg=scrap_end + recycled, unaccounted_kg=unacc - recycled,
        unaccounted_sd_kg=wide._var.sqrt(),
    ).drop("_var", "scrap_sent_kg", "scrap_stock_change_kg", "scrap_received_kg")
    home = t.parties.filter(t.parties.country == s.controlling_country).party_id
    return wide.filter(~wide.party_id.isin(home))
