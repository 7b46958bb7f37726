"""`prohibited_end_use` on export declarations and the lot trace behind a teardown. Pure
functions of small (already reduced) data frames. Party-level re-export and prohibited use:
`responsibility.py`."""

from __future__ import annotations

import pandas as pd

from rareflow.findings import Finding


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
