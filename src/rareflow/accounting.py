"""Runs flow accounting through the store: the engine reduces the tables (content, balances,
aggregated flows), the pure functions of `analyses/` solve the reduced problems."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from rareflow.analyses.attribution import CATEGORIES, absorbing_shares, destinies, flow_targets
from rareflow.analyses.balances import BalanceSettings, party_balances
from rareflow.analyses.capacity import CapacitySettings, capacity_findings
from rareflow.analyses.certificate_destiny import (
    certificate_destinies,
    destiny_findings,
    diverting_flows,
)
from rareflow.analyses.content import shipment_content
from rareflow.analyses.diversion import (
    bound_parties,
    mirror_findings,
    prohibited_findings,
    reexport_findings,
    teardown_trace,
)
from rareflow.analyses.flow_content import flow_content, stock_content
from rareflow.analyses.lots import LOT, links, lot_edges, records
from rareflow.analyses.network_test import balance_streams, period_tests
from rareflow.analyses.screening import restricted_matches
from rareflow.analyses.tables import Tables
from rareflow.analyses.unaccounted import UnaccountedSettings, unaccounted_findings
from rareflow.findings import Finding
from rareflow.policy import load_policy
from rareflow.store import Store


@dataclass
class Accounting:
    balances: pd.DataFrame
    attribution: pd.DataFrame | None
    prohibited: pd.DataFrame
    findings: list[Finding]
    reconciliation: pd.DataFrame | None = None


def prohibited_parties(store: Store, t: Tables) -> pd.DataFrame:
    """(party_id, reason, evidence) for restricted-list matches and military contracts."""
    rows = []
    for m in _matches(store, t).itertuples(index=False):
        rows.append((m.party_id, f"matches {m.list} entry '{m.matched_name}' ({m.how})",
                     m.entity_id))
    if t.observations is not None:
        o = t.observations
        mil = store.to_pandas(o.filter(o.kind == "military_contract").select("party_id",
                                                                                "obs_id"))
        rows += [(r.party_id, "military contract on record", r.obs_id)
                 for r in mil.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["party_id", "reason", "evidence"])


def _matches(store: Store, t: Tables) -> pd.DataFrame:
    if t.restricted_parties is None:
        return pd.DataFrame(columns=["party_id", "list", "entity_id", "matched_name", "how"])
    parties = store.to_pandas(t.parties.select("party_id", "name", "aliases"))
    return restricted_matches(parties, store.to_pandas(t.restricted_parties))


def restricted_party_findings(store: Store, t: Tables) -> list[Finding]:
    """`restricted_party`: a party whose name or alias matches a restricted list."""
    return [Finding(
        rule="restricted_party", severity="high", subject_type="party",
        subject_id=str(m.party_id), evidence=[str(m.party_id), str(m.entity_id)],
        message=(f"{m.party_id} matches '{m.matched_name}' on list {m.list} "
                 f"(entity {m.entity_id}, {m.how} match)."))
        for m in _matches(store, t).itertuples(index=False)]


def run_accounting(store: Store, t: Tables, bs: BalanceSettings | None = None,
                   us: UnaccountedSettings | None = None,
                   cs: CapacitySettings | None = None) -> Accounting:
    bs = bs or BalanceSettings()
    us = us or UnaccountedSettings()
    balances = store.to_pandas(party_balances(t, bs).order_by(["party_id", "period"]))
    balances, reconciliation = _network_tests(store, t, bs, balances)
    prohibited = prohibited_parties(store, t)
    findings = unaccounted_findings(balances, us, _not_judged(store, t, prohibited))
    attribution = _attribution(store, t, bs, balances, set(prohibited.party_id))
    findings += _diversion(store, t, prohibited)
    findings += restricted_party_findings(store, t)
    if bs.period == "year":
        findings += _certificate_destiny(store, t, balances, set(prohibited.party_id))
    if t.capacity is not None:
        yearly = (balances if bs.period == "year" else store.to_pandas(
            party_balances(t, BalanceSettings(controlling_country=bs.controlling_country))))
        findings += capacity_findings(_capacity_use(store, t, yearly), cs or CapacitySettings())
    return Accounting(balances, attribution, prohibited, findings, reconciliation)


def _network_tests(store: Store, t: Tables, bs: BalanceSettings, balances: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each period's balance network reconciled under "nothing unaccounted": the residual sd
    from (A V A')_ii (a flow between two parties is one measurement in both balances;
    transformations cancel inside a party), the nodal test per party, the global test."""
    streams = store.to_pandas(balance_streams(t, bs))
    nodes, glob = period_tests(streams)
    if nodes.empty:
        return balances.assign(nodal_z=float("nan"), nodal_p=float("nan")), glob
    m = balances.merge(nodes[["party_id", "period", "residual_sd_kg", "nodal_z", "nodal_p"]],
                       on=["party_id", "period"], how="left")
    m["unaccounted_sd_kg"] = m.residual_sd_kg.fillna(m.unaccounted_sd_kg)
    return m.drop(columns="residual_sd_kg"), glob


def _not_judged(store: Store, t: Tables, prohibited: pd.DataFrame) -> set[str]:
    """Parties whose books `unaccounted_material` does not judge: prohibited receivers (their
    receipts are prohibited use) and parties outside every destination country."""
    dest = t.shipments.select("destination").distinct()
    outside = t.parties.filter(~t.parties.country.isin(dest.destination))
    return set(prohibited.party_id) | set(store.to_pandas(outside.select("party_id")).party_id)


def _civil_uses(store: Store, t: Tables) -> set[str]:
    uses = store.to_pandas(t.uses.select("use", "civil"))
    return set(uses[uses.civil.fillna(False).astype(bool)].use)


def _diversion(store: Store, t: Tables, prohibited: pd.DataFrame) -> list[Finding]:
    civil = _civil_uses(store, t)
    ship = shipment_content(t.shipments, t.products)
    bad_list = list(prohibited.party_id) or ["\u2400"]
    # only what the rules need reaches Python: shipments naming a prohibited party, and
    # the distinct (consignee, end user, certificate, licence) combinations
    direct = ship.filter(ship.consignee_id.isin(bad_list) | ship.end_user_id.isin(bad_list))
    ship_df = store.to_pandas(direct.select("declaration_id", "date", "consignee_id",
                                            "end_user_id", "certificate_id", "licence_id",
                                            "content_kg"))
    combos = store.to_pandas(ship.select("consignee_id", "end_user_id", "certificate_id",
                                         "licence_id").distinct())
    f = flow_content(t)
    cols = ["flow_id", "date", "from_id", "to_id", "product", "kind", "content_kg",
            "dest_country", "from_country", "final_use", "source_ref"]
    if f is None:
        flows = pd.DataFrame(columns=cols)
        edges = pd.DataFrame(columns=["from_id", "to_id"])
    else:
        notable = f.filter((f.dest_country != f.from_country) | f.to_id.isin(bad_list)
                           | (f.to_id.isnull() & f.final_use.notnull()
                              & ~f.final_use.isin(list(civil) or ["\u2400"])))
        flows = store.to_pandas(notable.select(*cols))
        e = f.filter(f.to_id.notnull())
        edges = store.to_pandas(e.select("from_id", "to_id").distinct())
    out = prohibited_findings(flows, ship_df, prohibited, civil)
    certs = (store.to_pandas(t.certificates.select("certificate_id", "commitments"))
             if t.certificates is not None else pd.DataFrame(columns=["certificate_id",
                                                                     "commitments"]))
    lics = (store.to_pandas(t.licences.select("licence_id", "conditions"))
            if t.licences is not None else pd.DataFrame(columns=["licence_id", "conditions"]))
    bound = bound_parties(combos, certs, lics, edges)
    named = {c.certificate_id: _no_transfer(c.commitments) for c in certs.itertuples()}
    named |= {x.licence_id: _no_transfer(x.conditions) for x in lics.itertuples()}
    out += reexport_findings(flows, bound, named)
    if t.trade_stats is not None:
        hs = tuple(sorted({h for c in load_policy(None).controls for h in c.tariff_lines}
                          | {"850511", "280530", "284690", "720299"}))
        out += mirror_findings(store.to_pandas(t.trade_stats), hs)
    if t.observations is not None:
        o = t.observations
        tear = store.to_pandas(o.filter(o.kind == "teardown"))
        if len(tear):
            fl = (store.to_pandas(t.flows.select("flow_id", "source_ref"))
                  if t.flows is not None else pd.DataFrame(columns=["flow_id", "source_ref"]))
            tr = (store.to_pandas(t.transformations.select("transformation_id", "input_ref"))
                  if t.transformations is not None
                  else pd.DataFrame(columns=["transformation_id", "input_ref"]))
            decl = store.to_pandas(ship.select("declaration_id", "certificate_id"))
            out += teardown_trace(tear, fl, tr, decl)
    return out


def _certificate_destiny(store: Store, t: Tables, balances: pd.DataFrame,
                         prohibited: set[str]) -> list[Finding]:
    """`certificate_violated` where a certificate's goods, followed year by year through the
    flow graph, end re-exported or in a prohibited use against its commitments."""
    f = flow_content(t)
    if f is None or t.certificates is None:
        return []
    ship = shipment_content(t.shipments, t.products)
    ship = ship.filter(ship.certificate_id.notnull())
    src = store.to_pandas(ship.group_by(
        certificate_id=ship.certificate_id, year=ship.date.cast("date").year().cast("string"),
        node=ship.consignee_id).aggregate(content_kg=ship.content_kg.sum()))
    if src.empty:
        return []
    f = f.mutate(year=f.date.cast("date").year().cast("string"))
    f = f.filter(f.year.isin(sorted(set(src.year))))
    keys = ["year", "from_id", "to_id", "product", "kind", "final_use", "dest_country",
            "from_country"]
    agg = store.to_pandas(f.group_by(keys).aggregate(content_kg=f.content_kg.sum()))
    civil = _civil_uses(store, t)
    bad = sorted(prohibited) or ["\u2400"]
    notable = f.filter((f.dest_country != f.from_country) | f.to_id.isin(bad)
                       | (f.to_id.isnull() & f.final_use.notnull()))
    notable = store.to_pandas(notable.select("flow_id", *keys))
    parties = store.to_pandas(t.parties.select("party_id", "roles"))
    certs = store.to_pandas(t.certificates.select("certificate_id", "commitments"))
    commitments = dict(zip(certs.certificate_id, certs.commitments, strict=True))
    out: list[Finding] = []
    for year, sources in src.groupby("year", sort=True):
        flows = agg[agg.year == year]
        inflow = balances[balances.period == year].groupby("party_id").received_kg.sum()
        dest, reached = certificate_destinies(flows, parties, inflow, sources, civil, prohibited)
        div = diverting_flows(notable[notable.year == year], parties, civil, prohibited)
        out += destiny_findings(str(year), dest, reached, div, commitments)
    return out


def _no_transfer(text: object) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {c.split(":", 1)[1].strip().upper() for c in text.split(";")
            if c.strip().startswith("no_transfer:")}


def expected_use(store: Store, t: Tables) -> pd.DataFrame:
    """Per party and year, the rare-earth content (kg) its declared output uses, or without
    a declared output its capacity: party_id, year, basis (output|capacity), expected_kg."""
    p = t.products.select("product", "re_kg_per_unit")
    j = t.capacity.inner_join(p, "product")
    j = j.mutate(kg=j.units * j.re_kg_per_unit)
    per = store.to_pandas(j.group_by(["party_id", "year", "kind"]).aggregate(kg=j.kg.sum()))
    per = per.sort_values("kind", key=lambda k: k.map({"output": 0, "capacity": 1}))
    return (per.groupby(["party_id", "year"], as_index=False).first()
            .rename(columns={"kg": "expected_kg", "kind": "basis"}))


def _capacity_use(store: Store, t: Tables, yearly: pd.DataFrame) -> pd.DataFrame:
    """Per party and year: receipts, stock built and the content the declared output (or,
    without it, the capacity) uses."""
    exp = expected_use(store, t).assign(year=lambda d: d.year.astype(str))
    y = yearly.rename(columns={"period": "year"})[["party_id", "year", "received_kg",
                                                   "stock_change_kg"]]
    m = exp.merge(y, on=["party_id", "year"], how="left").fillna(
        {"received_kg": 0.0, "stock_change_kg": 0.0})
    return m[["party_id", "year", "received_kg", "stock_change_kg", "expected_kg"]]


def _attribution(store: Store, t: Tables, bs: BalanceSettings, balances: pd.DataFrame,
                 prohibited: set[str]) -> pd.DataFrame | None:
    """Where each destination's imports from the controlling country ended: lot links
    followed exactly (`analyses/lots.py`), the rest allocated through each party's mix."""
    recs = records(t)
    lk = links(recs)
    ids = lk.select(rid=lk.child).union(lk.select(rid=lk.parent)).distinct()
    parent_ids = lk.select(rid=lk.parent).distinct()
    ship = shipment_content(t.shipments, t.products)
    node = ibis.cases((ship.declaration_id.isin(parent_ids.rid),
                       ibis.literal(LOT).concat(ship.declaration_id)), else_=ship.consignee_id)
    ship = ship.mutate(node=node)
    home = t.parties.filter(t.parties.country == bs.controlling_country).party_id
    src = ship.filter(ship.exporter_id.isin(home))
    src = src.group_by(destination=src.destination,
                       period=src.date.cast("date").year().cast("string"),
                       node=src.node).aggregate(content_kg=src.content_kg.sum())
    sources = store.to_pandas(src)
    if sources.empty:
        return None
    civil = _civil_uses(store, t)
    parties = store.to_pandas(t.parties.select("party_id", "roles"))
    f = flow_content(t)
    edges = [pd.DataFrame(columns=["from_id", "target", "content_kg"])]
    if f is not None:
        pool = f.filter(~f.flow_id.isin(ids.rid))
        agg = pool.group_by(["from_id", "to_id", "product", "kind", "final_use",
                             "dest_country", "from_country"]).aggregate(
            content_kg=pool.content_kg.sum())
        edges.append(flow_targets(store.to_pandas(agg), parties, civil, prohibited))
    edges.append(store.to_pandas(lot_edges(recs, lk, t.parties, civil, prohibited)))
    edges_df = pd.concat([e for e in edges if not e.empty] or edges, ignore_index=True)
    injected = store.to_pandas(ship.group_by("node").aggregate(content_kg=ship.content_kg.sum()))
    inflow = pd.concat([
        edges_df[~edges_df.target.isin(CATEGORIES)].groupby("target").content_kg.sum(),
        injected.set_index("node").content_kg]).groupby(level=0).sum()
    stock = _stock_built(store, t)
    nodes, q, r = absorbing_shares(edges_df, inflow, stock, prohibited)
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
