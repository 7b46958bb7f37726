"""`restricted_party`: a party whose name or alias matches an entity of a restricted list
(the screening engine, `rareflow.screening`, through `analyses/screening.py`). A `match` is
high: the contract's finding, an accusation. A `possible` is low: a name close enough for
an analyst to look at, never counted as a violation. The dataset's `screening_decisions`
(analysts' judgements) apply first: a pair judged `not_same` gives no finding (it is listed
in the analysis result's notes), a pair judged `same` is a `match` whose message ends in
`confirmed the same by BY on DATE`."""

from __future__ import annotations

from rareflow.analyses.detector import Detector
from rareflow.analyses.model import FlowModel
from rareflow.analyses.screening import screen_model
from rareflow.findings import Finding
from rareflow.screening.settings import ScreeningSettings

NAME = "restricted_party"
SEVERITY = {"match": "high", "possible": "low"}


def build(m: FlowModel) -> list[Finding]:
    return [Finding(
        rule=NAME, severity=SEVERITY[r.decision], subject_type="party",
        subject_id=str(r.party_id),
        evidence=[str(r.party_id), str(r.entity_id)],
        message=(f"{r.party_id} {'matches' if r.decision == 'match' else 'may match'} "
                 f"'{r.matched_name}' on list {r.list} (entity {r.entity_id}, "
                 f"{r.decision}, score {r.score:.2f}): {r.how}."))
        for r in screen_model(m).itertuples(index=False)]


DETECTOR = Detector(
    name=NAME,
    summary="A party whose name or alias matches an entity of a restricted list (fuzzy, "
            "transliterated, explained).",
    severity="high: a `match` (score at or above screening.match); low: a `possible` "
             "(at or above screening.possible), for review",
    needs=("restricted_parties",),
    build=build,
    params=(ScreeningSettings,),
)
