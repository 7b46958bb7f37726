"""`red_flag` (the project's own rule, always low): an indicator that honest parties also
produce (contract 1.1 §8). The message starts with the indicator's code
(`certificate_documents.INDICATORS`): on certificates `trading_end_user`, `shared_signatory`,
`unsigned_endorsement`, `number_reissued`, `optional_elements_missing`; in flows
`final_goods_military_use`. Never a violation by itself; no combination of them is one."""

from __future__ import annotations

from rareflow.analyses.certificate_documents import (
    reuse_findings,
    shared_signatories,
    trading_end_users,
    unsigned_endorsements,
)
from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.analyses.rules.certificate_incomplete import element_checks
from rareflow.findings import Finding

NAME = "red_flag"


def final_goods_military_use(m: FlowModel) -> list[Finding]:
    """Final goods sold for a military use. Final goods are not controlled items (contract
    1.1 §4), so this is no `prohibited_end_use`; the flow account still counts their
    content as prohibited use (it reached a military use)."""
    out = []
    for r in m.military_sales.itertuples(index=False):
        ids = sorted(map(str, r.flows))
        span = r.first[:7] if r.first[:7] == r.last[:7] else f"{r.first[:7]}/{r.last[:7]}"
        out.append(Finding(
            rule=NAME, severity="low", subject_type="party", subject_id=str(r.from_id),
            period=span, kg=round(float(r.kg), 3), evidence=ids,
            message=(f"final_goods_military_use: {r.from_id} sold final goods holding "
                     f"{float(r.kg):,.1f} kg of rare-earth content for {r.final_use} "
                     f"({', '.join(ids)}). Final goods are not controlled items (contract "
                     "§4): no violation by itself; their content counts as prohibited use in "
                     "the attribution.")))
    return out


def build(m: FlowModel) -> list[Finding]:
    out = final_goods_military_use(m)
    if m.t.certificates is None:
        return out
    docs = m.documents
    threshold = m.settings(ResponsibilitySettings).ownership_threshold
    out += of_rule(m.once("reuse", lambda: reuse_findings(docs)), NAME)
    out += unsigned_endorsements(docs, m.key_records)
    out += shared_signatories(docs, m.owners if m.t.ownership is not None else None,
                              threshold)
    out += trading_end_users(docs, m.parties)
    out += of_rule(element_checks(m), NAME)
    return out


DETECTOR = Detector(
    name=NAME,
    summary="An indicator that honest parties also produce (on certificates: a trading end "
    "user, a shared signatory name, an endorsement not evidenced, a re-issued number, "
    "optional elements missing; in flows: final goods sold for a military use): low, shown, "
    "never a violation by itself.",
    severity="low, always",
    needs=(),
    build=build,
    params=(ResponsibilitySettings,),
)
