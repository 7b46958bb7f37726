"""`prohibited_end_use` and `unauthorised_reexport` from party-level records, and the lot
trace behind a teardown. Pure functions of small (already reduced) data frames."""

from __future__ import annotations

from collections import defaultdict, deque

import pandas as pd

from rareflow.findings import Finding

BINDING = ("no_reexport", "domestic_only")


def _commitments(text: object) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {c.strip() for c in text.split(";") if c.strip()}


def prohibited_findings(flows: pd.DataFrame, shipments: pd.DataFrame,
                        prohibited: pd.DataFrame, civil_uses: set[str]) -> list[Finding]:
    """Controlled content reaching a restricted party, a party with a military contract, or a
    military use (final sale for a non-civil use)."""
    why = prohibited.groupby("party_id").agg(reason=("reason", "; ".join),
                                             evidence=("evidence", list))
    out: list[Finding] = []
    controlled = flows[flows.kind.isin(["material", "component"])]
    for party, grp in controlled[controlled.to_id.isin(why.index)].groupby("to_id"):
        w = why.loc[party]
        kg = float(grp.content_kg.sum())
        out.append(Finding(
            rule="prohibited_end_use", severity="high", subject_type="party",
            subject_id=str(party), kg=round(kg, 3), period=_span(grp.date),
            evidence=[*sorted(grp.flow_id), *map(str, w.evidence)],
            message=(f"{kg:,.1f} kg of rare-earth content in controlled items reached {party} "
                     f"({w.reason}) in {len(grp)} flow(s) from "
                     f"{', '.join(sorted(set(grp.from_id)))}.")))
    sales = flows[flows.to_id.isna() & flows.final_use.notna()
                  & ~flows.final_use.isin(list(civil_uses))]
    for party, grp in sales.groupby("from_id"):
        kg = float(grp.content_kg.sum())
        out.append(Finding(
            rule="prohibited_end_use", severity="high", subject_type="party",
            subject_id=str(party), kg=round(kg, 3), period=_span(grp.date),
            evidence=sorted(grp.flow_id),
            message=(f"{party} sold goods holding {kg:,.1f} kg of rare-earth content for "
                     f"military use ({', '.join(sorted(set(grp.final_use)))}).")))
    direct = shipments[shipments.consignee_id.isin(why.index)
                       | shipments.end_user_id.isin(why.index)]
    for s in direct.itertuples(index=False):
        party = s.consignee_id if s.consignee_id in why.index else s.end_user_id
        out.append(Finding(
            rule="prohibited_end_use", severity="high", subject_type="shipment",
            subject_id=str(s.declaration_id), kg=round(float(s.content_kg), 3),
            period=str(s.date)[:7], evidence=[str(s.declaration_id), str(party)],
            message=(f"Export declaration {s.declaration_id} names {party} "
                     f"({why.loc[party].reason}) as consignee or end user.")))
    return out


def _span(dates: pd.Series) -> str:
    d = pd.to_datetime(dates)
    first, last = d.min().strftime("%Y-%m"), d.max().strftime("%Y-%m")
    return first if first == last else f"{first}/{last}"


def bound_parties(shipments: pd.DataFrame, certificates: pd.DataFrame,
                  licences: pd.DataFrame, flows: pd.DataFrame) -> dict[str, set[str]]:
    """Parties bound by a no-re-export promise: the consignee and end user of a shipment whose
    certificate or licence carries one, and everyone downstream of them. Maps party ->
    the certificate/licence ids that bind it."""
    promise: dict[str, set[str]] = {}
    for c in certificates.itertuples(index=False):
        if _commitments(c.commitments) & set(BINDING):
            promise[f"C:{c.certificate_id}"] = {c.certificate_id}
    for lic in licences.itertuples(index=False):
        if _commitments(lic.conditions) & set(BINDING):
            promise[f"L:{lic.licence_id}"] = {lic.licence_id}
    bound: dict[str, set[str]] = defaultdict(set)
    for s in shipments.itertuples(index=False):
        ids = promise.get(f"C:{s.certificate_id}", set()) | promise.get(f"L:{s.licence_id}",
                                                                         set())
        if ids:
            for p in (s.consignee_id, s.end_user_id):
                if isinstance(p, str):
                    bound[p] |= ids
    nxt: dict[str, set[str]] = defaultdict(set)
    for f in flows[flows.to_id.notna()].itertuples(index=False):
        nxt[f.from_id].add(f.to_id)
    queue = deque(bound)
    while queue:
        p = queue.popleft()
        for q in nxt.get(p, ()):
            if not bound[p] <= bound[q]:
                bound[q] |= bound[p]
                queue.append(q)
    return dict(bound)


def reexport_findings(flows: pd.DataFrame, bound: dict[str, set[str]],
                      no_transfer: dict[str, set[str]]) -> list[Finding]:
    """Controlled material or components leaving the country of end use from a bound party.
    `no_transfer` maps a promise id to the countries it names (`no_transfer:US`)."""
    out = []
    leaving = flows[(flows.dest_country != flows.from_country)
                    & flows.kind.isin(["material", "component"])
                    & flows.from_id.isin(list(bound))]
    for f in leaving.itertuples(index=False):
        ids = sorted(bound[f.from_id])
        named = [i for i in ids if f.dest_country in no_transfer.get(i, set())]
        what = (f"to {f.dest_country}, a country the promise names ({', '.join(named)})"
                if named else f"to {f.dest_country}")
        out.append(Finding(
            rule="unauthorised_reexport", severity="high", subject_type="party",
            subject_id=str(f.from_id), period=str(f.date)[:7], kg=round(float(f.content_kg), 3),
            evidence=[str(f.flow_id), *ids],
            message=(f"{f.from_id} sent {f.product} holding {f.content_kg:,.1f} kg of "
                     f"rare-earth content out of {f.from_country} {what}, against the "
                     f"no-re-export promise of {', '.join(ids)} (flow {f.flow_id}).")))
    return out


def mirror_findings(trade: pd.DataFrame, controlled_hs: tuple[str, ...],
                    tolerance: float = 0.20) -> list[Finding]:
    """A country whose own statistics show exports of controlled codes beyond its own
    production (plus a CIF/FOB-like tolerance): re-export of imported material, named at
    country level only."""
    if trade.empty:
        return []
    t = trade.assign(hs6=trade.hs_code.str[:6], year=trade.period.str[:4])
    t = t[t.hs6.isin([h[:6] for h in controlled_hs])]
    out = []
    for (country, year, hs6), g in t.groupby(["reporter", "year", "hs6"]):
        exports = float(g[g.flow == "export"].net_kg.sum())
        own = float(g[g.flow == "production"].net_kg.sum())
        imports = float(g[g.flow == "import"].net_kg.sum())
        excess = exports - own * (1 + tolerance)
        if exports <= 0 or excess <= tolerance * exports or imports <= 0:
            continue
        out.append(Finding(
            rule="unauthorised_reexport", severity="medium", subject_type="country",
            subject_id=str(country), period=str(year), kg=round(excess, 3),
            share=round(excess / exports, 4),
            evidence=[f"trade_stats:{country}:{hs6}:{year}"],
            message=(f"{country} reports {exports:,.0f} kg of HS {hs6} exports in {year} "
                     f"against {own:,.0f} kg of own production and {imports:,.0f} kg of "
                     f"imports: about {excess:,.0f} kg can only be imported material sent "
                     f"on. Country-level signal: confirm with party-level data before "
                     f"naming a party.")))
    return out


def teardown_trace(obs: pd.DataFrame, flows: pd.DataFrame, transformations: pd.DataFrame,
                   shipments: pd.DataFrame) -> list[Finding]:
    """A teardown found controlled material in a product: follow the lot named in `ref`
    back through lot links (flow `source_ref`, transformation `input_ref`) to the export
    declarations and the certificates they presented."""
    back: dict[str, str] = {}
    for f in flows.itertuples(index=False):
        if isinstance(f.source_ref, str):
            back[f.flow_id] = f.source_ref
    for x in transformations.itertuples(index=False):
        if isinstance(x.input_ref, str):
            back[x.transformation_id] = x.input_ref
    decl = shipments.set_index("declaration_id")
    out = []
    for o in obs.itertuples(index=False):
        chain, node, seen = [], o.ref, set()
        while isinstance(node, str) and node not in seen:
            seen.add(node)
            chain.append(node)
            if node in decl.index:
                break
            node = back.get(node)
        roots = [c for c in chain if c in decl.index]
        certs = sorted({str(decl.loc[r].certificate_id) for r in roots
                        if isinstance(decl.loc[r].certificate_id, str)})
        origin = (f"traced back to export declaration {roots[0]}"
                  + (f" under certificate {', '.join(certs)}" if certs else "")
                  if roots else "not traceable to an export declaration")
        out.append(Finding(
            rule="prohibited_end_use", severity="high", subject_type="party",
            subject_id=str(o.party_id), period=str(o.date)[:7],
            evidence=[str(o.obs_id), *chain, *certs],
            message=(f"Teardown {o.obs_id} found lot {o.ref} in a product of {o.party_id} "
                     f"({o.detail}); {origin} via {' <- '.join(chain)}.")))
    return out
