"""The balance network of each period as a data-reconciliation problem: the streams
(customs receipts, flows between parties, outflows, stock changes, aggregated per pair of
ends) with their variances; each party is a balance node. Under the hypothesis that nothing
is unaccounted, `reconcile` gives the global chi-square test of the period and a nodal test
per party; a party's residual is then its estimated unaccounted flow, with sd
sqrt((A V A')_ii).

Transformations are internal to a party (output = input - scrap) and cancel in its balance,
so they are not streams here; the process scrap that leaves the books as documented scrap
(`balances.scrap_kg`) is a stream to the outside."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.sparse as sp

from rareflow.analyses.balances import (
    BalanceSettings,
    first_period,
    period_expr,
    stock_changes,
)
from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content, stock_content
from rareflow.analyses.reconcile import reconcile
from rareflow.analyses.tables import Tables

OUTSIDE = ""  # the outside world: the controlling country, final customers, abroad


def _stream(t: ir.Table, src: ir.Value, dst: ir.Value, d: ir.Value, kg: ir.Value,
            rel_sd: float, kind: str, period: str) -> ir.Table:
    """One kind of stream, already summed per period and pair of ends (a sum of sums is the
    sum: the engine then reduces millions of records before the union)."""
    x = t.select(period=period_expr(d.cast("date"), period), src=src.cast("string"),
                 dst=dst.cast("string"), kg=kg.cast("float64"))
    g = x.group_by(["period", "src", "dst"]).aggregate(kg=x.kg.sum(), _kg2=(x.kg * x.kg).sum())
    return g.select("period", "src", "dst", kind=ibis.literal(kind), kg=g.kg,
                    var=(g._kg2 * rel_sd ** 2).cast("float64"))


def balance_streams(t: Tables, s: BalanceSettings) -> ir.Table:
    """Streams per period, aggregated per (src, dst, kind): kg and variance. The process
    scrap that leaves the books is added from the balances already computed
    (`scrap_streams`): a second balance query inside this one would double its cost."""
    ship = shipment_content(t.shipments, t.products)
    parts = [_stream(ship, ibis.literal(OUTSIDE), ship.consignee_id, ship.date,
                     ship.content_kg, s.sd_customs, "customs", s.period)]
    f = flow_content(t)
    if f is not None:
        parts.append(_stream(f, f.from_id, f.to_id.fill_null(OUTSIDE), f.date, f.content_kg,
                             s.sd_flows, "flow", s.period))
    st = stock_content(t)
    if st is not None:
        ch = stock_changes(st, s, first_period(t, s))
        parts.append(ch.select(period=ch.period, src=ch.party_id.cast("string"),
                               dst=ibis.literal(OUTSIDE), kind=ibis.literal("stock_change"),
                               kg=ch.kg, var=ch["var"]))
    u = ibis.union(*parts)
    home = t.parties.filter(t.parties.country == s.controlling_country).party_id
    u = u.mutate(src=ibis.cases((u.src.isin(home), OUTSIDE), else_=u.src),
                 dst=ibis.cases((u.dst.isin(home), OUTSIDE), else_=u.dst))
    u = u.filter(u.src != u.dst)
    return u.group_by(["period", "src", "dst", "kind"]).aggregate(kg=u.kg.sum(),
                                                                 var=u["var"].sum())


def scrap_streams(balances: pd.DataFrame, s: BalanceSettings) -> pd.DataFrame:
    """Documented process scrap (`balances.scrap_kg` > 0) as streams from each party to the
    outside, one per party and period (the balances leave out the controlling country's
    parties, so no stream runs from the outside to itself)."""
    b = balances[balances.scrap_kg > 0]
    kg = b.scrap_kg.astype(float)
    return pd.DataFrame({"period": b.period.astype(str), "src": b.party_id.astype(str),
                         "dst": OUTSIDE, "kind": "scrap", "kg": kg,
                         "var": (kg * s.sd_transformations) ** 2})


def period_tests(streams: pd.DataFrame, alpha: float = 0.05
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per period: (nodes: party_id, period, residual_kg, residual_sd_kg, nodal_z, nodal_p)
    and (global: period, statistic, dof, p_value, gross_error, nodes, streams)."""
    node_rows, global_rows = [], []
    for period, g in streams.groupby("period", sort=True):
        parties = sorted((set(g.src) | set(g.dst)) - {OUTSIDE})
        if not parties:
            continue
        idx = {p: i for i, p in enumerate(parties)}
        rows, cols, vals = [], [], []
        for j, (src, dst) in enumerate(zip(g.src, g.dst, strict=True)):
            if dst in idx:
                rows.append(idx[dst])
                cols.append(j)
                vals.append(1.0)
            if src in idx:
                rows.append(idx[src])
                cols.append(j)
                vals.append(-1.0)
        a = sp.csr_matrix((vals, (rows, cols)), shape=(len(parties), len(g)))
        kg = g.kg.to_numpy(float)
        var = np.clip(g["var"].to_numpy(float), 0.0, None)
        rec = reconcile(a, kg, var, alpha=alpha, nodes=parties)
        for i, p in enumerate(parties):
            node_rows.append({"party_id": p, "period": str(period),
                              "residual_kg": float(rec.residuals[i]),
                              "residual_sd_kg": float(rec.residual_sd[i]),
                              "nodal_z": float(rec.node_z[i]), "nodal_p": float(rec.node_p[i])})
        global_rows.append({"period": str(period), "statistic": float(rec.statistic),
                            "dof": int(rec.dof), "p_value": float(rec.p_value),
                            "gross_error": bool(rec.gross_error), "nodes": len(parties),
                            "streams": len(g)})
    return pd.DataFrame(node_rows), pd.DataFrame(global_rows)
