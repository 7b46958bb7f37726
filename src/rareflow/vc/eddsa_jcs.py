"""The `eddsa-jcs-2022` cryptosuite (W3C Data Integrity EdDSA Cryptosuites v1.0):
JCS (RFC 8785) canonical forms, SHA-256 of the proof configuration then of the document,
Ed25519. The proof configuration carries a copy of the document's `@context`."""

from __future__ import annotations

import copy
import hashlib

import base58
import rfc8785
from cryptography.exceptions import InvalidSignature

from rareflow.vc.multikey import KeyPair, public_key

SUITE = "eddsa-jcs-2022"


def _hash_data(unsecured: dict, proof_config: dict) -> bytes:
    return (hashlib.sha256(rfc8785.dumps(proof_config)).digest()
            + hashlib.sha256(rfc8785.dumps(unsecured)).digest())


def _proofs(doc: dict) -> list[dict]:
    proof = doc.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def sign_credential(document: dict, key: KeyPair, created: str,
                    proof_purpose: str = "assertionMethod") -> dict:
    """A copy of `document` with one more proof (two or more make a proof set; each proof
    signs the document without the `proof` member)."""
    existing = _proofs(document)
    unsecured = {k: v for k, v in copy.deepcopy(document).items() if k != "proof"}
    config = {"type": "DataIntegrityProof", "cryptosuite": SUITE, "created": created,
              "verificationMethod": key.verification_method, "proofPurpose": proof_purpose}
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    signature = key.secret.sign(_hash_data(unsecured, config))
    proof = {**config, "proofValue": "z" + base58.b58encode(signature).decode()}
    out = dict(unsecured)
    out["proof"] = [*existing, proof] if existing else proof
    return out


def verify_proof(document: dict, proof: dict, public_multibase: str) -> bool:
    """Whether `proof` (one of the document's) is a valid eddsa-jcs-2022 signature by the key."""
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != SUITE:
        return False
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in config and config["@context"] != unsecured.get("@context"):
        return False
    value = proof.get("proofValue", "")
    try:
        signature = base58.b58decode(value[1:]) if value.startswith("z") else b""
        public_key(public_multibase).verify(signature, _hash_data(unsecured, config))
    except (InvalidSignature, ValueError):
        return False
    return True
