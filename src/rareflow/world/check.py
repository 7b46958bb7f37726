"""Compare findings with what a world planted: which cases were found, which were missed,
and which findings no planted case explains."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rareflow.findings import Finding


@dataclass
class PlantedCheck:
    found: dict[str, list[str]] = field(default_factory=dict)  # case -> finding ids
    missed: list[dict] = field(default_factory=list)
    unexplained: list[Finding] = field(default_factory=list)


def explains(case: dict, f: Finding) -> bool:
    """A finding explains a planted case when the rule matches, it names the case's subject
    (as its subject or among its evidence ids) and, where the case lists evidence other than
    its subject, it cites at least one of those ids (in its evidence or its message)."""
    if f.rule != case["rule"]:
        return False
    if case["subject_id"] != f.subject_id and case["subject_id"] not in f.evidence:
        return False
    others = [e for e in case.get("evidence", []) if e != case["subject_id"]]
    return not others or any(e in f.evidence or e in f.message for e in others)


def check_planted(cases: Iterable[dict], findings: Iterable[Finding],
                  rules: Iterable[str] | None = None) -> PlantedCheck:
    """Match planted cases (restricted to `rules` when given) with findings."""
    findings = list(findings)
    wanted = [c for c in cases if rules is None or c["rule"] in set(rules)]
    out = PlantedCheck()
    used: set[str] = set()
    for case in wanted:
        hits = [f.id for f in findings if explains(case, f)]
        if hits:
            out.found[case["case"]] = hits
            used.update(hits)
        else:
            out.missed.append(case)
    out.unexplained = [f for f in findings if f.id not in used]
    return out
