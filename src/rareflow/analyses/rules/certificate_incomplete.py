"""`certificate_incomplete`: an end-user certificate that lacks a mandatory element (contract
1.1 §7), or one the dated policy requires for its product and date. Medium. The element check
is `analyses/certificates.py` (`missing_elements`), which `assess` uses too."""

from __future__ import annotations

from rareflow.analyses.certificates import incomplete_findings
from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.findings import Finding

NAME = "certificate_incomplete"


def element_checks(m: FlowModel) -> list[Finding]:
    """`certificate_incomplete` and the `optional_elements_missing` red flags, once."""
    products = m.frame(m.t.products, "product", "heavy_re_kg_per_unit")
    return m.once("elements", lambda: incomplete_findings(m.documents, m.parties, products,
                                                          m.policy))


def build(m: FlowModel) -> list[Finding]:
    return of_rule(element_checks(m), NAME)


DETECTOR = Detector(
    name=NAME,
    summary="An end-user certificate that lacks a mandatory element (contract §7, or one "
    "the dated policy requires for its product and date).",
    severity="medium: the document itself shows the gap; missing recommended elements are a "
    "low red_flag",
    needs=("certificates",),
    build=build,
)
