"""`restricted_party`: a party whose name or alias matches a restricted list
(`analyses/screening.py`). High."""

from __future__ import annotations

from rareflow.analyses.detector import Detector
from rareflow.analyses.model import FlowModel
from rareflow.findings import Finding

NAME = "restricted_party"


def build(m: FlowModel) -> list[Finding]:
    return [Finding(
        rule=NAME, severity="high", subject_type="party", subject_id=str(r.party_id),
        evidence=[str(r.party_id), str(r.entity_id)],
        message=(f"{r.party_id} matches '{r.matched_name}' on list {r.list} "
                 f"(entity {r.entity_id}, {r.how} match)."))
        for r in m.matches.itertuples(index=False)]


DETECTOR = Detector(
    name=NAME,
    summary="A party whose name or alias matches a restricted list.",
    severity="high: the normalised name or an alias equals a listed name",
    needs=("restricted_parties",),
    build=build,
)
