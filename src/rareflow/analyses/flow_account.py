"""Where the controlling country's exports went: a flow account per period (contract 1.1
§1-3), solved as an absorbing chain on each period's party graph.

For a period, each party divides what it received in that period (customs receipts and
flows from other parties) among what it did in that period: flows to other parties
(transient), and the five ends: verified use (final sales for a civil use, final goods
exported, scrap delivered to a recycler, process scrap a transformation reports), in stock
(the signed stock change: a drawdown is a negative end; what a recycler keeps is
documented scrap, verified use), re-exported (controlled material
or components leaving the country), prohibited use (a military use, a restricted party, a
party with a military contract) and unaccounted (the signed remainder, which is the party's
balance residual). A party's fractions therefore add up to 1 and can be negative (stock) or
exceed 1 (a drawdown passed on), so the five shares of a destination add up to 1 while
`verified_use` can exceed 1 and `in_stock` be negative, as the contract says.

With Q the party-to-party and R the party-to-end fractions, the content released to a
destination at nodes `s` ends in `s (I - Q)^-1 R`; the ends add up to `s` exactly.

Lot links (`source_ref`, `input_ref`) are evidence of origin, never a cap on mass: they do
not steer this account (contract 1.1 §3: removing them changes no share). The rules that
name who is answerable follow them (`responsibility`).

The cohort view (`cohort`) solves one graph over the whole record instead: where each
period's release ended up by the end of the data."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rareflow.analyses.balances import period_expr
from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content
from rareflow.analyses.tables import Tables
from rareflow.vocabulary import CATEGORIES, CONTROLLED_KINDS, NONE


def flow_target_expr(f: ir.Table, civil: list[str], prohibited: list[str]
                     ) -> ir.StringValue:
    """Where a flow goes: the receiving party, or an end. A prohibited receiver: prohibited
    use; controlled items leaving the country: re-exported; final goods leaving, a final
    sale for a civil use (or none named): verified use; a final sale for a military use:
    prohibited use. Scrap delivered to a recycler goes to the recycler, whose records then
    decide: what it sends back stays in the chain, what it does not follow further is
    documented scrap (`balances.scrap_kg`)."""
    leaves = f.dest_country != f.from_country
    return ibis.cases(
        (f.to_id.notnull() & f.to_id.isin(prohibited or [NONE]), "prohibited_use"),
        (leaves & f.kind.isin(list(CONTROLLED_KINDS)), "reexported"),
        (leaves, "verified_use"),
        (f.to_id.isnull() & f.final_use.notnull() & ~f.final_use.isin(civil or [NONE]),
         "prohibited_use"),
        (f.to_id.isnull(), "verified_use"),
        else_=f.to_id,
    )


def flow_edges(t: Tables, period: str, civil: set[str], prohibited: set[str]
               ) -> ir.Table | None:
    """(period, from_id, target, content_kg): every flow, aggregated per period and pair."""
    f = flow_content(t)
    if f is None:
        return None
    f = f.mutate(period=period_expr(f.date.cast("date"), period),
                 target=flow_target_expr(f, sorted(civil), sorted(prohibited)))
    return f.group_by(["period", "from_id", "target"]).aggregate(
        content_kg=f.content_kg.sum().cast("float64"))


def release_sources(t: Tables, period: str, controlling_country: str) -> ir.Table:
    """(destination, period, node, content_kg): the rare-earth content the controlling
    country's exporters released, by destination, period and consignee."""
    ship = shipment_content(t.shipments, t.products)
    home = t.parties.filter(t.parties.country == controlling_country).party_id
    src = ship.filter(ship.exporter_id.isin(home))
    return src.group_by(destination=src.destination,
                        period=period_expr(src.date.cast("date"), period),
                        node=src.consignee_id).aggregate(
        content_kg=src.content_kg.sum().cast("float64"))


@dataclass
class Chain:
    """One period's graph: nodes, transient fractions Q and end fractions R."""

    nodes: pd.Index
    q: sp.csr_matrix
    r: np.ndarray

    def solve(self, sources: pd.DataFrame, keys: list[str]
              ) -> tuple[pd.DataFrame, dict[tuple, np.ndarray]]:
        """Per source group, the kg in each end; and the kg reaching each node."""
        n = len(self.nodes)
        groups = list(sources.groupby(keys, sort=True))
        s = np.zeros((n, len(groups)))
        outside = np.zeros(len(groups))
        for j, (_, grp) in enumerate(groups):
            ix = self.nodes.get_indexer(grp.node.astype(object))
            kg = grp.content_kg.to_numpy(float)
            np.add.at(s[:, j], ix[ix >= 0], kg[ix >= 0])
            outside[j] = kg[ix < 0].sum()
        y = _solve(self.q, s) if n else s
        ends = y.T @ self.r if n else np.zeros((len(groups), len(CATEGORIES)))
        ends[:, CATEGORIES.index("unaccounted")] += outside
        rows, reached = [], {}
        for j, (key, grp) in enumerate(groups):
            key = key if isinstance(key, tuple) else (key,)
            total = float(grp.content_kg.sum())
            row = dict(zip(keys, key, strict=True))
            row["released_kg"] = total
            for k, c in enumerate(CATEGORIES):
                row[f"{c}_kg"] = float(ends[j, k])
                row[f"{c}_share"] = float(ends[j, k]) / total if total else 0.0
            rows.append(row)
            reached[key] = y[:, j]
        cols = [*keys, "released_kg", *(f"{c}_{u}" for c in CATEGORIES for u in ("kg", "share"))]
        return pd.DataFrame(rows, columns=cols), reached


def _solve(q: sp.csr_matrix, s: np.ndarray) -> np.ndarray:
    """y with y (I - Q) = s for each column of s. Rows of Q may add up to more than 1 (a
    stock drawdown passed on); if that makes the system singular, such rows are scaled to 1
    (the excess stays with the party as a negative remainder)."""
    n = q.shape[0]
    a = (sp.identity(n, format="csc") - q.T.tocsc()).tocsc()
    try:
        y = spla.splu(a).solve(s)
        if np.all(np.isfinite(y)):
            return y
    except RuntimeError:
        pass
    tot = np.asarray(q.sum(axis=1)).ravel()
    scale = np.where(tot > 1.0, 1.0 / np.where(tot > 0, tot, 1.0), 1.0)
    q2 = sp.diags(scale) @ q
    return spla.spsolve((sp.identity(n, format="csc") - q2.T.tocsc()).tocsc(), s).reshape(
        s.shape)


def build_chain(edges: pd.DataFrame, balances: pd.DataFrame, prohibited: set[str],
                recyclers: frozenset[str] = frozenset()) -> Chain:
    """`edges` (from_id, target, content_kg) and `balances` (party_id, received_kg,
    stock_change_kg, scrap_kg) of one period (or of the whole record) -> the chain. What a
    recycler keeps in stock is documented scrap delivered to a recycler (verified use)."""
    is_end = edges.target.isin(CATEGORIES).to_numpy()
    nodes = pd.Index(pd.unique(np.concatenate([
        balances.party_id.to_numpy(object), edges.from_id.to_numpy(object),
        edges.target.to_numpy(object)[~is_end]]))).sort_values()
    n = len(nodes)
    b = balances.groupby("party_id")[["received_kg", "stock_change_kg", "scrap_kg"]].sum()
    b = b.reindex(nodes, fill_value=0.0)
    inflow = b.received_kg.to_numpy(float)
    live = inflow > 1e-9
    denom = np.where(live, inflow, 1.0)
    i = nodes.get_indexer(edges.from_id.astype(object))
    w = edges.content_kg.to_numpy(float) / denom[i]
    r = np.zeros((n, len(CATEGORIES)))
    e = is_end
    np.add.at(r, (i[e], pd.Index(CATEGORIES).get_indexer(edges.target[e])), w[e])
    q = sp.csr_matrix((w[~e], (i[~e], nodes.get_indexer(edges.target[~e].astype(object)))),
                      shape=(n, n))
    at_recycler = nodes.isin(list(recyclers))
    stock = b.stock_change_kg.to_numpy(float) / denom
    r[:, CATEGORIES.index("in_stock")] += np.where(at_recycler, 0.0, stock)
    r[:, CATEGORIES.index("verified_use")] += np.where(at_recycler, stock, 0.0)
    r[:, CATEGORIES.index("verified_use")] += b.scrap_kg.to_numpy(float) / denom
    r[:, CATEGORIES.index("unaccounted")] += 1.0 - np.asarray(q.sum(axis=1)).ravel() - r.sum(1)
    # a party that received nothing this period passes on nothing of this period's release;
    # a prohibited party's receipts are prohibited use
    blocked = ~live | nodes.isin(list(prohibited))
    keep = sp.diags((~blocked).astype(float))
    q = (keep @ q).tocsr()
    r[blocked, :] = 0.0
    r[~live, CATEGORIES.index("unaccounted")] = 1.0
    r[nodes.isin(list(prohibited)), :] = 0.0
    r[nodes.isin(list(prohibited)), CATEGORIES.index("prohibited_use")] = 1.0
    return Chain(nodes, q, r)


def attribute(edges: pd.DataFrame, balances: pd.DataFrame, sources: pd.DataFrame,
              prohibited: set[str], recyclers: frozenset[str] = frozenset()
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flow account per destination and period, and (destination, period, party_id,
    reached_kg): how much of each destination's release reached each party.

    `unaccounted_sd_kg`: the standard deviation of `unaccounted_kg`, from each reached
    party's residual sd (`balances.unaccounted_sd_kg`) in proportion to the share of its
    receipts that came from the destination's release (parties taken as independent)."""
    out, reach = [], []
    for period, src in sources.groupby("period", sort=True):
        bal = balances[balances.period == period]
        chain = build_chain(edges[edges.period == period], bal, prohibited, recyclers)
        res, reached = chain.solve(src, ["destination", "period"])
        b = bal.groupby("party_id").agg(received=("received_kg", "sum"),
                                        sd=("unaccounted_sd_kg", "max"))
        b = b.reindex(chain.nodes)
        frac = (b.received.fillna(0.0).to_numpy(float), b.sd.fillna(0.0).to_numpy(float))
        sds = []
        for key in zip(res.destination, res.period, strict=True):
            y = reached[key]
            share = np.divide(y, frac[0], out=np.zeros_like(y), where=frac[0] > 1e-9)
            sds.append(float(np.sqrt(np.sum((np.clip(share, 0, 1) * frac[1]) ** 2))))
        out.append(res.assign(unaccounted_sd_kg=sds))
        for (dest, per), y in reached.items():
            hit = np.flatnonzero(y > 1e-9)
            reach.append(pd.DataFrame({"destination": dest, "period": per,
                                       "party_id": chain.nodes[hit], "reached_kg": y[hit]}))
    cols = ["destination", "period", "party_id", "reached_kg"]
    return (pd.concat(out, ignore_index=True) if out else pd.DataFrame(),
            pd.concat(reach, ignore_index=True) if reach else pd.DataFrame(columns=cols))


def cohort(edges: pd.DataFrame, balances: pd.DataFrame, sources: pd.DataFrame,
           prohibited: set[str], recyclers: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Where each period's release ended up by the end of the data: one graph over the whole
    record (flows summed, stock change from the opening stock to the last report)."""
    if sources.empty:
        return pd.DataFrame()
    e = edges.groupby(["from_id", "target"], as_index=False).content_kg.sum()
    chain = build_chain(e, balances, prohibited, recyclers)
    res, _ = chain.solve(sources, ["destination", "period"])
    return res


def consistency(attribution: pd.DataFrame, reached: pd.DataFrame, balances: pd.DataFrame,
                z: float = 3.0) -> pd.DataFrame:
    """The analysis checks itself: per destination and period, attribution's unaccounted kg
    may not exceed the summed positive unaccounted of the parties its material reached plus
    `z` standard deviations. A failed check is a bug."""
    cols = ["destination", "period", "attribution_unaccounted_kg", "balances_unaccounted_kg",
            "balances_sd_kg", "ok"]
    if attribution.empty:
        return pd.DataFrame(columns=cols)
    b = balances.assign(pos=balances.unaccounted_kg.clip(lower=0.0),
                        var=balances.unaccounted_sd_kg.fillna(0.0) ** 2)
    m = reached.merge(b[["party_id", "period", "pos", "var"]], on=["party_id", "period"],
                      how="left").fillna({"pos": 0.0, "var": 0.0})
    per = m.groupby(["destination", "period"]).agg(pos=("pos", "sum"), var=("var", "sum"))
    rows = []
    for a in attribution.itertuples(index=False):
        key = (a.destination, a.period)
        pos, var = (per.loc[key].pos, per.loc[key]["var"]) if key in per.index else (0.0, 0.0)
        sd = float(np.sqrt(var))
        got = float(a.unaccounted_kg)
        rows.append((a.destination, a.period, got, float(pos), sd,
                     bool(got <= pos + z * sd + 1e-6 * max(1.0, float(a.released_kg)))))
    return pd.DataFrame(rows, columns=cols)
