"""`unaccounted_material`: a party whose books do not close beyond what measurement error
explains. Pure function of the balances table (one row per party and period).

Severity is `medium`: a mass balance is an estimate, and contract 1.1 §8 gives `medium` to
a violation an estimate establishes beyond its uncertainty."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rareflow.analyses.detector import Detector
from rareflow.analyses.model import FlowModel
from rareflow.findings import Finding

NAME = "unaccounted_material"
RULE = NAME


@dataclass(frozen=True)
class UnaccountedSettings:
    """A finding needs significance and a material size (policy `analysis.unaccounted`)."""

    z_critical: float = 3.0  # beyond 3 sd of the reconciled uncertainty (0.13% one-sided)
    min_kg: float = 50.0  # material: at least this much rare-earth content
    min_share: float = 0.01  # and at least this share of what the party received


def unaccounted_findings(balances: pd.DataFrame, s: UnaccountedSettings,
                         skip: set[str] = frozenset()) -> list[Finding]:
    """Judge each party over the whole period covered (so that material received in December
    and used in January is not a finding), citing the per-period figures. `skip`: parties
    whose receipts another rule already accounts for (prohibited receivers, parties outside
    the destination countries, whose books the dataset does not hold)."""
    balances = balances[~balances.party_id.isin(list(skip))]
    if balances.empty:
        return []
    b = balances.assign(var=balances.unaccounted_sd_kg ** 2)
    g = b.groupby("party_id").agg(
        unaccounted_kg=("unaccounted_kg", "sum"), var=("var", "sum"),
        received_kg=("received_kg", "sum"), produced_kg=("produced_kg", "sum"),
        first=("period", "min"), last=("period", "max"))
    out = []
    for party, r in g.iterrows():
        sd = float(r["var"]) ** 0.5
        base = float(r.received_kg)
        kg = float(r.unaccounted_kg)
        share = kg / base if base > 0 else None
        z = kg / sd if sd > 0 else float("inf")
        if kg < s.min_kg or z < s.z_critical or share is None or share < s.min_share:
            continue
        period = r["first"] if r["first"] == r["last"] else f"{r['first']}/{r['last']}"
        out.append(Finding(
            rule=RULE, severity="medium",  # an estimate beyond its uncertainty (§8)
            subject_type="party", subject_id=str(party), period=period, kg=round(kg, 3),
            share=round(share, 4), evidence=[str(party)],
            message=(f"{party}'s books do not close: {kg:,.1f} ± {sd:,.1f} kg of rare-earth "
                     f"content ({share:.1%} of the {base:,.1f} kg it received, {period}) "
                     f"cannot be followed to a use, stock, scrap or onward flow "
                     f"(z = {z:.1f})."),
        ))
    return out


def build(m: FlowModel) -> list[Finding]:
    return unaccounted_findings(m.balances, m.settings(UnaccountedSettings), m.not_judged)


DETECTOR = Detector(
    name=NAME,
    summary="Rare-earth content a party received that no record follows to a use, stock, "
    "scrap or onward flow, beyond measurement error.",
    severity="medium: a mass balance is an estimate; it fires only beyond z_critical sd, "
    "min_kg and min_share",
    needs=("shipments",),
    build=build,
    params=(UnaccountedSettings,),
)
