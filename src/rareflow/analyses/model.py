"""The flow model: what every detector reads, computed once per analysis.

The engine holds the rare-earth content of every shipment and flow (named tables of the
store, as Splink materialises its concatenated input: views on DuckDB, whose optimiser pushes
each reader's filters into the scan; cached once on Spark), the
commitments of certificates and licences as a child table, and the lot links. Python gets
only reduced problems, each computed at most once and only when a detector asks: balances
per party and period, the aggregated per-year flow graph of the flow account, the acts
that may break a promise, the certificate documents (few: one per consignment).

Detectors (`analyses/rules/<rule>.py`) read this and nothing else; the model never reads
files and never prints."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import ibis
import ibis.expr.types as ir
import pandas as pd

from rareflow.analyses.balance_network import balance_streams, period_tests, scrap_streams
from rareflow.analyses.balances import BalanceSettings, party_balances
from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_account import (
    attribute,
    cohort,
    consistency,
    flow_edges,
    release_sources,
)
from rareflow.analyses.flow_content import flow_content
from rareflow.analyses.ownership import affiliates
from rareflow.analyses.responsibility import (
    Act,
    Promise,
    ResponsibilitySettings,
    promises,
    responsibility_findings,
)
from rareflow.analyses.screening import screen_model
from rareflow.analyses.tables import Tables
from rareflow.findings import Finding
from rareflow.policy import Policy, T
from rareflow.store import Store
from rareflow.vocabulary import (
    COMMITMENT_COLUMNS,
    COMMITMENTS,
    CONTROLLED_KINDS,
    NONE,
    commitment_rows,
)

X = TypeVar("X")


@dataclass
class Account:
    """The flow account per destination and year, the cohort view and the self-check."""

    attribution: pd.DataFrame | None
    cohort: pd.DataFrame | None
    checks: pd.DataFrame | None


@dataclass
class ActRow:
    """An act and the lot it names (`source_ref`), if any."""

    act: Act
    ref: str | None


class FlowModel:
    """The tables of one analysis and what the detectors derive from them, each once."""

    def __init__(self, store: Store, tables: Tables, policy: Policy,
                 balance: BalanceSettings | None = None) -> None:
        self.store = store
        self.t = tables
        self.policy = policy
        self.balance = balance or BalanceSettings()
        self._memo: dict[str, object] = {}

    # --- small helpers -------------------------------------------------------------------
    def settings(self, cls: type[T]) -> T:
        """A detector's parameters: the policy's `analysis.<section>` over their defaults."""
        return self.policy.settings(cls)

    def once(self, key: str, compute: Callable[[], X]) -> X:
        """A computation several detectors share (e.g. the responsibility of acts, which
        names findings of three rules), done once per analysis."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    def pull(self, expr: ir.Expr) -> pd.DataFrame:
        """A reduced result into Python."""
        return self.store.to_pandas(expr)

    def frame(self, table: ir.Table | None, *cols: str) -> pd.DataFrame:
        """`cols` of `table` (an empty frame when the dataset has no such table)."""
        if table is None:
            return pd.DataFrame(columns=list(cols))
        return self.pull(table.select(*cols))

    def _keep(self, stem: str, expr: ir.Table) -> ir.Table:
        """`expr` as a named table of the store (a view on DuckDB, a cache on Spark)."""
        return self.store.keep(self.store.temp_name(stem), expr)

    def computed(self, stem: str, expr: ir.Table) -> ir.Table:
        """A small intermediate result (e.g. the shipments that breach something) computed
        once in the engine and read by several parts of one detector."""
        return self.store.materialize(self.store.temp_name(stem), expr, temp=True)

    # --- the engine-side model -------------------------------------------------------------
    @cached_property
    def shipments(self) -> ir.Table:
        """Shipments with their rare-earth content (`content_kg`, `heavy_kg`, `kind`)."""
        return self._keep("shipment_content", shipment_content(self.t.shipments,
                                                               self.t.products))

    @cached_property
    def flows(self) -> ir.Table | None:
        """Flows with their rare-earth content, sender's country and destination country."""
        f = flow_content(self.t)
        return None if f is None else self._keep("flow_content", f)

    @cached_property
    def commitments(self) -> ir.Table:
        """(kind, id, commitment): every certificate commitment and licence condition, one
        row each, parsed once at ingest (`ingest/derived.py`); parsed here for a store
        written before that table existed."""
        if self.store.has(COMMITMENTS):
            return self.store.table(COMMITMENTS)
        rows = [commitment_rows(kind, self.frame(table, key, cell).itertuples(index=False))
                for kind, table, key, cell in (
                    ("certificate", self.t.certificates, "certificate_id", "commitments"),
                    ("licence", self.t.licences, "licence_id", "conditions"))
                if table is not None]
        frame = (pd.concat(rows, ignore_index=True) if rows
                 else pd.DataFrame(columns=list(COMMITMENT_COLUMNS)))
        return ibis.memtable(frame.astype(str), schema={c: "string"
                                                        for c in COMMITMENT_COLUMNS})

    def committed_ids(self, kind: str, terms: tuple[str, ...]) -> list[str]:
        """Ids of certificates (`kind`='certificate') or licences holding one of `terms`."""
        c = self.commitments
        x = c.filter((c.kind == kind) & c.commitment.isin(list(terms)))
        return sorted(self.pull(x.select("id").distinct()).id)

    # --- reduced problems ------------------------------------------------------------------
    @cached_property
    def civil(self) -> set[str]:
        uses = self.pull(self.t.uses.select("use", "civil"))
        return set(uses[uses.civil.fillna(False).astype(bool)].use)

    @cached_property
    def matches(self) -> pd.DataFrame:
        """Restricted-list `match`es (party_id, list, entity_id, matched_name, how, score,
        decision): the same screening, with the policy's settings, as the `restricted_party`
        rule (a `possible` is for review and prohibits nothing)."""
        s = screen_model(self)
        return s[s.decision == "match"].reset_index(drop=True)

    @cached_property
    def prohibited(self) -> pd.DataFrame:
        """(party_id, reason, evidence): restricted-list matches and military contracts."""
        rows = [(m.party_id, f"matches {m.list} entry '{m.matched_name}' ({m.how})",
                 m.entity_id) for m in self.matches.itertuples(index=False)]
        if self.t.observations is not None:
            o = self.t.observations
            mil = self.pull(o.filter(o.kind == "military_contract").select("party_id",
                                                                           "obs_id"))
            rows += [(r.party_id, "military contract on record", r.obs_id)
                     for r in mil.itertuples(index=False)]
        return pd.DataFrame(rows, columns=["party_id", "reason", "evidence"])

    @cached_property
    def _balances(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Balances per party and period, each period's network reconciled under "nothing
        unaccounted": the residual sd from (A V A')_ii (a flow between two parties is one
        measurement in both balances; transformations cancel inside a party), the nodal test
        per party, the global test per period."""
        bs = self.balance
        balances = self.pull(party_balances(self.t, bs).order_by(["party_id", "period"]))
        streams = self.pull(balance_streams(self.t, bs))
        if self.t.transformations is not None:
            streams = pd.concat([streams, scrap_streams(balances, bs)], ignore_index=True)
        nodes, glob = period_tests(streams)
        if nodes.empty:
            return balances.assign(nodal_z=float("nan"), nodal_p=float("nan")), glob
        m = balances.merge(nodes[["party_id", "period", "residual_sd_kg", "nodal_z",
                                  "nodal_p"]], on=["party_id", "period"], how="left")
        m["unaccounted_sd_kg"] = m.residual_sd_kg.fillna(m.unaccounted_sd_kg)
        return m.drop(columns="residual_sd_kg"), glob

    @property
    def balances(self) -> pd.DataFrame:
        return self._balances[0]

    @property
    def reconciliation(self) -> pd.DataFrame:
        return self._balances[1]

    @cached_property
    def yearly(self) -> pd.DataFrame:
        """Balances per party and year (the flow account's periods)."""
        if self.balance.period == "year":
            return self.balances
        return self.pull(party_balances(self.t, BalanceSettings(
            controlling_country=self.balance.controlling_country)))

    @cached_property
    def not_judged(self) -> set[str]:
        """Parties whose books `unaccounted_material` does not judge: prohibited receivers
        (their receipts are prohibited use) and parties outside every destination."""
        dest = self.t.shipments.select("destination").distinct()
        outside = self.t.parties.filter(~self.t.parties.country.isin(dest.destination))
        return set(self.prohibited.party_id) | set(self.pull(outside.select("party_id"))
                                                   .party_id)

    @cached_property
    def account(self) -> Account:
        """Attribution per destination and year (`flow_account.py`)."""
        cc = self.balance.controlling_country
        sources = self.pull(release_sources(self.t, "year", cc))
        if sources.empty:
            return Account(None, None, None)
        prohibited = set(self.prohibited.party_id)
        e = flow_edges(self.t, "year", self.civil, prohibited)
        edges = (self.pull(e) if e is not None
                 else pd.DataFrame(columns=["period", "from_id", "target", "content_kg"]))
        roles = self.pull(self.t.parties.select("party_id", "roles"))
        recyclers = frozenset(roles.party_id[roles.roles.fillna("").str.contains("recycler")])
        attribution, reached = attribute(edges, self.yearly, sources, prohibited, recyclers)
        cohort_view = cohort(edges, self.yearly, sources, prohibited, recyclers)
        checks = consistency(attribution, reached, self.yearly)
        return Account(
            attribution.sort_values(["destination", "period"]).reset_index(drop=True),
            cohort_view.sort_values(["destination", "period"]).reset_index(drop=True),
            checks)

    # --- acts and promises (contract 1.1 §5) -------------------------------------------------
    def _military(self, f: ir.Table) -> ir.BooleanValue:
        """A final sale for a use the `uses` table does not call civil."""
        return (f.to_id.isnull() & f.final_use.notnull()
                & ~f.final_use.isin(sorted(self.civil) or [NONE]))

    @cached_property
    def military_sales(self) -> pd.DataFrame:
        """Final goods (not controlled items) sold for a military use, per seller and use:
        from_id, final_use, kg, flows, first, last."""
        f = self.flows
        if f is None:
            return pd.DataFrame(columns=["from_id", "final_use", "kg", "flows", "first",
                                         "last"])
        sale = f.filter(self._military(f) & ~f.kind.isin(list(CONTROLLED_KINDS)))
        return self.pull(sale.group_by(["from_id", "final_use"]).aggregate(
            kg=sale.content_kg.sum(), flows=sale.flow_id.collect(),
            first=sale.date.cast("date").min().cast("string"),
            last=sale.date.cast("date").max().cast("string")))

    @cached_property
    def acts(self) -> list[ActRow]:
        """Flows that break a promise if one binds their goods: controlled items leaving the
        country, controlled items to a prohibited party, final sales for a military use."""
        f = self.flows
        if f is None:
            return []
        why = self.prohibited.groupby("party_id").agg(reason=("reason", "; ".join),
                                                      evidence=("evidence", list))
        bad = list(why.index) or [NONE]
        controlled = f.kind.isin(list(CONTROLLED_KINDS))
        leaves = f.dest_country != f.from_country
        military = self._military(f)
        notable = f.filter((controlled & leaves) | (controlled & f.to_id.isin(bad))
                           | military)
        rows = self.pull(notable.select(
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
                out.append(ActRow(Act(actor=str(r.to_id), kind="prohibited_receiver",
                                      country=None, why=w.reason,
                                      why_evidence=tuple(map(str, w.evidence)), **base), ref))
            elif r.is_leaving:
                out.append(ActRow(Act(actor=str(r.from_id), kind="reexport",
                                      country=str(r.dest_country), **base), ref))
            elif r.is_military:
                out.append(ActRow(Act(actor=str(r.from_id), kind="military_sale",
                                      country=None, **base), ref))
        return out

    @cached_property
    def supply(self) -> pd.DataFrame:
        """(from_id, to_id, content_kg): controlled items each party sent to each other."""
        f = self.flows
        if f is None:
            return pd.DataFrame(columns=["from_id", "to_id", "content_kg"])
        c = f.filter(f.to_id.notnull() & f.kind.isin(list(CONTROLLED_KINDS)))
        return self.pull(c.group_by(["from_id", "to_id"]).aggregate(
            content_kg=c.content_kg.sum()))

    @cached_property
    def traced(self) -> dict[str, set[str]]:
        """Flow id of each act -> the export declarations its lot links lead back to."""
        return self.lot_origins({a.act.flow_id: a.ref for a in self.acts if a.ref})

    @cached_property
    def promises(self) -> dict[str, Promise]:
        """Certificates' commitments and licences' conditions, with their holders."""
        ship = self.shipments
        cols = ["consignee_id", "end_user_id", "certificate_id", "licence_id"]
        combos = self.pull(ship.group_by(cols).aggregate(
            first=ship.date.cast("date").min().cast("string")))
        decls = sorted({d for ds in self.traced.values() for d in ds}) or [NONE]
        linked = self.pull(ship.filter(ship.declaration_id.isin(decls))
                           .select("declaration_id", *cols,
                                   first=ship.date.cast("date").cast("string")))
        certs = self._with_terms(self.frame(self.t.certificates, "certificate_id",
                                            "importer_id", "end_user_id"),
                                 "certificate", "certificate_id", "commitments")
        lics = self._with_terms(self.frame(self.t.licences, "licence_id", "consignee_id",
                                           "end_user_id"), "licence", "licence_id",
                                "conditions")
        return promises(pd.concat([combos.assign(declaration_id=None), linked],
                                  ignore_index=True), certs, lics)

    def _with_terms(self, frame: pd.DataFrame, kind: str, key: str, cell: str
                    ) -> pd.DataFrame:
        """`frame` plus its commitments (from the `commitments` table) as a `;` cell."""
        c = self.commitments
        terms = self.pull(c.filter(c.kind == kind).select("id", "commitment"))
        joined = terms.groupby("id").commitment.agg(";".join)
        return frame.assign(**{cell: frame[key].astype(str).map(joined)})

    def responsibility(self) -> list[Finding]:
        """The findings that name who acted and who answers for each act (§5): of the rules
        `unauthorised_reexport`, `prohibited_end_use` and `certificate_violated`."""
        def run() -> list[Finding]:
            if not self.acts:
                return []
            rs = self.settings(ResponsibilitySettings)
            return responsibility_findings(
                [a.act for a in self.acts], self.promises, self.supply, self.traced,
                affiliates(self.owners, rs.ownership_threshold), rs)
        return self.once("responsibility", run)

    @cached_property
    def owners(self) -> pd.DataFrame:
        return self.frame(self.t.ownership, "owner_id", "owned_id", "share")

    def lot_origins(self, refs: dict[str, str], depth: int = 30) -> dict[str, set[str]]:
        """For each flow id, the export declarations its lot links lead back to. A link
        counts only when the record it names was held by the one who cites it (a flow's
        sender received it, a transformation's party holds it); others are treated as
        absent. One engine query per tier, over the frontier only."""
        t = self.t
        out: dict[str, set[str]] = {k: set() for k in refs}
        senders = {}
        if refs and t.flows is not None:
            fl = t.flows.filter(t.flows.flow_id.isin(sorted(refs)))
            senders = dict(self.pull(fl.select("flow_id", "from_id")).itertuples(index=False))
        # frontier: (start flow, record named, the party that must hold it)
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
            for did, consignee in self.pull(
                    s.select("declaration_id", "consignee_id")).itertuples(index=False):
                for start, holder in by_rid.get(str(did), ()):
                    if str(consignee) == holder:
                        out[start].add(str(did))
            nxt = set()
            parts = []
            if t.flows is not None:
                fl = t.flows.filter(t.flows.flow_id.isin(ids))
                parts.append(self.pull(fl.select(rid="flow_id", held_by="to_id",
                                                 next_holder="from_id", ref="source_ref")))
            if t.transformations is not None:
                x = t.transformations.filter(t.transformations.transformation_id.isin(ids))
                parts.append(self.pull(x.select(rid="transformation_id", held_by="party_id",
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

    def lot_chains(self, refs: list[str], depth: int = 60
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The lot links behind `refs`, followed back tier by tier in the engine (one query
        per tier over the frontier only): the flows (flow_id, source_ref), transformations
        (transformation_id, input_ref) and export declarations (declaration_id,
        certificate_id) on the way."""
        t = self.t
        flows, trans = [], []
        seen: set[str] = set()
        frontier = set(refs)
        for _ in range(depth):
            frontier -= seen
            if not frontier:
                break
            seen |= frontier
            ids = sorted(frontier)
            frontier = set()
            if t.flows is not None:
                f = self.pull(t.flows.filter(t.flows.flow_id.isin(ids))
                              .select("flow_id", "source_ref"))
                flows.append(f)
                frontier |= {r for r in f.source_ref if isinstance(r, str)}
            if t.transformations is not None:
                x = t.transformations
                x = self.pull(x.filter(x.transformation_id.isin(ids))
                              .select("transformation_id", "input_ref"))
                trans.append(x)
                frontier |= {r for r in x.input_ref if isinstance(r, str)}
        s = self.shipments
        decl = self.pull(s.filter(s.declaration_id.isin(sorted(seen) or [NONE]))
                         .select("declaration_id", "certificate_id"))
        fl = (pd.concat(flows, ignore_index=True) if flows
              else pd.DataFrame(columns=["flow_id", "source_ref"]))
        tr = (pd.concat(trans, ignore_index=True) if trans
              else pd.DataFrame(columns=["transformation_id", "input_ref"]))
        return fl, tr, decl

    # --- certificate documents (few: checked in Python) -----------------------------------
    @cached_property
    def documents(self) -> pd.DataFrame:
        cols = ["certificate_id", "document_hash", "issued", "end_user_id", "signatory_name",
                "endorsement_authority", "endorsement_ref", "n_proofs", "document"]
        return self.frame(self.t.certificates, *cols)

    @cached_property
    def key_records(self) -> list[dict] | None:
        # verify_certificate reads blank cells (NaN, NaT) and Timestamps itself
        return (self.pull(self.t.keys).to_dict("records") if self.t.keys is not None
                else None)

    @cached_property
    def parties(self) -> pd.DataFrame:
        return self.frame(self.t.parties, "party_id", "name", "country", "roles", "address")

    # --- capacity ----------------------------------------------------------------------------
    @cached_property
    def expected_use(self) -> pd.DataFrame | None:
        """Per party and year, the rare-earth content (kg) its declared output uses, or
        without a declared output its capacity: party_id, year, basis, expected_kg."""
        if self.t.capacity is None:
            return None
        p = self.t.products.select("product", "re_kg_per_unit")
        j = self.t.capacity.inner_join(p, "product")
        j = j.mutate(kg=j.units * j.re_kg_per_unit)
        per = self.pull(j.group_by(["party_id", "year", "kind"]).aggregate(kg=j.kg.sum()))
        per = per.sort_values("kind", key=lambda k: k.map({"output": 0, "capacity": 1}))
        return (per.groupby(["party_id", "year"], as_index=False).first()
                .rename(columns={"kg": "expected_kg", "kind": "basis"}))
