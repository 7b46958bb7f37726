"""Runs flow accounting through the store: the engine reduces the tables (content, balances,
aggregated flows), the pure functions of `analyses/` solve the reduced problems."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rareflow.analyses.attribution import absorbing_shares, destinies, flow_targets
from rareflow.analyses.balances import BalanceSettings, party_balances
from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content, stock_content
from rareflow.analyses.screening import restricted_matches
from rareflow.analyses.tables import Tables
from rareflow.analyses.unaccounted import UnaccountedSettings, unaccounted_findings
from rareflow.findings import Finding
from rareflow.store import Store


@dataclass
class Accounting:
    balances: pd.DataFrame
    attribution: pd.DataFrame | None
    prohibited: pd.DataFrame
    findings: list[Finding]


def prohibited_parties(store: Store, t: Tables) -> pd.DataFrame:
    """(party_id, reason, evidence) for restricted-list matches and military contracts."""
    parties = store.to_pandas(t.parties.select("party_id", "name", "aliases"))
    rows = []
    if t.restricted_parties is not None:
        rp = store.to_pandas(t.restricted_parties)
        for m in restricted_matches(parties, rp).itertuples(index=False):
            rows.append((m.party_id, f"matches {m.list} entry '{m.matched_name}' ({m.how})",
                         m.entity_id))
    if t.observations is not None:
        o = t.observations
        mil = store.to_pandas(o.filter(o.kind == "military_contract").select("party_id",
                                                                                "obs_id"))
        rows += [(r.party_id, "military contract on record", r.obs_id)
                 for r in mil.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["party_id", "reason", "evidence"])


def run_accounting(store: Store, t: Tables, bs: BalanceSettings | None = None,
                   us: UnaccountedSettings | None = None) -> Accounting:
    bs = bs or BalanceSettings()
    us = us or UnaccountedSettings()
    balances = store.to_pandas(party_balances(t, bs).order_by(["party_id", "period"]))
    findings = unaccounted_findings(balances, us)
    prohibited = prohibited_parties(store, t)
    attribution = _attribution(store, t, bs, balances, set(prohibited.party_id))
    return Accounting(balances, attribution, prohibited, findings)


def _attribution(store: Store, t: Tables, bs: BalanceSettings, balances: pd.DataFrame,
                 prohibited: set[str]) -> pd.DataFrame | None:
    ship = shipment_content(t.shipments, t.products)
    home = t.parties.filter(t.parties.country == bs.controlling_country).party_id
    ship = ship.filter(ship.exporter_id.isin(home))
    src = ship.group_by(destination=ship.destination,
                        period=ship.date.cast("date").year().cast("string"),
                        node=ship.consignee_id).aggregate(content_kg=ship.content_kg.sum())
    sources = store.to_pandas(src)
    if sources.empty:
        return None
    f = flow_content(t)
    if f is None:
        edges = pd.DataFrame(columns=["from_id", "target", "content_kg"])
    else:
        agg = f.group_by(["from_id", "to_id", "product", "kind", "final_use", "dest_country",
                          "from_country"]).aggregate(content_kg=f.content_kg.sum())
        uses = store.to_pandas(t.uses.select("use", "civil"))
        civil = set(uses[uses.civil.fillna(False).astype(bool)].use)
        parties = store.to_pandas(t.parties.select("party_id", "roles"))
        edges = flow_targets(store.to_pandas(agg), parties, civil, prohibited)
    totals = balances.groupby("party_id")
    inflow = totals.received_kg.sum()
    stock = _stock_built(store, t)
    nodes, q, r = absorbing_shares(edges, inflow, stock, prohibited)
    out = destinies(nodes, q, r, sources)
    return out.sort_values(["destination", "period"]).reset_index(drop=True)


def _stock_built(store: Store, t: Tables) -> pd.Series:
    """Net stock built over the whole record: each product's last reported stock."""
    st = stock_content(t)
    if st is None:
        return pd.Series(dtype=float)
    df = store.to_pandas(st.select("party_id", "product", "date", "content_kg"))
    last = df.sort_values("date").groupby(["party_id", "product"]).content_kg.last()
    return last.groupby(level=0).sum()
