"""The finding record that every analysis produces and every output writes.

Schema fixed by the dataset contract (`findings.jsonl`)."""

from __future__ import annotations

import hashlib
from typing import Literal

import ibis
from pydantic import BaseModel, Field

Severity = Literal["high", "medium", "low"]
SubjectType = Literal["party", "country", "certificate", "shipment", "licence"]

RULES = (
    "unaccounted_material",
    "capacity_mismatch",
    "unauthorised_reexport",
    "prohibited_end_use",
    "certificate_forged",
    "certificate_violated",
    "certificate_incomplete",
    "licence_violation",
    "restricted_party",
)

FINDING_COLUMNS = (
    "id",
    "rule",
    "severity",
    "subject_type",
    "subject_id",
    "period",
    "kg",
    "share",
    "evidence",
    "message",
)


# The same record as engine columns: what a detector's engine part selects (`finding_rows`).
FINDING_SCHEMA = ibis.schema({
    "rule": "string", "severity": "string", "subject_type": "string", "subject_id": "string",
    "period": "string", "kg": "float64", "share": "float64", "evidence": "array<string>",
    "message": "string",
})


class Finding(BaseModel):
    """One finding: a rule that fired on a subject, with the ids it rests on."""

    id: str = ""
    rule: str
    severity: Severity
    subject_type: SubjectType
    subject_id: str
    period: str | None = None
    kg: float | None = None
    share: float | None = None
    evidence: list[str] = Field(default_factory=list)
    message: str

    def model_post_init(self, __context: object) -> None:
        if not self.id:
            self.id = finding_id(self.rule, self.subject_id, self.period, self.evidence,
                                 self.message)


def finding_id(rule: str, subject_id: str, period: str | None, evidence: list[str],
               message: str) -> str:
    """A stable id: the same finding on the same data always gets the same id."""
    text = "\x1f".join([rule, subject_id, period or "", *sorted(evidence), message])
    tag = rule.replace("_", "")[:4].upper()
    return f"F-{tag}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
