"""Tampering: every leaf of a signed certificate (content, nested subject items, numbers,
booleans, nulls, the @context, and every proof field) changed in turn makes verification
fail; member order and JSON whitespace do not matter."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from rareflow.vc import KeyPair, sign_credential
from rareflow.vc.trust import verify_certificate
from rareflow.world.certs import certificate

END_USER = KeyPair.from_seed(hashlib.sha256(b"test-vc-tamper:end-user").digest())
AUTHORITY = KeyPair.from_seed(hashlib.sha256(b"test-vc-tamper:authority").digest())
KEYS = [{"key_id": kp.verification_method, "controller": who,
         "public_key_multibase": kp.public_multibase, "valid_from": "2024-01-01",
         "valid_to": "2027-12-31", "revoked_on": ""}
        for kp, who in ((END_USER, "P-IN-9"), (AUTHORITY, "IN-AUTH"))]
ON = "2025-06-01"


def _signed() -> dict:
    doc = certificate("EUC-TAMPER-1", exporter="P-CN-3", importer="P-IN-9", end_user="P-IN-9",
                      country="IN", year=2025, max_kg=3000, use="ev_motor",
                      description="traction motors for two-wheelers", site="Chakan, Pune",
                      authority="IN-AUTH")
    subject = doc["credentialSubject"]
    subject["items"].append({"product": "dy_oxide", "hs_code": "2846901993", "max_kg": "40",
                             "value_usd": "18000", "lots": [1, 2, 3]})
    # numbers, booleans and null are legal JSON even if the contract keeps quantities in
    # strings: they must be protected too
    subject["inspection"] = {"count": 2, "share": 0.25, "on_site": True, "remote": False,
                             "note": None, "scores": [7, 8.5], "empty": ""}
    doc = sign_credential(doc, END_USER, "2025-01-10T09:00:00Z")
    return sign_credential(doc, AUTHORITY, "2025-01-11T10:00:00Z")


SIGNED = _signed()


def _leaves(value: object, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _get(doc: object, path: tuple) -> object:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: object, path: tuple, value: object) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if value is None:
        return 0
    if value == "":
        return " "
    # one character changed in the middle (not only an appended one)
    mid = len(value) // 2
    return value[:mid] + ("X" if value[mid] != "X" else "Y") + value[mid + 1:]


LEAVES = _leaves(SIGNED)


def _check(doc: dict):
    return verify_certificate(doc, KEYS, [], on_date=ON)


def test_the_original_verifies() -> None:
    v = _check(SIGNED)
    assert v.valid, v.reasons
    assert len(LEAVES) >= 60  # content, nested items, numbers, @context, two proofs
    kinds = {type(_get(SIGNED, p)) for p in LEAVES}
    assert kinds == {str, int, float, bool, type(None)}


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: ".".join(map(str, p)))
def test_every_leaf_change_fails(path: tuple) -> None:
    doc = copy.deepcopy(SIGNED)
    _set(doc, path, _changed(_get(doc, path)))
    v = _check(doc)
    assert not v.valid
    if path[0] == "proof":
        assert not v.proofs[path[1]].trusted
        assert v.proofs[1 - path[1]].trusted  # the other proof of the set still holds
    else:
        assert "bad_proof" in v.codes
        assert not any(p.signature_valid for p in v.proofs)


@pytest.mark.parametrize("path", [p for p in LEAVES if p[0] != "proof"],
                         ids=lambda p: ".".join(map(str, p)))
def test_every_leaf_type_change_fails(path: tuple) -> None:
    """The same text with another JSON type ("3000" vs 3000, true vs "true")."""
    doc = copy.deepcopy(SIGNED)
    value = _get(doc, path)
    _set(doc, path, json.dumps(value) if not isinstance(value, str) else [value])
    assert "bad_proof" in _check(doc).codes


def test_structural_changes_fail() -> None:
    def mutate(fn) -> bool:
        doc = copy.deepcopy(SIGNED)
        fn(doc)
        return _check(doc).valid

    subject = ("credentialSubject",)
    assert not mutate(lambda d: _get(d, subject).pop("endorsement"))
    assert not mutate(lambda d: _get(d, subject).update(extra="x"))
    assert not mutate(lambda d: _get(d, (*subject, "items")).pop())
    assert not mutate(lambda d: _get(d, (*subject, "items")).reverse())
    assert not mutate(lambda d: _get(d, (*subject, "commitments")).remove("no_reexport"))
    assert not mutate(lambda d: d.pop("validUntil"))
    assert not mutate(lambda d: d["proof"][0].pop("@context"))
    assert not mutate(lambda d: d["proof"][1].pop("created"))
    assert not mutate(lambda d: d.pop("proof"))


def test_dropping_the_authority_proof_keeps_the_end_user_proof() -> None:
    """Removing a proof does not break the other (proof set members are independent):
    the result says who signed, and callers that need the authority's signature check it."""
    doc = copy.deepcopy(SIGNED)
    doc["proof"] = doc["proof"][0]
    v = _check(doc)
    assert v.valid and v.signed_by == ("P-IN-9",)
    assert [p.role for p in v.proofs] == ["end_user"]


def _reordered(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]  # array order is content: kept
    return value


@pytest.mark.parametrize("render", [
    lambda d: json.dumps(d),
    lambda d: json.dumps(d, separators=(",", ":")),
    lambda d: json.dumps(d, indent=4),
    lambda d: json.dumps(d, indent="\t", ensure_ascii=False),
    lambda d: json.dumps(d, indent=1, sort_keys=True).replace("\n", "\r\n"),
    lambda d: json.dumps(_reordered(d), indent=2),
    lambda d: json.dumps(_reordered(d), sort_keys=True, ensure_ascii=True),
], ids=["default", "compact", "indent4", "tabs", "sorted-crlf", "reversed", "reversed-sorted"])
def test_order_and_whitespace_do_not_matter(render) -> None:
    text = render(SIGNED)
    doc = json.loads(text)
    assert _check(doc).valid
