"""Runs flow accounting through the store: the engine reduces the tables (content, balances,
aggregated flows), the pure functions of `analyses/` solve the reduced problems."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd

from rareflow.analyses.balances import BalanceSettings, party_balances
from rareflow.analyses.capacity import CapacitySettings, capacity_findings
from rareflow.analyses.content import shipment_content
from rareflow.analyses.diversion import shipment_findings, teardown_trace
from rareflow.analyses.flow_account import (
    CONTROLLED_KINDS,
    NONE,
    attribute,
    cohort,
    consistency,
    flow_edges,
    release_sources,
)
from rareflow.analyses.flow_content import flow_content
from rareflow.analyses.network_test import balance_streams, period_tests
from rareflow.analyses.reexport_statistics import (
    StatisticsReexportSettings,
    binding_ids,
    statistics_reexport_findings,
)
from rareflow.analyses.responsibility import (
    Act,
    ResponsibilitySettings,
    affiliates,
    promises,
    responsibility_findings,
)
from rareflow.analyses.screening import restricted_matches
from rareflow.analyses.tables import Tables
from rareflow.analyses.unaccounted import UnaccountedSettings, unaccounted_findings
from rareflow.findings import Finding
from rareflow.policy import Policy, load_policy
from rareflow.store import Store


@dataclass
class Accounting:
    balances: pd.DataFrame
    attribution: pd.DataFrame | None
    prohibited: pd.DataFrame
    findings: list[Finding]
    reconciliation: pd.DataFrame | None = None
    cohort: pd.DataFrame | None = None
    checks: pd.DataFrame | None = None


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


def run_accounting(store: Store, t: Tables, policy: Policy | None = None,
                   bs: BalanceSettings | None = None) -> Accounting:
    policy = policy or load_policy(None)
    bs = bs or BalanceSettings()
    balances = store.to_pandas(party_balances(t, bs).order_by(["party_id", "period"]))
    balances, reconciliation = _network_tests(store, t, bs, balances)
    prohibited = prohibited_parties(store, t)
    findings = unaccounted_findings(balances, policy.settings(UnaccountedSettings),
                                    _not_judged(store, t, prohibited))
    yearly = (balances if bs.period == "year" else store.to_pandas(
        party_balances(t, BalanceSettings(controlling_country=bs.controlling_country))))
    attribution, cohort_view, checks = _flow_account(store, t, bs, yearly,
                                                     set(prohibited.party_id))
    findings += _diversion(store, t, prohibited, policy, bs.controlling_country)
    findings += restricted_party_findings(store, t)
    if t.capacity is not None:
        findings += capacity_findings(_capacity_use(store, t, yearly),
                                      policy.settings(CapacitySettings))
    return Accounting(balances, attribution, prohibited, findings, reconciliation,
                      cohort_view, checks)


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


def _diversion(store: Store, t: Tables, prohibited: pd.DataFrame, policy: Policy,
               controlling_country: str = "CN") -> list[Finding]:
    """`unauthorised_reexport` and `prohibited_end_use`, naming the actor and the answerable
    party (`analyses/responsibility.py`), and `certificate_violated` by what they did."""
    civil = _civil_uses(store, t)
    ship = shipment_content(t.shipments, t.products)
    bad = list(prohibited.party_id) or [NONE]
    direct = ship.filter(ship.consignee_id.isin(bad) | ship.end_user_id.isin(bad))
    out = shipment_findings(store.to_pandas(direct.select(
        "declaration_id", "date", "consignee_id", "end_user_id", "content_kg")), prohibited)
    f = flow_content(t)
    if f is not None:
        out += _final_military_sales(store, f, civil)
        acts = _acts(store, f, prohibited, civil)
        if acts:
            controlled = f.filter(f.to_id.notnull() & f.kind.isin(list(CONTROLLED_KINDS)))
            supply = store.to_pandas(controlled.group_by(["from_id", "to_id"]).aggregate(
                content_kg=controlled.content_kg.sum()))
            traced = _lot_origins(store, t, {a.act.flow_id: a.ref for a in acts if a.ref})
            cols = ["consignee_id", "end_user_id", "certificate_id", "licence_id"]
            combos = store.to_pandas(ship.group_by(cols).aggregate(
                first=ship.date.cast("date").min().cast("string")))
            decls = sorted({d for ds in traced.values() for d in ds}) or [NONE]
            linked = store.to_pandas(ship.filter(ship.declaration_id.isin(decls))
                                     .select("declaration_id", *cols,
                                             first=ship.date.cast("date").cast("string")))
            promise = promises(pd.concat([combos.assign(declaration_id=None), linked],
                                         ignore_index=True),
                               _frame(store, t.certificates, "certificate_id", "commitments",
                                      "importer_id", "end_user_id"),
                               _frame(store, t.licences, "licence_id", "conditions",
                                      "consignee_id", "end_user_id"))
            rs = policy.settings(ResponsibilitySettings)
            owners = affiliates(_frame(store, t.ownership, "owner_id", "owned_id", "share"),
                                rs.ownership_threshold)
            out += responsibility_findings([a.act for a in acts], promise, supply, traced,
                                           owners, rs)
    if t.trade_stats is not None:
        out += _statistics_reexport(store, t, ship, f, policy, controlling_country)
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


def _statistics_reexport(store: Store, t: Tables, ship: ir.Table, f: ir.Table | None,
                         policy: Policy, controlling_country: str) -> list[Finding]:
    """Contract 1.1 section 6: country-level `unauthorised_reexport` seen only in statistics
    (`analyses/reexport_statistics.py`). Only committed shipments and flows leaving a
    country reach Python."""
    certs = _frame(store, t.certificates, "certificate_id", "commitments")
    lics = _frame(store, t.licences, "licence_id", "conditions")
    c_ids = binding_ids(certs, "certificate_id", "commitments")
    l_ids = binding_ids(lics, "licence_id", "conditions")
    committed = ship.filter(ship.certificate_id.isin(c_ids or [NONE])
                            | ship.licence_id.isin(l_ids or [NONE]))
    shipments = store.to_pandas(committed.select(
        "declaration_id", "destination", "product", "hs_code", "net_kg", "date", "content_kg"
    )).assign(committed=True)
    cols = ["flow_id", "from_id", "from_country", "dest_country", "product", "date",
            "net_kg", "content_kg"]
    leaving = (store.to_pandas(f.filter(f.dest_country != f.from_country).select(*cols))
               if f is not None else pd.DataFrame(columns=cols))
    trade = _frame(store, t.trade_stats, "reporter", "partner", "flow", "hs_code", "period",
                   "net_kg")
    products = _frame(store, t.products, "product", "hs_code", "kind")
    return statistics_reexport_findings(trade, leaving, shipments, products,
                                        policy.settings(StatisticsReexportSettings),
                                        controlling_country)


def _frame(store: Store, table: ir.Table | None, *cols: str) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame(columns=list(cols))
    return store.to_pandas(table.select(*cols))


@dataclass
class _ActRow:
    act: Act
    ref: str | None


def _final_military_sales(store: Store, f: ir.Table, civil: set[str]) -> list[Finding]:
    """`red_flag` (low): final goods sold for a military use. Final goods are not controlled
    items (contract 1.1 §4), so this is no `prohibited_end_use`; attribution still counts
    their content as prohibited use (it reached a military use)."""
    sale = f.filter(f.to_id.isnull() & f.final_use.notnull()
                    & ~f.final_use.isin(sorted(civil) or [NONE])
                    & ~f.kind.isin(list(CONTROLLED_KINDS)))
    rows = store.to_pandas(sale.group_by(["from_id", "final_use"]).aggregate(
        kg=sale.content_kg.sum(), flows=sale.flow_id.collect(),
        first=sale.date.cast("date").min().cast("string"),
        last=sale.date.cast("date").max().cast("string")))
    out = []
    for r in rows.itertuples(index=False):
        ids = sorted(map(str, r.flows))
        span = r.first[:7] if r.first[:7] == r.last[:7] else f"{r.first[:7]}/{r.last[:7]}"
        out.append(Finding(
            rule="red_flag", severity="low", subject_type="party", subject_id=str(r.from_id),
            period=span, kg=round(float(r.kg), 3), evidence=ids,
            message=(f"final_goods_military_use: {r.from_id} sold final goods holding "
                     f"{float(r.kg):,.1f} kg of rare-earth content for {r.final_use} "
                     f"({', '.join(ids)}). Final goods are not controlled items (contract "
                     "§4): no violation by itself; their content counts as prohibited use in "
                     "the attribution.")))
    return out


def _acts(store: Store, f: ir.Table, prohibited: pd.DataFrame, civil: set[str]
          ) -> list[_ActRow]:
    """Flows that break a promise if one binds their goods: controlled items leaving the
    country, controlled items to a prohibited party, final sales for a military use."""
    why = prohibited.groupby("party_id").agg(reason=("reason", "; ".join),
                                             evidence=("evidence", list))
    bad = list(why.index) or [NONE]
    controlled = f.kind.isin(list(CONTROLLED_KINDS))
    leaves = f.dest_country != f.from_country
    military = f.to_id.isnull() & f.final_use.notnull() & ~f.final_use.isin(
        sorted(civil) or [NONE])
    notable = f.filter((controlled & leaves) | (controlled & f.to_id.isin(bad)) | military)
    rows = store.to_pandas(notable.select(
        "flow_id", "date", "from_id", "to_id", "product", "content_kg", "dest_country",
        "source_ref", "final_use", is_leaving=controlled & leaves,
        is_bad=controlled & f.to_id.isin(bad), is_military=military & controlled))
    out = []
    for r in rows.itertuples(index=False):
        ref = r.source_ref if isinstance(r.source_ref, str) else None
        base = dict(flow_id=str(r.flow_id), date=str(r.date)[:10], sender=str(r.from_id),
                    kg=float(r.content_kg), product=str(r.product))
        if r.is_bad:
            w = why.loc[r.to_id]
            out.append(_ActRow(Act(actor=str(r.to_id), kind="prohibited_receiver",
                                   country=None, why=w.reason,
                                   why_evidence=tuple(map(str, w.evidence)), **base), ref))
        elif r.is_leaving:
            out.append(_ActRow(Act(actor=str(r.from_id), kind="reexport",
                                   country=str(r.dest_country), **base), ref))
        elif r.is_military:
            out.append(_ActRow(Act(actor=str(r.from_id), kind="military_sale", country=None,
                                   **base), ref))
    return out


def _lot_origins(store: Store, t: Tables, refs: dict[str, str], depth: int = 30
                 ) -> dict[str, set[str]]:
    """For each flow id, the export declarations its lot links lead back to. A link counts
    only when the record it names was held by the one who cites it (a flow's sender
    received it, a transformation's party holds it); others are treated as absent."""
    out: dict[str, set[str]] = {k: set() for k in refs}
    # frontier: (start flow, record named, the party that must hold it)
    senders = {}
    if refs and t.flows is not None:
        fl = t.flows.filter(t.flows.flow_id.isin(sorted(refs)))
        senders = dict(store.to_pandas(fl.select("flow_id", "from_id")).itertuples(
            index=False))
    frontier = {(k, v, senders.get(k)) for k, v in refs.items()}
    seen: set[tuple[str, str]] = set()
    for _ in range(depth):
        frontier = {x for x in frontier if (x[0], x[1]) not in seen}
        if not frontier:
            break
        seen |= {(x[0], x[1]) for x in frontier}
        by_rid: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for start, rid, holder in frontier:
            by_rid[rid].append((start, str(holder)))
        ids = sorted(by_rid)
        s = t.shipments.filter(t.shipments.declaration_id.isin(ids))
        for did, consignee in store.to_pandas(
                s.select("declaration_id", "consignee_id")).itertuples(index=False):
            for start, holder in by_rid.get(str(did), ()):
                if str(consignee) == holder:
                    out[start].add(str(did))
        nxt = set()
        parts = []
        if t.flows is not None:
            fl = t.flows.filter(t.flows.flow_id.isin(ids))
            parts.append(store.to_pandas(fl.select(rid="flow_id", held_by="to_id",
                                                   next_holder="from_id", ref="source_ref")))
        if t.transformations is not None:
            x = t.transformations.filter(t.transformations.transformation_id.isin(ids))
            parts.append(store.to_pandas(x.select(rid="transformation_id", held_by="party_id",
                                                  next_holder="party_id", ref="input_ref")))
        for part in parts:
            for rid, held_by, next_holder, ref in part.itertuples(index=False):
                if not isinstance(ref, str):
                    continue
                for start, holder in by_rid.get(str(rid), ()):
                    if str(held_by) == holder:
                        nxt.add((start, ref, next_holder))
        frontier = nxt
    return out


def _flow_account(store: Store, t: Tables, bs: BalanceSettings, yearly: pd.DataFrame,
                  prohibited: set[str]
                  ) -> tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None]:
    """Attribution per destination and year (a flow account), the cohort view and the
    self-check against the balances (`analyses/flow_account.py`)."""
    sources = store.to_pandas(release_sources(t, "year", bs.controlling_country))
    if sources.empty:
        return None, None, None
    civil = _civil_uses(store, t)
    e = flow_edges(t, "year", civil, prohibited)
    edges = (store.to_pandas(e) if e is not None
             else pd.DataFrame(columns=["period", "from_id", "target", "content_kg"]))
    roles = store.to_pandas(t.parties.select("party_id", "roles"))
    recyclers = frozenset(roles.party_id[roles.roles.fillna("").str.contains("recycler")])
    attribution, reached = attribute(edges, yearly, sources, prohibited, recyclers)
    cohort_view = cohort(edges, yearly, sources, prohibited, recyclers)
    checks = consistency(attribution, reached, yearly)
    return (attribution.sort_values(["destination", "period"]).reset_index(drop=True),
            cohort_view.sort_values(["destination", "period"]).reset_index(drop=True),
            checks)


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
