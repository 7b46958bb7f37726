"""The `eddsa-jcs-2022` cryptosuite (W3C Data Integrity EdDSA Cryptosuites v1.0):
JCS (RFC 8785) canonical forms, SHA-256 of the proof configuration then of the document,
Ed25519. The proof configuration carries a copy of the document's `@context`.

Each stage of the algorithm is a small public function, so that the W3C test vectors can be
checked stage by stage (tests/test_vc_vectors.py):

    unsecured_document -> canonical_document -> SHA-256 (document hash)
    proof_configuration -> canonical_proof_configuration -> SHA-256 (proof hash)
    hash_data = proof hash || document hash -> Ed25519 -> encode_proof_value
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import datetime

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rareflow.vc.multikey import KeyPair, b58decode, b58encode, public_key

SUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
_MAX_SAFE_INT = 2**53 - 1


def _is_map(value: object) -> bool:
    """isinstance(value, Mapping), the common case (a dict) without the ABC check."""
    return type(value) is dict or isinstance(value, Mapping)

# --- JCS (RFC 8785) -------------------------------------------------------------------------

def _orjson_safe(value: object) -> bool:
    """Whether orjson's sorted compact output is exactly the JCS form of `value`: only
    dicts with ASCII keys (UTF-16 and code-point key orders then agree), lists, strings,
    booleans, null and integers within the I-JSON range; floats take the reference path.
    (Iterative, with the scalar checks inline: it runs on every document verified.)"""
    stack = [value]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is dict:
            for k in node:
                if type(k) is not str or not k.isascii():
                    return False
            items = node.values()
        elif t is list:
            items = node
        else:
            items = (node,)
        for v in items:
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is dict or tv is list:
                stack.append(v)
            elif tv is not int or not -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT:
                return False
    return True


def canonicalize(value: object) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 form of a JSON value.

    Raises `rfc8785.CanonicalizationError` (a `ValueError`-like error) for values JCS
    rejects: integers beyond 2^53-1, NaN/infinity, strings that are not valid Unicode."""
    if _orjson_safe(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: let the reference implementation say why
    return rfc8785.dumps(value)


# --- the algorithm's stages -----------------------------------------------------------------

def proofs(document: Mapping) -> list[dict]:
    """The document's proofs as a list (a single `proof` object is a list of one)."""
    proof = document.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def unsecured_document(document: Mapping) -> dict:
    """The document without its `proof` member (shallow: values are shared)."""
    return {k: v for k, v in document.items() if k != "proof"}


def canonical_document(document: Mapping) -> bytes:
    """JCS canonical form of the document without `proof` (the W3C vector canonDocJCS)."""
    return canonicalize(unsecured_document(document))


def proof_configuration(document: Mapping, verification_method: str, created: str | None,
                        proof_purpose: str = "assertionMethod") -> dict:
    """The proof options of a new proof (the W3C vector proofConfigJCS): type, cryptosuite,
    created, verificationMethod, proofPurpose and a copy of the document's `@context`."""
    config: dict = {"type": PROOF_TYPE, "cryptosuite": SUITE}
    if created is not None:
        config["created"] = created
    config["verificationMethod"] = verification_method
    config["proofPurpose"] = proof_purpose
    if "@context" in document:
        config["@context"] = copy.deepcopy(document["@context"])
    return config


def canonical_proof_configuration(config: Mapping) -> bytes:
    """JCS canonical form of the proof configuration (the W3C vector proofCanonJCS);
    `proofValue`, if present, is not part of it."""
    return canonicalize({k: v for k, v in config.items() if k != "proofValue"})


def document_hash(document: Mapping) -> bytes:
    """SHA-256 of the canonical document (docHashJCS)."""
    return hashlib.sha256(canonical_document(document)).digest()


def proof_hash(config: Mapping) -> bytes:
    """SHA-256 of the canonical proof configuration (proofHashJCS)."""
    return hashlib.sha256(canonical_proof_configuration(config)).digest()


def hash_data(document: Mapping, proof_config: Mapping) -> bytes:
    """The 64 bytes Ed25519 signs: proof hash then document hash (combinedHashJCS)."""
    return proof_hash(proof_config) + document_hash(document)


def encode_proof_value(signature: bytes) -> str:
    """Multibase base58btc ('z' prefix) of the signature (sigBTC58JCS)."""
    return "z" + b58encode(signature)


def decode_proof_value(value: object) -> bytes:
    """The signature bytes of a `proofValue`; ValueError unless it is base58btc multibase."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise ValueError("proofValue is not a base58btc multibase value (must start with 'z')")
    return b58decode(value[1:])


# --- create and verify ----------------------------------------------------------------------

def create_proof(document: Mapping, key: KeyPair, created: str | None,
                 proof_purpose: str = "assertionMethod") -> dict:
    """A new proof over `document` (its existing proofs, if any, are not signed: proof set)."""
    unsecured = unsecured_document(document)
    config = proof_configuration(unsecured, key.verification_method, created, proof_purpose)
    signature = key.secret.sign(hash_data(unsecured, config))
    return {**config, "proofValue": encode_proof_value(signature)}


def sign_credential(document: dict, key: KeyPair, created: str,
                    proof_purpose: str = "assertionMethod") -> dict:
    """A copy of `document` with one more proof (two or more make a proof set; each proof
    signs the document without the `proof` member)."""
    existing = proofs(document)
    out = copy.deepcopy(unsecured_document(document))
    proof = create_proof(out, key, created, proof_purpose)
    out["proof"] = [*copy.deepcopy(existing), proof] if existing else proof
    return out


def _context_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def proof_problem(document: Mapping, proof: object,
                  key: str | Ed25519PublicKey, *, doc_hashes: dict | None = None) -> str | None:
    """Why `proof` (one of the document's) is not a valid eddsa-jcs-2022 signature by
    `key` (a Multikey multibase or a public key), or None when it is.

    Follows the suite's verification algorithm: the proof's `@context`, when present, must
    be a prefix of the document's and replaces it in the verified document. `doc_hashes`
    is an optional cache of document hashes shared by the proofs of one document."""
    if not _is_map(proof):
        return "the proof is not a JSON object"
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != SUITE:
        return (f"unsupported proof: type {proof.get('type')!r}, cryptosuite "
                f"{proof.get('cryptosuite')!r} (only {PROOF_TYPE} {SUITE} is supported)")
    if "previousProof" in proof:
        return "proof chains (previousProof) are not supported"
    created = proof.get("created")
    if created is not None:
        try:
            datetime.fromisoformat(created)
        except (TypeError, ValueError):
            return f"created {created!r} is not an ISO 8601 date-time"
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    context = document.get("@context")
    if "@context" in config:
        want = _context_list(config["@context"])
        have = _context_list(context)
        if have[:len(want)] != want:
            return "the proof's @context is not the start of the document's @context"
        context = config["@context"]
    try:
        signature = decode_proof_value(proof.get("proofValue"))
        pub = public_key(key) if isinstance(key, str) else key
        # the proofs of one document share its hash unless their @context differ
        cache_key = orjson.dumps(context) if doc_hashes is not None else b""
        doc_hash = doc_hashes.get(cache_key) if doc_hashes is not None else None
        if doc_hash is None:
            unsecured = unsecured_document(document)
            if "@context" in config:
                unsecured["@context"] = context
            doc_hash = document_hash(unsecured)
            if doc_hashes is not None:
                doc_hashes[cache_key] = doc_hash
        pub.verify(signature, proof_hash(config) + doc_hash)
    except InvalidSignature:
        return "the signature does not match the content (altered document or forged proof)"
    except (ValueError, TypeError) as exc:  # incl. JCS and orjson encoding errors
        return f"the proof cannot be checked: {exc}"
    return None


def verify_proof(document: dict, proof: dict, public_multibase: str) -> bool:
    """Whether `proof` (one of the document's) is a valid eddsa-jcs-2022 signature by the key."""
    return proof_problem(document, proof, public_multibase) is None
