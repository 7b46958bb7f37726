"""`certificate_forged`: a certificate whose proof fails or rests on an unknown, foreign,
revoked or out-of-validity key, or that was altered after signing (the documents, checked in
Python: `analyses/certificate_documents.py`); one number carried by documents of different end
users; a certificate presented after its revocation, or for a shipment to an importer it was
not issued to and not affiliated with (contract 1.1 §9; engine). Always high."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.certificate_documents import proof_findings, reuse_findings
from rareflow.analyses.certificate_use import (
    certificate_drawdown,
    certificate_parties,
    certificate_rows,
)
from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.analyses.rules.certificate_violated import dated
from rareflow.analyses.tables import Tables, finding_rows, period_of
from rareflow.findings import Finding

NAME = "certificate_forged"
FORGED = NAME


def revoked_presented(t: Tables) -> ir.Table | None:
    """`certificate_forged`: a shipment presented a certificate on or after its revocation."""
    dd = certificate_drawdown(t) if t.revocations is not None else None
    if dd is None:
        return None
    dd = dated(dd)
    r = t.revocations.select("certificate_id", r_date=t.revocations.date.cast("date"),
                             r_reason=t.revocations.reason)
    j = dd.inner_join(r, "certificate_id")
    x = j.filter(j._day >= j.r_date)
    return certificate_rows(
        x, FORGED, "high", x.net_kg,
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " was revoked on ", x.r_date.cast("string"), " (",
            x.r_reason.fill_null("no reason given"), ") but presented for shipment ",
            x.declaration_id, " on ", x._day.cast("string"), "."))


def reused_presented(t: Tables, ownership_threshold: float) -> ir.Table | None:
    """`certificate_forged` (high): a shipment presents a certificate number whose documents
    name neither its consignee as importer or end user, nor a party affiliated with them.
    One finding per shipment, on the certificate."""
    related = certificate_parties(t, ownership_threshold)
    if related is None:
        return None
    c = t.certificates
    holders = c.filter(c.certificate_id.notnull()).group_by("certificate_id").aggregate(
        _importers=c.importer_id.collect(distinct=True),
        _users=c.end_user_id.collect(distinct=True))
    s = t.shipments
    s = s.filter(s.certificate_id.notnull() & s.consignee_id.notnull())
    s = s.inner_join(holders, "certificate_id")
    x = s.anti_join(related, [s.certificate_id == related.certificate_id,
                              s.consignee_id == related.party])
    x = x.mutate(_period=period_of(x.date.cast("date")), _day=x.date.cast("date").cast("string"))
    return finding_rows(
        x, rule=ibis.literal(FORGED), severity=ibis.literal("high"),
        subject_type=ibis.literal("certificate"), subject_id=x.certificate_id,
        period=x._period, kg=x.net_kg,
        evidence=ibis.array([x.certificate_id, x.declaration_id, x.consignee_id]),
        message=ibis.literal("Certificate ").concat(
            x.certificate_id, " (issued to importer ", x._importers.join(", "),
            ", end user ", x._users.join(", "), ") presented for shipment ",
            x.declaration_id, " on ", x._day, " to ", x.consignee_id,
            ", an importer it was not issued to and not affiliated with them: one "
            "certificate number used by different parties."))


def build(m: FlowModel) -> list[Finding | ir.Table]:
    out: list[Finding | ir.Table] = []
    threshold = m.settings(ResponsibilitySettings).ownership_threshold
    for part in (revoked_presented(m.t), reused_presented(m.t, threshold)):
        if part is not None:
            out.append(part)
    if m.t.certificates is not None:
        out += proof_findings(m.documents, m.key_records)
        out += of_rule(m.once("reuse", lambda: reuse_findings(m.documents)), NAME)
    return out


DETECTOR = Detector(
    name=NAME,
    summary="A certificate whose proof fails, whose key is unknown, foreign or revoked, "
    "altered after signing, presented after its revocation, or whose number is carried by "
    "documents of different end users or presented for unrelated importers.",
    severity="high: a failed proof, a revocation or one number used by different parties is "
    "established by the records",
    needs=("certificates",),
    build=build,
    params=(ResponsibilitySettings,),
)
