"""`red_flag` (contract 1.1 §8): indicators that honest parties also produce are low findings,
named by a code at the head of the message, never a violation; only failed proofs and the
like stay `certificate_forged`. Pure functions on hand-made frames and on the conformance
cases' documents (read with the certificate reader, no store)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import TESTDATA
from rareflow.analyses.certificate_documents import (
    INDICATORS,
    document_findings,
    indicator_of,
    red_flag,
    trading_only,
)
from rareflow.readers.certificates import read_certificates
from rareflow.world.certs import certificate, key_for, sign

CONFORMANCE = TESTDATA / "conformance"
DOC_COLUMNS = ["certificate_id", "document_hash", "issued", "end_user_id", "signatory_name",
               "endorsement_authority", "endorsement_ref", "n_proofs", "document"]


def case_documents(case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The documents of a conformance case as the store holds them, and its parties."""
    data = CONFORMANCE / case / "data"
    certs, _, bad = read_certificates([data / "certificates.jsonl"])
    assert bad == []
    docs = certs.to_pandas()[DOC_COLUMNS]
    return docs, pd.read_csv(data / "parties.csv", dtype=str)


def letter(cid: str, end_user: str, signatory: str, authority: str | None = "XX-GOV",
           paper: bool = True, **kw: object) -> dict:
    doc = certificate(cid, exporter="CN-1", importer=end_user, end_user=end_user,
                      country="XX", year=2025, max_kg=100, use="ev_motor",
                      description="motors", site="Town", authority=authority,
                      signatory={"name": signatory, "title": "Director"}, **kw)
    if paper:
        doc["transcription"] = {"from": "paper letter", "by": "customs officer"}
    return doc


def frame(*docs: dict) -> pd.DataFrame:
    rows = []
    for i, d in enumerate(docs):
        s = d["credentialSubject"]
        proofs = d.get("proof") or []
        rows.append({"certificate_id": s["certificate_id"], "document_hash": f"h{i}",
                     "issued": s["issued"], "end_user_id": s["end_user_id"],
                     "signatory_name": s["signatory"]["name"],
                     "endorsement_authority": (s.get("endorsement") or {}).get("authority"),
                     "endorsement_ref": (s.get("endorsement") or {}).get("ref"),
                     "n_proofs": str(len(proofs) if isinstance(proofs, list) else 1),
                     "document": json.dumps(d)})
    return pd.DataFrame(rows)


PARTIES = pd.DataFrame([
    {"party_id": "XX-A", "roles": "importer;manufacturer;end_user"},
    {"party_id": "XX-B", "roles": "importer;manufacturer;end_user"},
    {"party_id": "XX-T", "roles": "importer;trader;end_user"},
    {"party_id": "XX-GOV", "roles": "authority"}])


def test_case_12_common_signatory_name_is_two_low_red_flags() -> None:
    docs, parties = case_documents("12-common-signatory-name")
    found = document_findings(docs, None, parties)
    assert sorted((f.rule, f.severity, f.subject_id, indicator_of(f)) for f in found) == [
        ("red_flag", "low", "EUC-12-001", "shared_signatory"),
        ("red_flag", "low", "EUC-12-002", "shared_signatory")]
    first = next(f for f in found if f.subject_id == "EUC-12-001")
    assert first.message.startswith("shared_signatory: Letter EUC-12-001: signatory 'R. Singh'")
    assert first.evidence == ["EUC-12-001", "IN-MFG-01", "IN-MFG-02"]


def test_case_07_distributor_naming_itself_end_user_is_one_low_red_flag() -> None:
    docs, parties = case_documents("07-distributor-as-end-user")
    found = document_findings(docs, None, parties)
    assert [(f.rule, f.severity, f.subject_id, indicator_of(f)) for f in found] == [
        ("red_flag", "low", "EUC-07-001", "trading_end_user")]
    # its roles say importer;distributor;end_user: naming itself end user is the red flag
    assert "names IN-DST-01 (roles: importer, distributor, end_user)" in found[0].message


def test_trading_only() -> None:
    assert trading_only(["importer", "distributor", "end_user"])
    assert trading_only(["forwarder"])
    assert not trading_only(["importer", "distributor", "manufacturer"])
    assert not trading_only(["importer", "end_user"])


def test_shared_signatory_spares_affiliates_from_25_percent() -> None:
    docs = frame(letter("L-1", "XX-A", "R. Singh"), letter("L-2", "XX-B", "r.  singh"))
    plain = document_findings(docs, None, PARTIES)
    assert {(f.subject_id, indicator_of(f)) for f in plain} == {
        ("L-1", "shared_signatory"), ("L-2", "shared_signatory")}  # names compared loosely
    own = pd.DataFrame([{"owner_id": "XX-B", "owned_id": "XX-A", "share": 0.25}])
    assert document_findings(docs, None, PARTIES, ownership=own) == []  # 25%: affiliates
    low = own.assign(share=0.24)
    assert len(document_findings(docs, None, PARTIES, ownership=low)) == 2
    assert document_findings(docs, None, PARTIES, ownership=low,
                             ownership_threshold=0.2) == []


def test_shared_signatory_only_on_unsigned_letters() -> None:
    signed = sign(letter("S-1", "XX-A", "R. Singh", authority=None, paper=False),
                  key_for(5, "XX-A"), created="2025-01-02T00:00:00Z")
    docs = frame(signed, letter("L-2", "XX-B", "R. Singh", authority=None))
    found = document_findings(docs, None, PARTIES)
    assert [(f.subject_id, indicator_of(f)) for f in found] == [("L-2", "shared_signatory")]


def test_every_indicator_at_once_is_still_low() -> None:
    """No combination of indicators raises medium (docs/rules/red_flag.md): a trading end
    user, a shared signatory and an endorsement claimed by an authority with keys but not
    signed, on one letter, give three low red flags and nothing else."""
    gov = key_for(5, "XX-GOV")
    keys = [{"key_id": gov.verification_method, "controller": "XX-GOV",
             "public_key_multibase": gov.public_multibase, "valid_from": "2023-01-01",
             "valid_to": "2027-12-31", "revoked_on": None}]
    docs = frame(letter("L-T", "XX-T", "A. Shah"), letter("L-B", "XX-B", "A. Shah"))
    found = [f for f in document_findings(docs, keys, PARTIES) if f.subject_id == "L-T"]
    assert {f.severity for f in found} == {"low"}
    assert {f.rule for f in found} == {"red_flag"}
    assert sorted(indicator_of(f) for f in found) == [
        "shared_signatory", "trading_end_user", "unsigned_endorsement"]
    endorsement = next(f for f in found if indicator_of(f) == "unsigned_endorsement")
    assert endorsement.evidence == ["L-T", "XX-GOV", "XX-GOV/EUC/L-T"]


def test_a_failed_proof_stays_certificate_forged_high() -> None:
    doc = sign(letter("S-1", "XX-A", "R. Singh", authority=None, paper=False),
               key_for(5, "XX-A"), created="2025-01-02T00:00:00Z")
    doc["credentialSubject"]["items"][0]["max_kg"] = "900"  # altered after signing
    found = document_findings(frame(doc), None, PARTIES)
    assert [(f.rule, f.severity) for f in found] == [("certificate_forged", "high")]
    assert "bad_proof" in found[0].message


def test_red_flag_helper() -> None:
    f = red_flag("C-1", "trading_end_user", ["P-1", "P-1", ""], "Certificate C-1 names P-1.")
    assert (f.rule, f.severity, f.subject_type) == ("red_flag", "low", "certificate")
    assert f.message == "trading_end_user: Certificate C-1 names P-1."
    assert f.evidence == ["C-1", "P-1"]
    assert indicator_of(f) == "trading_end_user"
    assert set(INDICATORS) == {"trading_end_user", "shared_signatory", "unsigned_endorsement",
                               "number_reissued", "optional_elements_missing",
                               "final_goods_military_use"}
    with pytest.raises(ValueError):
        red_flag("C-1", "round_quantity", [], "not an indicator of this project")


def test_red_flag_page_names_every_indicator() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "rules" / "red_flag.md").read_text()
    for code in INDICATORS:
        assert f"`{code}`" in text, code
