"""`capacity_mismatch`: receipts beyond what the declared capacity or output can use, and
receipts growing far beyond capacity growth. Pure function of per-party-year frames.

Both tests compare estimates (receipts against what a declared capacity can use) beyond
their uncertainty, so a finding is `medium` (contract 1.1 §8). Settings: policy
`analysis.capacity`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rareflow.analyses.detector import Detector
from rareflow.analyses.model import FlowModel
from rareflow.findings import Finding

NAME = "capacity_mismatch"
RULE = NAME


@dataclass(frozen=True)
class CapacitySettings:
    rel_sd: float = 0.05  # every input (receipts, capacity) +/- 5%
    tolerance: float = 0.25  # receipts may exceed expected use by this share before a test
    z_critical: float = 3.0
    min_kg: float = 10.0


def capacity_findings(use: pd.DataFrame, s: CapacitySettings) -> list[Finding]:
    """`use` has party_id, year, received_kg, stock_change_kg, expected_kg (declared output or
    capacity x content per unit)."""
    out: list[Finding] = []
    u = use.sort_values(["party_id", "year"])
    for r in u.itertuples(index=False):
        if not r.expected_kg > 0:
            continue
        allowed = r.expected_kg * (1 + s.tolerance) + max(r.stock_change_kg, 0.0)
        excess = r.received_kg - allowed
        sd = s.rel_sd * (r.received_kg ** 2 + (r.expected_kg * (1 + s.tolerance)) ** 2) ** 0.5
        if excess > s.min_kg and excess > s.z_critical * sd:
            out.append(Finding(
                rule=RULE, severity="medium",  # an estimate beyond its uncertainty (§8)
                subject_type="party", subject_id=str(r.party_id), period=str(r.year),
                kg=round(excess, 3), share=round(excess / r.received_kg, 4),
                evidence=[str(r.party_id), f"capacity:{r.party_id}:{r.year}"],
                message=(f"{r.party_id} received {r.received_kg:,.1f} kg of rare-earth content "
                         f"in {r.year}; its declared capacity uses {r.expected_kg:,.1f} kg "
                         f"(+{s.tolerance:.0%} tolerance, plus stock built): "
                         f"{excess:,.1f} ± {sd:,.1f} kg beyond.")))
    for party, g in u.groupby("party_id"):
        g = g[(g.expected_kg > 0) & (g.received_kg > 0)].sort_values("year")
        for a, b in zip(g.itertuples(index=False), g.iloc[1:].itertuples(index=False),
                        strict=False):
            cap_ratio = b.expected_kg / a.expected_kg
            expected = a.received_kg * cap_ratio
            excess = b.received_kg - expected
            sd = s.rel_sd * (b.received_kg ** 2 + 3 * expected ** 2) ** 0.5
            if excess > s.min_kg and excess > s.z_critical * sd:
                growth = b.received_kg / a.received_kg - 1
                out.append(Finding(
                    rule=RULE, severity="medium", subject_type="party",
                    subject_id=str(party),
                    period=f"{a.year}/{b.year}", kg=round(excess, 3),
                    share=round(excess / b.received_kg, 4),
                    evidence=[str(party), f"capacity:{party}:{a.year}",
                              f"capacity:{party}:{b.year}"],
                    message=(f"{party}'s receipts grew {growth:+.0%} from {a.year} to {b.year} "
                             f"while its capacity changed {cap_ratio - 1:+.0%}: "
                             f"{excess:,.1f} ± {sd:,.1f} kg beyond what the growth of capacity "
                             f"explains (z = {excess / sd:.1f}).")))
    return out


def capacity_use(m: FlowModel) -> pd.DataFrame:
    """Per party and year: receipts, stock built and the content the declared output (or,
    without it, the capacity) uses."""
    exp = m.expected_use.assign(year=lambda d: d.year.astype(str))
    y = m.yearly.rename(columns={"period": "year"})[["party_id", "year", "received_kg",
                                                     "stock_change_kg"]]
    j = exp.merge(y, on=["party_id", "year"], how="left").fillna(
        {"received_kg": 0.0, "stock_change_kg": 0.0})
    return j[["party_id", "year", "received_kg", "stock_change_kg", "expected_kg"]]


def build(m: FlowModel) -> list[Finding]:
    return capacity_findings(capacity_use(m), m.settings(CapacitySettings))


DETECTOR = Detector(
    name=NAME,
    summary="Receipts beyond what the declared capacity or output can use, or growing far "
    "faster than capacity.",
    severity="medium: an estimate against declared capacity, beyond its uncertainty",
    needs=("capacity",),
    build=build,
    params=(CapacitySettings,),
)
