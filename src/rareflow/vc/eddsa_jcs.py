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
from collections.abc import Mapping, Sequence
from datetime import datetime
from hashlib import sha256

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rareflow.vc.multikey import (
    KeyPair,
    b58decode_digits,
    b58decode_many,
    b58digits,
    b58encode,
    public_key,
)

SUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
# nesting beyond this is left to the reference path (orjson itself refuses 255 levels)
_SAFE_DEPTH = 250


# --- JCS (RFC 8785) -------------------------------------------------------------------------
#
# `canonicalize` writes with orjson (sorted keys, compact) whenever that is provably the
# RFC 8785 form of the value, and with the reference implementation (`rfc8785`) otherwise.
# orjson's output is the JCS form when the value holds only dicts with `str` keys, lists,
# strings, booleans, null and integers of at most 53 bits, and its keys sort alike in both
# orders (below). orjson is asked to refuse, with an error that sends the value to the
# reference path, what these checks leave to it: integers beyond 2^53-1
# (OPT_STRICT_INTEGER: the same bound as RFC 8785), subclasses of str, int, dict and list
# (OPT_PASSTHROUGH_SUBCLASS, no `default`), keys that are not `str`, lone surrogates, and
# nesting beyond its limit. Strings: both escape exactly `"`, `\` and the characters below
# U+0020 (with the same short forms and lowercase hex) and write every other character as
# UTF-8 (tests/test_vc_jcs_fast.py compares them character by character). Keys: orjson
# sorts by code point, RFC 8785 by UTF-16 code unit; the orders differ only where a
# character beyond U+FFFF (a surrogate pair in UTF-16) meets one from U+E000 to U+FFFF, so
# the output is kept when it is ASCII (every key ASCII) or when no key has a character
# beyond U+FFFF. Floats take the reference path (ECMAScript number form).

_ORJSON_JCS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS


def _orjson_safe(value: object) -> bool:
    """Whether `value` holds only what orjson writes as RFC 8785 does (see above): dicts,
    lists, strings, booleans, null and integers (floats and anything else: False), nested
    at most `_SAFE_DEPTH` deep. The key order and what orjson refuses are checked by
    `canonicalize`. (It runs on every document verified: plain code, names bound locally.)"""
    t = type(value)
    if t is dict or t is list:
        return _safe_container(value, 0)
    return t is str or t is int or t is bool or value is None


def _safe_container(node: dict | list, depth: int, type=type, str=str, int=int,
                    bool=bool, dict=dict, list=list) -> bool:
    for v in (node.values() if type(node) is dict else node):
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if (t is not dict and t is not list) or depth >= _SAFE_DEPTH or not _safe_container(
                v, depth + 1):
            return False
    return True


def _keys_in_bmp(value: object) -> bool:
    """No dict key in `value` (already written by orjson: keys are `str`, nesting bounded)
    has a character beyond U+FFFF, where code point and UTF-16 orders can differ."""
    t = type(value)
    if t is dict:
        keys = "".join(value)
        if keys and max(keys) > "\uffff":
            return False
        value = value.values()
    elif t is not list:
        return True
    return all(map(_keys_in_bmp, value))


def canonicalize(value: object) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 form of a JSON value.

    Raises `rfc8785.CanonicalizationError` (a `ValueError`-like error) for values JCS
    rejects: integers beyond 2^53-1, NaN/infinity, strings that are not valid Unicode."""
    return _canonical_plain(value) if _orjson_safe(value) else rfc8785.dumps(value)


def _canonical_plain(value: object) -> bytes:
    """`canonicalize` of a value for which `_orjson_safe` holds (checked by the caller: a
    JSON document parsed without floats holds only such values)."""
    try:
        out = orjson.dumps(value, option=_ORJSON_JCS)
    except orjson.JSONEncodeError:
        pass  # e.g. a lone surrogate: let the reference implementation say why
    else:
        if out.isascii() or _keys_in_bmp(value):
            return out
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
    return _without(document, "proof")


def _without(mapping: Mapping, member: str) -> dict:
    """A shallow copy of `mapping` without `member`, in the same order (a dict: copied and
    the member popped, at C speed)."""
    if type(mapping) is dict:
        out = mapping.copy()
        out.pop(member, None)
        return out
    return {k: v for k, v in mapping.items() if k != member}


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
    return canonicalize(_without(config, "proofValue"))


def document_hash(document: Mapping) -> bytes:
    """SHA-256 of the canonical document (docHashJCS)."""
    return sha256(canonical_document(document)).digest()


def proof_hash(config: Mapping) -> bytes:
    """SHA-256 of the canonical proof configuration (proofHashJCS)."""
    return sha256(canonical_proof_configuration(config)).digest()


def hash_data(document: Mapping, proof_config: Mapping) -> bytes:
    """The 64 bytes Ed25519 signs: proof hash then document hash (combinedHashJCS)."""
    return proof_hash(proof_config) + document_hash(document)


def encode_proof_value(signature: bytes) -> str:
    """Multibase base58btc ('z' prefix) of the signature (sigBTC58JCS)."""
    return "z" + b58encode(signature)


def decode_proof_value(value: object) -> bytes:
    """The signature bytes of a `proofValue`; ValueError unless it is base58btc multibase."""
    return b58decode_digits(_proof_value_digits(value))


def _proof_value_digits(value: object) -> bytes:
    """The base58 digit values of a `proofValue`: the checks of `decode_proof_value`, the
    same errors, without the arithmetic (done for many at once by `signature_problems`)."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise ValueError("proofValue is not a base58btc multibase value (must start with 'z')")
    return b58digits(value[1:])


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
    task = prepare_proof(document, proof, key, doc_hashes=doc_hashes)
    return task if type(task) is str else signature_problems([task])[0]


ProofTask = tuple[Ed25519PublicKey, bytes, bytes]


def prepare_proof(document: Mapping, proof: object, key: str | Ed25519PublicKey, *,
                  doc_hashes: dict | None = None) -> str | ProofTask:
    """`proof_problem` up to the Ed25519 check: the problem found before it, or what the
    check takes (the public key, the base58 digits of the signature, the signed hash
    data) for `signature_problems`, which runs the checks of many proofs together."""
    return _prepare(document, proof, key, doc_hashes, False, False)


def _prepare(document: Mapping, proof: object, key: str | Ed25519PublicKey,
             doc_hashes: dict | None, plain: bool, checked: bool) -> str | ProofTask:
    """`prepare_proof`. `plain`: the document is known to hold only dicts, lists, strings,
    booleans, null and integers (`_orjson_safe`: a JSON text parsed without floats), so
    that its parts need not be checked again before orjson writes them. `checked`: the
    caller found the proof a JSON object of this type and suite whose `created`, if any,
    is an ISO 8601 date-time (as `trust` does before it asks), so those checks are skipped."""
    if not checked:
        if type(proof) is not dict and not isinstance(proof, Mapping):
            return "the proof is not a JSON object"
        get = proof.get
        if get("type") != PROOF_TYPE or get("cryptosuite") != SUITE:
            return (f"unsupported proof: type {get('type')!r}, cryptosuite "
                    f"{get('cryptosuite')!r} (only {PROOF_TYPE} {SUITE} is supported)")
    get = proof.get
    if "previousProof" in proof:
        return "proof chains (previousProof) are not supported"
    created = None if checked else get("created")
    if created is not None:
        try:
            datetime.fromisoformat(created)
        except (TypeError, ValueError):
            return f"created {created!r} is not an ISO 8601 date-time"
    config = _without(proof, "proofValue")
    context = document.get("@context")
    own_context = "@context" in config
    if own_context:
        theirs = config["@context"]
        want = theirs if type(theirs) is list else _context_list(theirs)
        have = context if type(context) is list else _context_list(context)
        if have[:len(want)] != want:
            return "the proof's @context is not the start of the document's @context"
        context = theirs
    try:
        signature = _proof_value_digits(get("proofValue"))  # decoded by signature_problems
        pub = public_key(key) if isinstance(key, str) else key
        # the proofs of one document share its hash unless their @context differ
        if doc_hashes is None:
            cache_key = doc_hash = None
        else:
            cache_key = orjson.dumps(context)
            doc_hash = doc_hashes.get(cache_key)
        if doc_hash is None:
            # the document without `proof` (canonical_document), its @context the proof's
            unsecured = _without(document, "proof")
            if own_context:
                unsecured["@context"] = context
            doc_hash = sha256((_canonical_plain if plain else canonicalize)(unsecured)).digest()
            if doc_hashes is not None:
                doc_hashes[cache_key] = doc_hash
        # hash_data: proof_hash(config) (config has no proofValue) + document hash
        data = sha256((_canonical_plain if plain else canonicalize)(config)).digest() + doc_hash
    except (ValueError, TypeError) as exc:  # incl. JCS and orjson encoding errors
        return f"the proof cannot be checked: {exc}"
    return pub, signature, data


def signature_problems(tasks: Sequence[ProofTask]) -> list[str | None]:
    """The Ed25519 checks of prepared proofs (`prepare_proof`), in order: for each, None
    when it holds, else why not. The signatures are decoded together, then checked one
    after another: a run of Ed25519 checks uninterrupted by other work is markedly faster
    per check than the same checks each between the preparation of its proof
    (benchmarks/certificates.py)."""
    out: list[str | None] = []
    for (pub, _, data), signature in zip(tasks, b58decode_many([t[1] for t in tasks]),
                                         strict=True):
        try:
            pub.verify(signature, data)
        except InvalidSignature:
            out.append("the signature does not match the content (altered document or "
                       "forged proof)")
        except (ValueError, TypeError) as exc:
            out.append(f"the proof cannot be checked: {exc}")
        else:
            out.append(None)
    return out


def verify_proof(document: dict, proof: dict, public_multibase: str) -> bool:
    """Whether `proof` (one of the document's) is a valid eddsa-jcs-2022 signature by the key."""
    return proof_problem(document, proof, public_multibase) is None
