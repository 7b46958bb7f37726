"""`certificate_violated` from where a certificate's goods went: the rare-earth content shipped
under a certificate in a year, followed through that year's flow graph (the mass-balance
chain of `attribution`), that ends re-exported against a `no_reexport` (or `no_transfer`)
commitment or in a prohibited use against `civil_use_only`.

The allocation is an estimate: a party's outflows carry its receipts in proportion. A finding
therefore needs both a material mass (`min_kg`) and a material share of the certificate's
goods (`min_share`), and names the flows that diverted the material."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rareflow.analyses.attribution import absorbing_shares, destinies, flow_targets, targets
from rareflow.findings import Finding

RULE = "certificate_violated"
COMMITMENT_FOR = {"reexported": ("no_reexport", "no_transfer:"),
                  "prohibited_use": ("civil_use_only",)}
WHAT = {"reexported": "re-exported", "prohibited_use": "in a prohibited use"}


@dataclass(frozen=True)
class DestinySettings:
    min_kg: float = 5.0
    min_share: float = 0.005


def _committed(commitments: object, category: str) -> bool:
    text = commitments if isinstance(commitments, str) else ""
    parts = [p.strip() for p in text.split(";")]
    return any(p == c or (c.endswith(":") and p.startswith(c)) for c in COMMITMENT_FOR[category]
               for p in parts)


def certificate_destinies(year_flows: pd.DataFrame, parties: pd.DataFrame,
                          inflow: pd.Series, sources: pd.DataFrame, civil: set[str],
                          prohibited: set[str]) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """For one year: `sources` (certificate_id, node, content_kg) -> per certificate the kg
    in each category (`<category>_kg`), and the parties each certificate's goods reached."""
    edges = flow_targets(year_flows, parties, civil, prohibited)
    nodes, q, r = absorbing_shares(edges, inflow, pd.Series(dtype=float), prohibited)
    reached: dict[str, set[str]] = {}
    dest = destinies(nodes, q, r, sources[["certificate_id", "node", "content_kg"]], reached)
    return dest, reached


def diverting_flows(year_flows: pd.DataFrame, parties: pd.DataFrame, civil: set[str],
                    prohibited: set[str]) -> pd.DataFrame:
    """(flow_id, from_id, category) of the year's flows that end re-exported or prohibited."""
    roles = dict(zip(parties.party_id, parties.roles.fillna(""), strict=True))
    target = targets(year_flows, roles, civil, prohibited) if len(year_flows) else []
    out = pd.DataFrame({"flow_id": year_flows.flow_id.to_numpy(object),
                        "from_id": year_flows.from_id.to_numpy(object),
                        "category": np.asarray(target, dtype=object)})
    return out[out.category.isin(list(WHAT))].reset_index(drop=True)


def destiny_findings(year: str, dest: pd.DataFrame, reached: dict[str, set[str]],
                     diverting: pd.DataFrame, commitments: dict[str, str],
                     settings: DestinySettings | None = None) -> list[Finding]:
    s = settings or DestinySettings()
    out = []
    for row in dest.itertuples(index=False):
        for category, what in WHAT.items():
            kg = float(getattr(row, f"{category}_kg"))
            share = kg / row.released_kg if row.released_kg else 0.0
            if kg < s.min_kg or share < s.min_share:
                continue
            if not _committed(commitments.get(row.certificate_id), category):
                continue
            d = diverting[(diverting.category == category)
                          & diverting.from_id.isin(reached.get(row.certificate_id, set()))]
            ids = sorted(d.flow_id.astype(str))
            promise = "civil_use_only" if category == "prohibited_use" else "no_reexport"
            out.append(Finding(
                rule=RULE, severity="high", subject_type="certificate",
                subject_id=row.certificate_id, period=year, kg=round(kg, 3),
                share=round(share, 4), evidence=[row.certificate_id, *ids],
                message=(f"An estimated {kg:,.1f} kg ({share:.1%}) of the rare-earth content "
                         f"shipped under certificate {row.certificate_id} in {year} ended "
                         f"{what} (flows {', '.join(ids) or 'not identified'}), against its "
                         f"{promise} commitment (mass-balance allocation through "
                         "the parties' books).")))
    return out
