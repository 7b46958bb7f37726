"""`unauthorised_reexport`: controlled material or components leaving the country of end use
against a no-re-export promise, naming the party that acted and the party answerable
(contract 1.1 §5, `analyses/responsibility.py`); and, seen only in statistics, a country's
exports of a controlled heading beyond its own production and unbound imports (§6,
`analyses/reexport_statistics.py`)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.reexport_statistics import (
    StatisticsReexportSettings,
    statistics_reexport_findings,
)
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.findings import Finding
from rareflow.vocabulary import NONE, REEXPORT_TERMS

NAME = "unauthorised_reexport"


def first_ids(t: ir.Table, keys: list[str], col: str, limit: int) -> ir.Table:
    """keys + `col`: the first `limit` distinct non-null values of `col` per group, in
    sorted order (the evidence a finding lists; the message counts them all)."""
    d = t.select(*keys, col).filter(t[col].notnull()).distinct()
    ranked = d.mutate(_rn=ibis.row_number().over(ibis.window(group_by=keys,
                                                              order_by=d[col])))
    return ranked.filter(ranked._rn < limit).drop("_rn")


def grouped(m: FlowModel, t: ir.Table, keys: list[str], sums: list[str],
            lists: dict[str, str], limit: int) -> pd.DataFrame:
    """`t` summed per `keys` in the engine (`sums`, and `n` records), with the first ids
    of each group as lists (`lists`: list column -> id column): only groups reach Python."""
    t = t.mutate(date=t.date.cast("date").year().cast("string"))
    agg = m.pull(t.group_by(keys).aggregate(n=t.count(), **{c: t[c].sum() for c in sums}))
    for many, one in lists.items():
        ids = m.pull(first_ids(t, keys, one, limit))
        per = (ids.groupby(keys, sort=False)[one].agg(lambda v: sorted(map(str, v)))
               .rename(many).reset_index())
        agg = agg.merge(per, on=keys, how="left")
        agg[many] = [v if isinstance(v, list) else [] for v in agg[many]]
    return agg


def in_statistics(m: FlowModel) -> list[Finding]:
    """Contract 1.1 §6: committed shipments and flows leaving a country, summed per country,
    product, code and year in the engine (with their first ids as evidence)."""
    settings = m.settings(StatisticsReexportSettings)
    limit = max(settings.max_evidence, 6)  # a message names up to 5 senders, then "..."
    ship = m.shipments
    c_ids = m.committed_ids("certificate", REEXPORT_TERMS)
    l_ids = m.committed_ids("licence", REEXPORT_TERMS)
    committed = ship.filter((ship.certificate_id.isin(c_ids or [NONE])
                             | ship.licence_id.isin(l_ids or [NONE]))
                            & ship.net_kg.notnull() & ship.date.notnull())
    committed = committed.mutate(hs_code=committed.hs_code.cast("string").fill_null(""))
    shipments = grouped(m, committed, ["destination", "product", "hs_code", "date"],
                        ["net_kg", "content_kg"], {"declaration_ids": "declaration_id"},
                        limit).assign(committed=True)
    f = m.flows
    leaving = None
    if f is not None:
        out = f.filter((f.dest_country != f.from_country) & f.net_kg.notnull()
                       & f.date.notnull())
        leaving = grouped(m, out, ["from_country", "dest_country", "product", "date"],
                          ["net_kg"], {"flow_ids": "flow_id", "from_ids": "from_id"}, limit)
    trade = m.frame(m.t.trade_stats, "reporter", "partner", "flow", "hs_code", "period",
                    "net_kg")
    products = m.frame(m.t.products, "product", "hs_code", "kind")
    return statistics_reexport_findings(trade, leaving, shipments, products, settings,
                                        m.balance.controlling_country)


def build(m: FlowModel) -> list[Finding]:
    out = of_rule(m.responsibility(), NAME)
    if m.t.trade_stats is not None:
        out += in_statistics(m)
    return out


DETECTOR = Detector(
    name=NAME,
    summary="Controlled material or components leaving the country of end use against a "
    "no-re-export promise; exports beyond own production in mirror statistics.",
    severity="high when the holder acted or lot links trace the goods; medium through a "
    "buyer's mass balance or beyond k_sigma in statistics; low below the statistics' "
    "material size",
    needs=("shipments",),
    build=build,
    params=(ResponsibilitySettings, StatisticsReexportSettings),
)
