"""Decisions follow the record: an applicant whose violations are established (high or
medium findings of re-export, prohibited end use, certificate or licence rules on itself, its
end user or a certificate they hold) is denied whatever the new certificate; red flags ask,
never deny; a clean manufacturer with a complete certificate (`no_reexport` without a named
`no_transfer:XX` is complete, contract §7) is approved. Pure `assess` on hand-made frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rareflow.analyses.assess import AssessContext, assess
from rareflow.analyses.certificate_documents import red_flag
from rareflow.findings import Finding
from rareflow.policy import default_policy
from rareflow.world.certs import certificate, key_for, sign

MAKER, OTHER, GOV = "IN-MFG-01", "IN-MFG-02", "IN-GOV-01"
NEW, OLD = "EUC-NEW", "EUC-OLD"


def letter(cid: str, holder: str = MAKER, *, signed: bool = False,
           commitments: tuple[str, ...] = ("civil_use_only", "no_reexport")) -> dict:
    """A complete certificate for Dy-bearing magnets, valid over 2025, with `no_reexport` and
    no named no-transfer country: a paper letter, or signed by the maker and the authority."""
    doc = certificate(cid, exporter="CN-MAG-01", importer=holder, end_user=holder,
                      country="IN", year=2025, max_kg=1000, use="industrial_motor",
                      description="industrial motors", site="Pune", authority=GOV,
                      commitments=commitments)
    if signed:
        return sign(doc, key_for(3, holder), key_for(3, GOV), created="2025-01-02T09:00:00Z")
    doc["transcription"] = {"from": "paper letter", "by": "customs officer"}
    return doc


def context(*docs: dict, findings: list[Finding] = ()) -> AssessContext:
    keys = pd.DataFrame([{"key_id": key_for(3, who).verification_method, "controller": who,
                          "public_key_multibase": key_for(3, who).public_multibase,
                          "valid_from": "2023-01-01", "valid_to": "2027-12-31",
                          "revoked_on": None} for who in (MAKER, GOV)])
    return AssessContext(
        findings=list(findings),
        certificates=pd.DataFrame([{
            "certificate_id": d["credentialSubject"]["certificate_id"],
            "document_hash": f"h{i}", "end_user_id": d["credentialSubject"]["end_user_id"],
            "document": json.dumps(d)} for i, d in enumerate(docs)]),
        keys=keys,
        parties=pd.DataFrame([
            {"party_id": "CN-MAG-01", "name": "Magnets", "country": "CN",
             "roles": "exporter;manufacturer", "address": "Ningbo"},
            {"party_id": MAKER, "name": "Motor Maker", "country": "IN",
             "roles": "importer;manufacturer;end_user", "address": "Chakan, Pune"},
            {"party_id": OTHER, "name": "Pump Maker", "country": "IN",
             "roles": "importer;manufacturer;end_user", "address": "Ambattur, Chennai"},
            {"party_id": GOV, "name": "DGFT", "country": "IN", "roles": "authority",
             "address": "New Delhi"}]),
        products=pd.DataFrame([{"product": "ndfeb_magnet", "kind": "material", "unit": "kg",
                                "re_kg_per_unit": 0.3, "heavy_re_kg_per_unit": 0.02,
                                "hs_code": "8505111000"}]),
    )


def application(cid: str = NEW, on: str = "2025-09-01") -> pd.DataFrame:
    return pd.DataFrame([{"application_id": "APP-1", "date": on, "exporter_id": "CN-MAG-01",
                          "consignee_id": MAKER, "end_user_id": MAKER, "destination": "IN",
                          "product": "ndfeb_magnet", "kg": 500.0, "certificate_id": cid}])


def decide(ctx: AssessContext, apps: pd.DataFrame | None = None) -> pd.Series:
    return assess(application() if apps is None else apps, ctx, default_policy()).iloc[0]


def codes(r: pd.Series) -> set[str]:
    return set(r["reasons"].split("; "))


def violation(rule: str, severity: str, subject_type: str = "party", subject: str = MAKER,
              period: str | None = "2025-06") -> Finding:
    return Finding(rule=rule, severity=severity, subject_type=subject_type, subject_id=subject,
                   period=period, evidence=[subject, "F-001"],
                   message=f"{rule} by {subject} in {period}.")


def test_clean_manufacturer_with_complete_signed_certificate_is_approved() -> None:
    r = decide(context(letter(NEW, signed=True)))
    assert r["decision"] == "approve", r["explanation"]
    assert r["reasons"] == "no_objection"


def test_no_reexport_without_named_country_is_complete() -> None:
    """Before, `assess` wanted a named `no_transfer:XX` for Dy/Tb goods and asked for
    information on every such application; `no_reexport` forbids every transfer (§7)."""
    r = decide(context(letter(NEW)))  # a paper letter: only `no_proof` is left
    assert codes(r) == {"no_proof"}
    assert r["decision"] == "request_information"
    missing = decide(context(letter(NEW, commitments=("civil_use_only",))))
    assert "certificate_incomplete" in codes(missing)
    assert "no-re-export commitment" in missing["explanation"]


@pytest.mark.parametrize(("rule", "severity"), [
    ("unauthorised_reexport", "medium"), ("unauthorised_reexport", "high"),
    ("prohibited_end_use", "high"), ("prohibited_end_use", "medium"),
    ("certificate_violated", "high"), ("licence_violation", "high"),
    ("certificate_forged", "high")])
def test_established_violation_of_the_applicant_denies_despite_a_paper_letter(
        rule: str, severity: str) -> None:
    f = violation(rule, severity)
    r = decide(context(letter(NEW), findings=[f]))
    assert r["decision"] == "deny"
    assert rule in codes(r) and "no_proof" in codes(r)
    assert r["reasons"].split("; ")[0] == rule  # the most severe reason first
    assert f.id in r["explanation"] and f.message in r["explanation"]
    assert f.id in r["evidence"].split(";")


def test_violation_on_a_certificate_the_applicant_holds_denies() -> None:
    """The applicant's earlier certificate EUC-OLD, whose goods were re-exported (a
    `certificate_violated` on it), although the application names a new, signed one."""
    f = violation("certificate_violated", "medium", "certificate", OLD)
    r = decide(context(letter(NEW, signed=True), letter(OLD, signed=True), findings=[f]))
    assert r["decision"] == "deny" and codes(r) == {"certificate_violated"}
    assert f"certificate {OLD}" in r["explanation"]


def test_other_parties_low_findings_and_later_periods_do_not_count() -> None:
    found = [violation("unauthorised_reexport", "high", subject=OTHER),
             violation("certificate_forged", "high", "certificate", "EUC-OF-OTHERS"),
             violation("prohibited_end_use", "low"),
             violation("unauthorised_reexport", "high", period="2025-10")]
    r = decide(context(letter(NEW, signed=True), findings=found))
    assert r["decision"] == "approve" and r["reasons"] == "no_objection"


def test_red_flags_ask_and_never_deny() -> None:
    flags = [red_flag(NEW, "shared_signatory", [MAKER, OTHER], "Letter EUC-NEW: shared."),
             red_flag(NEW, "unsigned_endorsement", [GOV], "Not evidenced."),
             red_flag(NEW, "number_reissued", [MAKER], "Two contents.")]
    r = decide(context(letter(NEW, signed=True), findings=flags))
    assert r["decision"] == "request_information"
    assert codes(r) == {"red_flag"}
    assert "3 red flag(s)" in r["explanation"]
    for f in flags:
        assert f.id in r["evidence"].split(";")


def test_red_flags_assess_checks_itself_are_not_counted_twice() -> None:
    """`optional_elements_missing` and `trading_end_user` findings are re-checked by assess on
    the document and the parties; a complete certificate of a manufacturer is approved."""
    flags = [red_flag(NEW, "optional_elements_missing", [], "Lacks: contract reference."),
             red_flag(NEW, "trading_end_user", [MAKER], "Names a trader.")]
    r = decide(context(letter(NEW, signed=True), findings=flags))
    assert r["decision"] == "approve", r["explanation"]


def test_missing_optional_element_is_a_red_flag_reason() -> None:
    doc = certificate(NEW, exporter="CN-MAG-01", importer=MAKER, end_user=MAKER, country="IN",
                      year=2025, max_kg=1000, use="industrial_motor", description="motors",
                      site="Pune", authority=GOV, contract=None)
    doc = sign(doc, key_for(3, MAKER), key_for(3, GOV), created="2025-01-02T09:00:00Z")
    r = decide(context(doc))
    assert r["decision"] == "request_information" and codes(r) == {"red_flag"}
    assert "optional_elements_missing" in r["explanation"]
    assert "contract reference" in r["explanation"]
