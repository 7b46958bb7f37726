"""Every finding rule, describing itself: name, what it needs, what it means, how it is built.
The docs pages and `rareflow rules` come from this list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir

from rareflow.analyses.certificate_use import certificate_violations, forged_presented
from rareflow.analyses.licences import licence_violations
from rareflow.analyses.tables import Tables
from rareflow.policy import Policy

Builder = Callable[[Tables, Policy], ir.Table | None]


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    needs: tuple[str, ...]
    build: Builder | None  # None: computed outside the engine rules: by flow accounting
    # (rareflow.accounting) or from the certificate documents (Workspace._certificate_documents)
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
        summary="An end-user certificate that lacks a mandatory element (contract §7, or one "
        "the dated policy requires for its product and date).",
        needs=("certificates",),
        build=None,
        doc="docs/rules/certificate_incomplete.md",
    ),
    Rule(
        name="certificate_violated",
        summary="A certificate drawn beyond its quantity, used outside its validity or for "
        "goods it does not cover, or whose goods were traced to a re-export, a transfer or "
        "a prohibited use against its commitments.",
        needs=("certificates", "shipments"),
        build=certificate_violations,
        doc="docs/rules/certificate_violated.md",
    ),
    Rule(
        name="certificate_forged",
        summary="A certificate whose proof fails, whose key is unknown, foreign or revoked, "
        "altered after signing, presented after its revocation, or whose number is carried by "
        "documents of different end users or presented for unrelated importers.",
        needs=("certificates", "shipments"),
        build=forged_presented,
        doc="docs/rules/certificate_forged.md",
    ),
    Rule(
        name="red_flag",
        summary="An indicator that honest parties also produce (on certificates: a trading "
        "end user, a shared signatory name, an endorsement not evidenced, a re-issued "
        "number, optional elements missing; in flows: final goods sold for a military use): "
        "low, shown, never a violation by itself.",
        needs=(), build=None, doc="docs/rules/red_flag.md",
    ),
    Rule(
        name="unaccounted_material",
        summary="Rare-earth content a party received that no record follows to a use, "
        "stock, scrap or onward flow, beyond measurement error.",
        needs=("shipments",), build=None, doc="docs/rules/unaccounted_material.md",
    ),
    Rule(
        name="capacity_mismatch",
        summary="Receipts beyond what the declared capacity or output can use, or growing "
        "far faster than capacity.",
        needs=("capacity",), build=None, doc="docs/rules/capacity_mismatch.md",
    ),
    Rule(
        name="unauthorised_reexport",
        summary="Controlled material or components leaving the country of end use against a "
        "no-re-export promise; exports beyond own production in mirror statistics.",
        needs=("flows",), build=None, doc="docs/rules/unauthorised_reexport.md",
    ),
    Rule(
        name="prohibited_end_use",
        summary="Controlled content reaching a military use, a restricted party or a party "
        "with a military contract; teardown finds traced back to the export.",
        needs=("flows",), build=None, doc="docs/rules/prohibited_end_use.md",
    ),
    Rule(
        name="restricted_party",
        summary="A party whose name or alias matches a restricted list.",
        needs=("restricted_parties",), build=None, doc="docs/rules/restricted_party.md",
    ),
)
