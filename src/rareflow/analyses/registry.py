"""Every detector, in the order of the docs and of `rareflow rules`: one module per rule in
`analyses/rules/`. `docs/rules/` and the CLI's help are generated from this list."""

from __future__ import annotations

from rareflow.analyses.detector import Detector
from rareflow.analyses.rules import (
    capacity_mismatch,
    certificate_forged,
    certificate_incomplete,
    certificate_violated,
    licence_violation,
    prohibited_end_use,
    red_flag,
    restricted_party,
    unaccounted_material,
    unauthorised_reexport,
)

RULES: tuple[Detector, ...] = tuple(m.DETECTOR for m in (
    licence_violation,
    certificate_incomplete,
    certificate_violated,
    certificate_forged,
    red_flag,
    unaccounted_material,
    capacity_mismatch,
    unauthorised_reexport,
    prohibited_end_use,
    restricted_party,
))


def detector(name: str) -> Detector:
    for d in RULES:
        if d.name == name:
            return d
    raise KeyError(name)
