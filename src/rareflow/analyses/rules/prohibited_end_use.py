"""`prohibited_end_use`: controlled content reaching a military use, a restricted party or a
party with a military contract. On export declarations that name a prohibited party; on flows
through the responsibility of acts (`analyses/responsibility.py`: the actor and the
answerable holder); and teardown finds traced back through lot links to the export. High when
the records establish it, medium when the link rests on a buyer's mass balance."""

from __future__ import annotations

import pandas as pd

from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.findings import Finding
from rareflow.vocabulary import NONE

NAME = "prohibited_end_use"


def shipment_findings(shipments: pd.DataFrame, prohibited: pd.DataFrame) -> list[Finding]:
    """`prohibited_end_use` on export declarations that name a prohibited party (restricted
    list, military contract) as consignee or end user."""
    why = prohibited.groupby("party_id").agg(reason=("reason", "; ".join))
    out = []
    for s in shipments.itertuples(index=False):
        party = s.consignee_id if s.consignee_id in why.index else s.end_user_id
        out.append(Finding(
            rule="prohibited_end_use", severity="high", subject_type="shipment",
            subject_id=str(s.declaration_id), kg=round(float(s.content_kg), 3),
            period=str(s.date)[:7], evidence=[str(s.declaration_id), str(party)],
            message=(f"Export declaration {s.declaration_id} names {party} "
                     f"({why.loc[party].reason}) as consignee or end user.")))
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


def build(m: FlowModel) -> list[Finding]:
    ship = m.shipments
    bad = list(m.prohibited.party_id) or [NONE]
    direct = ship.filter(ship.consignee_id.isin(bad) | ship.end_user_id.isin(bad))
    out = shipment_findings(m.pull(direct.select(
        "declaration_id", "date", "consignee_id", "end_user_id", "content_kg")), m.prohibited)
    out += of_rule(m.responsibility(), NAME)
    if m.t.observations is not None:
        o = m.t.observations
        tear = m.pull(o.filter(o.kind == "teardown"))
        if len(tear):
            out += teardown_trace(tear, *m.lot_chains(
                [r for r in tear.ref if isinstance(r, str)]))
    return out


DETECTOR = Detector(
    name=NAME,
    summary="Controlled content reaching a military use, a restricted party or a party with "
    "a military contract; teardown finds traced back to the export.",
    severity="high when the records establish it (a declaration names the party, the party "
    "received the goods, lot links trace them); medium when the answerable holder is named "
    "through a buyer's mass balance",
    needs=("shipments",),
    build=build,
    params=(ResponsibilitySettings,),
)
