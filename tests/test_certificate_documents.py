"""Document-level forgery indicators, on hand-made certificates signed for real."""

from __future__ import annotations

import json

import pandas as pd

from rareflow.analyses.certificate_documents import document_findings, indicator_of
from rareflow.world.certs import certificate, key_for, sign

USER, AUTH = "XX-USE-01", "XX-GOV"
PARTIES = pd.DataFrame([{"party_id": USER, "roles": "importer;manufacturer;end_user"},
                        {"party_id": AUTH, "roles": "authority"}])


def _keys() -> list[dict]:
    return [{"key_id": key_for(1, who).verification_method, "controller": who,
             "public_key_multibase": key_for(1, who).public_multibase,
             "valid_from": "2023-01-01", "valid_to": "2027-12-31", "revoked_on": None}
            for who in (USER, AUTH)]


def _docs(*docs: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "certificate_id": d["credentialSubject"]["certificate_id"],
        "document_hash": f"h{i}", "issued": "2025-01-02", "end_user_id": USER,
        "signatory_name": "A. Director",
        "endorsement_authority": (d["credentialSubject"].get("endorsement") or {}).get(
            "authority"),
        "endorsement_ref": (d["credentialSubject"].get("endorsement") or {}).get("ref"),
        "n_proofs": len(d.get("proof") or []) if isinstance(d.get("proof"), list)
        else int("proof" in d),
        "document": json.dumps(d)} for i, d in enumerate(docs)])


def _cert(cid: str = "EUC-XX-1", **kw: object) -> dict:
    return certificate(cid, exporter="CN-1", importer=USER, end_user=USER, country="XX",
                       year=2025, max_kg=100, use="ev_motor", description="motors",
                       site="Town", authority=AUTH, **kw)


def test_endorsed_and_signed_by_both_is_clean() -> None:
    doc = sign(_cert(), key_for(1, USER), key_for(1, AUTH), created="2025-01-02T00:00:00Z")
    assert document_findings(_docs(doc), _keys(), PARTIES) == []


def test_endorsement_without_the_authority_proof() -> None:
    """No proof of the authority is there to fail, and an authority with keys may still
    endorse on paper or later: a red flag (low), not a forgery (contract §8)."""
    doc = sign(_cert(), key_for(1, USER), created="2025-01-02T00:00:00Z")
    found = document_findings(_docs(doc), _keys(), PARTIES)
    assert [(f.rule, f.severity) for f in found] == [("red_flag", "low")]
    assert found[0].message.startswith("unsigned_endorsement: ")
    assert indicator_of(found[0]) == "unsigned_endorsement"
    assert found[0].evidence == ["EUC-XX-1", AUTH, f"{AUTH}/EUC/EUC-XX-1"]


def test_same_number_two_contents_and_resigning_is_one_content() -> None:
    a = sign(_cert(), key_for(1, USER), created="2025-01-02T00:00:00Z")
    a2 = sign(a, key_for(1, AUTH), created="2025-01-03T00:00:00Z")  # endorsed later
    b = sign(_cert(contract="OTHER"), key_for(1, USER), key_for(1, AUTH),
             created="2025-01-02T00:00:00Z")
    reuse = [f for f in document_findings(_docs(a, a2), _keys(), PARTIES)
             if "carried by" in f.message]
    assert reuse == []
    # one end user, two contents: an amended re-issue looks the same (a red flag, low)
    reuse = [f for f in document_findings(_docs(a2, b), _keys(), PARTIES)
             if "carried by" in f.message]
    assert [(f.rule, f.severity, indicator_of(f)) for f in reuse] == [
        ("red_flag", "low", "number_reissued")]


def test_altered_after_signing_is_a_bad_proof() -> None:
    doc = sign(_cert(), key_for(1, USER), key_for(1, AUTH), created="2025-01-02T00:00:00Z")
    doc["credentialSubject"]["items"][0]["max_kg"] = "200"
    found = document_findings(_docs(doc), _keys(), PARTIES)
    assert any("bad_proof" in f.message and f.severity == "high" for f in found)
