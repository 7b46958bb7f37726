"""What a detector is: one rule of the contract's vocabulary (or of the project's own, such as
`red_flag`), describing itself, built over the flow model (`analyses/model.py`).

A builder returns Ibis tables in the finding schema (computed in the engine: the engine parts
of every detector of an analysis run as one query) and `Finding`s (for the reduced problems
solved in Python), as one table, one list mixing both, or None when the dataset lacks what the
rule needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

from rareflow.findings import Finding

if TYPE_CHECKING:
    from rareflow.analyses.model import FlowModel

Built = ir.Table | list[Finding | ir.Table] | None


@dataclass(frozen=True)
class Detector:
    name: str  # the rule, exactly as the contract's vocabulary spells it
    summary: str  # one sentence: what fires it
    severity: str  # the severity policy, in words (contract 1.1 §8)
    needs: tuple[str, ...]  # contract tables without which it cannot fire
    build: Callable[[FlowModel], Built]
    params: tuple[type, ...] = ()  # settings dataclasses, from the policy's `analysis:`

    @property
    def doc(self) -> str:
        return f"docs/rules/{self.name}.md"

    def parameters(self) -> list[tuple[str, str, str, Any]]:
        """(policy section, name, type, default) of every parameter."""
        out = []
        for cls in self.params:
            section = getattr(cls, "SECTION", cls.__name__.removesuffix("Settings").lower())
            for f in fields(cls):
                kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
                out.append((section, f.name, kind, f.default))
        return out


def of_rule(findings: list[Finding], rule: str) -> list[Finding]:
    """The findings of one rule out of a shared computation's."""
    return [f for f in findings if f.rule == rule]
