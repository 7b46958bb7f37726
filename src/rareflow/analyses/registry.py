"""Every finding rule, describing itself: name, what it needs, what it means, how it is built.
The docs pages and `rareflow rules` come from this list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir

from rareflow.analyses.certificates import incomplete_certificates
from rareflow.analyses.licences import licence_violations
from rareflow.analyses.tables import Tables
from rareflow.policy import Policy

Builder = Callable[[Tables, Policy], ir.Table | None]


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    needs: tuple[str, ...]
    build: Builder
    doc: str  # docs/rules/<name>.md


RULES: tuple[Rule, ...] = (
    Rule(
        name="licence_violation",
        summary="A shipment of a controlled item with no valid licence, beyond the licence's "
        "quantity or period, or to other parties or destinations than licensed.",
        needs=("shipments",),
        build=licence_violations,
        doc="docs/rules/licence_violation.md",
    ),
    Rule(
        name="certificate_incomplete",
        summary="An end-user certificate that lacks a mandatory element.",
        needs=("certificates",),
        build=incomplete_certificates,
        doc="docs/rules/certificate_incomplete.md",
    ),
)
