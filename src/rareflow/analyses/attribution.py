"""Where the controlling country's exports ended up: the mass-balance chain of custody solved
as an absorbing Markov chain on the sparse flow graph.

Each party passes on what it receives in proportion to its documented outflows (the
mass-balance model): flows to other parties (transient), and five absorbing ends:
verified use (final sales for a civil use, final goods exported, scrap to a recycler),
in stock (net stock build-up), re-exported (controlled material or components leaving the
destination country), prohibited use (a military use, a restricted party, a party with a
military contract) and unaccounted (the party's residual). With Q the party-to-party and R
the party-to-end fractions, material injected at nodes `s` ends in `s' (I - Q)^-1 R`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

CATEGORIES = ("verified_use", "in_stock", "reexported", "prohibited_use", "unaccounted")


def targets(flows: pd.DataFrame, roles: dict[str, str], civil_uses: set[str],
            prohibited: set[str]) -> np.ndarray:
    """Where each flow goes: a party id, or one of the absorbing categories (prohibited
    receiver; material or components leaving the country: re-exported; anything else
    leaving, final sales for a civil use, scrap to a recycler: verified use; a sale for a
    military use: prohibited). The engine form is `lots.flow_target_expr`."""
    to_id = flows.to_id.where(flows.to_id.notna(), None).astype(object)
    has_to = to_id.notna().to_numpy()
    to_str = to_id.fillna("").astype(str)
    leaves = (flows.dest_country.astype(object) != flows.from_country.astype(object)).to_numpy()
    material = flows.kind.isin(["material", "component"]).to_numpy()
    use = flows.final_use.astype(object)
    military = (use.notna() & ~use.isin(list(civil_uses))).to_numpy()
    recycler = to_str.map(lambda p: "recycler" in roles.get(p, "")).to_numpy(bool)
    scrap = (flows["product"].astype(object) == "magnet_scrap").to_numpy()
    bad = to_str.isin(list(prohibited)).to_numpy() & has_to
    return np.select(
        [bad, leaves & material, leaves, ~has_to & military, ~has_to, scrap & recycler],
        ["prohibited_use", "reexported", "verified_use", "prohibited_use", "verified_use",
         "verified_use"], default=to_str.to_numpy(object)).astype(object)


def flow_targets(flows: pd.DataFrame, parties: pd.DataFrame, civil_uses: set[str],
                 prohibited: set[str]) -> pd.DataFrame:
    """Aggregated flows (from_id, to_id, to_country, product kind, final_use, dest_country,
    from_country, content_kg) -> (from_id, target, content_kg) where target is a party
    id or one of the absorbing categories."""
    roles = dict(zip(parties.party_id, parties.roles.fillna(""), strict=True))
    df = pd.DataFrame({"from_id": flows.from_id.astype(object),
                       "target": targets(flows, roles, civil_uses, prohibited),
                       "content_kg": flows.content_kg.astype(float)})
    return df.groupby(["from_id", "target"], as_index=False).content_kg.sum()


def absorbing_shares(edges: pd.DataFrame, inflow: pd.Series, stock_change: pd.Series,
                     prohibited: set[str]) -> tuple[list[str], sp.csr_matrix, np.ndarray]:
    """Nodes, the transient matrix Q and the absorbing matrix R (rows sum to 1)."""
    is_cat = edges.target.isin(CATEGORIES).to_numpy()
    nodes_ix = pd.Index(pd.unique(np.concatenate([
        edges.from_id.to_numpy(object), inflow.index.to_numpy(object),
        edges.target.to_numpy(object)[~is_cat]]))).sort_values()
    nodes = list(nodes_ix)
    n = len(nodes)
    out_sum = edges.groupby("from_id").content_kg.sum().reindex(nodes_ix, fill_value=0.0)
    stock_pos = np.clip(stock_change.reindex(nodes_ix, fill_value=0.0).to_numpy(float), 0, None)
    inflow_v = inflow.reindex(nodes_ix, fill_value=0.0).to_numpy(float)
    denom = np.maximum(inflow_v, out_sum.to_numpy(float) + stock_pos)
    denom[denom == 0] = 1.0
    i = nodes_ix.get_indexer(edges.from_id)
    w = edges.content_kg.to_numpy(float) / denom[i]
    blocked = np.zeros(n, bool)
    blocked[nodes_ix.get_indexer(list(prohibited & set(nodes)))] = True
    keep = ~blocked[i]
    r_mat = np.zeros((n, len(CATEGORIES)))
    cat_i = pd.Index(CATEGORIES).get_indexer(edges.target[is_cat & keep])
    np.add.at(r_mat, (i[is_cat & keep], cat_i), w[is_cat & keep])
    tr = ~is_cat & keep
    q = sp.csr_matrix((w[tr], (i[tr], nodes_ix.get_indexer(edges.target[tr]))), shape=(n, n))
    r_mat[:, CATEGORIES.index("in_stock")] += stock_pos / denom
    left = 1.0 - np.asarray(q.sum(axis=1)).ravel() - r_mat.sum(axis=1)
    r_mat[:, CATEGORIES.index("unaccounted")] += np.clip(left, 0.0, None)
    r_mat[blocked, :] = 0.0
    r_mat[blocked, CATEGORIES.index("prohibited_use")] = 1.0
    return nodes, q, r_mat


def destinies(nodes: list[str], q: sp.csr_matrix, r_mat: np.ndarray,
              sources: pd.DataFrame, reached: dict | None = None) -> pd.DataFrame:
    """For each source group (columns other than `node` and `content_kg`), the kg ending in
    each category. One sparse LU factorisation, one solve per group. `reached`, when given,
    receives for each group key the nodes its material passes through."""
    idx = {n: i for i, n in enumerate(nodes)}
    keys = [c for c in sources.columns if c not in ("node", "content_kg")]
    n = len(nodes)
    lu = spla.splu((sp.identity(n, format="csc") - q.T.tocsc()).tocsc()) if n else None
    rows = []
    for key, grp in sources.groupby(keys, sort=True):
        s = np.zeros(n)
        outside = 0.0
        for node, kg in zip(grp.node, grp.content_kg, strict=True):
            if node in idx:
                s[idx[node]] += kg
            else:
                outside += kg
        y = lu.solve(s) if lu is not None else s
        key = key if isinstance(key, tuple) else (key,)
        if reached is not None:  # keyed like the rows: the value itself for one key column
            reached[key[0] if len(keys) == 1 else key] = {
                nodes[i] for i in np.flatnonzero(y > 1e-9)}
        ends = y @ r_mat if n else np.zeros(len(CATEGORIES))
        ends[CATEGORIES.index("unaccounted")] += outside
        total = float(grp.content_kg.sum())
        row = dict(zip(keys, key, strict=True))
        row["released_kg"] = total
        for k, c in enumerate(CATEGORIES):
            row[f"{c}_kg"] = float(ends[k])
            row[f"{c}_share"] = float(ends[k]) / total if total else 0.0
        rows.append(row)
    return pd.DataFrame(rows)
