"""Verifying many certificates at once gives what verifying each alone gives:
`verify_certificates` (the checks of all, then the Ed25519 checks of all, then the results)
against `verify_certificate`, on certificates broken in every way the checks know; the
`plain` path (a JSON text parsed without floats: no second look before orjson writes it)
against the checked one; the batched base58 decoding against the one-at-a-time one; the
results built without the dataclass constructors against the constructors' own."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import pickle

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rareflow.vc import KeyPair, sign_credential, trust
from rareflow.vc.batch import verify_many
from rareflow.vc.multikey import b58decode_digits, b58decode_many, b58digits, b58encode
from rareflow.vc.trust import (
    ProofResult,
    Reason,
    Verification,
    encode_status_list,
    index_keys,
    index_revocations,
    status_list_bits,
    verify_certificate,
    verify_certificates,
)
from rareflow.world.certs import certificate

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"test-vc-batch-fast:{name}".encode()).digest())


EU, GOV, STRANGER = _key("end-user"), _key("authority"), _key("stranger")
KEYS = [{"key_id": EU.verification_method, "controller": "P-IN-9",
         "public_key_multibase": EU.public_multibase, "valid_from": "2024-01-01",
         "valid_to": "2027-12-31", "revoked_on": None},
        {"key_id": GOV.verification_method, "controller": "IN-DGFT",
         "public_key_multibase": GOV.public_multibase, "valid_from": "2024-01-01",
         "valid_to": "2025-01-10", "revoked_on": "2025-01-11"}]
REVOCATIONS = [{"certificate_id": "EUC-F-0003", "date": "2025-02-01", "reason": "test"}]
STATUS = "https://example.org/status/1"
STATUS_LISTS = {STATUS: {"credentialSubject": {
    "statusPurpose": "revocation", "encodedList": encode_status_list(status_list_bits([7]))}}}


def _signed(i: int) -> dict:
    doc = certificate(f"EUC-F-{i:04d}", exporter="P-CN-1", importer="P-IN-9", end_user="P-IN-9",
                      country="IN", year=2025, max_kg=100 + i, use="ev_motor",
                      description=f"motors {i}, é 😀 \ue000", site="Pune", authority="IN-DGFT")
    doc = sign_credential(doc, EU, "2025-01-10T09:00:00Z")
    return sign_credential(doc, GOV, "2025-01-11T10:00:00Z")


BASE = _signed(0)


def _at(doc: dict, *path):
    for step in path:
        doc = doc[step]
    return doc


MUTATIONS = {  # each: a way a certificate can go wrong, applied to a deep copy
    "as_signed": lambda d: None,
    "altered": lambda d: d["credentialSubject"]["items"][0].update(max_kg="99999"),
    "float_added": lambda d: d["credentialSubject"].update(share=0.5),
    "nan_added": lambda d: d["credentialSubject"].update(share=float("nan")),
    "big_int": lambda d: d["credentialSubject"].update(count=2**60),
    "surrogate": lambda d: d["credentialSubject"].update(note="\ud800"),
    "astral_key": lambda d: d["credentialSubject"].update({"\U0001f600": 1, "\ue000": 2}),
    "no_proof": lambda d: d.pop("proof"),
    "one_proof": lambda d: d.update(proof=d["proof"][0]),
    "proof_not_object": lambda d: d["proof"].__setitem__(1, "text"),
    "other_suite": lambda d: d["proof"][0].update(cryptosuite="eddsa-rdfc-2022"),
    "chained": lambda d: d["proof"][1].update(previousProof="urn:x"),
    "created_bad": lambda d: d["proof"][0].update(created="yesterday"),
    "created_number": lambda d: d["proof"][0].update(created=5),
    "created_missing": lambda d: d["proof"][1].pop("created"),
    "value_not_z": lambda d: d["proof"][0].update(proofValue="u" + d["proof"][0]["proofValue"]),
    "value_bad_char": lambda d: d["proof"][0].update(proofValue="z0OIl"),
    "value_number": lambda d: d["proof"][0].update(proofValue=7),
    "value_zeros": lambda d: d["proof"][0].update(proofValue="z111" + d["proof"][0][
        "proofValue"][1:]),
    "stranger": lambda d: d["proof"].append(sign_credential(
        {k: v for k, v in d.items() if k != "proof"}, STRANGER, "2025-01-12T10:00:00Z")["proof"]),
    "vm_unknown": lambda d: d["proof"][0].update(verificationMethod="did:web:example.org#k"),
    "vm_number": lambda d: d["proof"][0].update(verificationMethod=3),
    "proof_context_other": lambda d: d["proof"][0].update(**{"@context": ["https://x.org"]}),
    "proof_context_dropped": lambda d: d["proof"][0].pop("@context"),
    "context_extra": lambda d: d["@context"].append("https://example.org/x"),
    "context_inline": lambda d: d["@context"].append({"@vocab": "https://x.org/"}),
    "context_text": lambda d: d.update(**{"@context": "https://www.w3.org/ns/credentials/v2"}),
    "not_yet_valid": lambda d: d.update(validFrom="2026-01-01T00:00:00Z"),
    "expired": lambda d: d.update(validUntil="2025-03-01T00:00:00Z"),
    "validity_bad": lambda d: d.update(validFrom="soon"),
    "revoked": lambda d: d["credentialSubject"].update(certificate_id="EUC-F-0003"),
    "no_subject": lambda d: d.pop("credentialSubject"),
    "status_set": lambda d: d.update(credentialStatus={
        "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
        "statusListIndex": "7", "statusListCredential": STATUS}),
    "status_unknown": lambda d: d.update(credentialStatus=[{
        "type": "BitstringStatusListEntry", "statusPurpose": "suspension",
        "statusListIndex": "1", "statusListCredential": "https://elsewhere"}]),
    "status_bad_index": lambda d: d.update(credentialStatus={
        "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
        "statusListIndex": "-1", "statusListCredential": STATUS}),
}


def _mutated(names: list[str]) -> dict:
    doc = copy.deepcopy(BASE)
    for name in names:
        # an earlier mutation may have taken away what this one changes
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            MUTATIONS[name](doc)
    return doc


def _dicts(results: list) -> list:
    return [r.to_dict() for r in results]


TABLES = {
    "rows": (KEYS, REVOCATIONS),
    "indexes": (index_keys(KEYS), index_revocations(REVOCATIONS)),
    "no_keys": (None, None),
}
DATES = ["2025-06-01", "2025-01-11", dt.date(2025, 6, 1), dt.datetime(2025, 6, 1, 12),
         "2025-06-01T12:00:00+05:00"]


@EXAMPLES
@given(st.lists(st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=3), min_size=1,
                max_size=6),
       st.sampled_from(sorted(TABLES)), st.lists(st.sampled_from(DATES), min_size=6,
                                                 max_size=6), st.booleans())
def test_many_at_once_is_each_alone(mutations, tables, dates, lists) -> None:
    docs = [_mutated(names) for names in mutations]
    keys, revocations = TABLES[tables]
    status = STATUS_LISTS if lists else None
    days = dates[:len(docs)]
    alone = [verify_certificate(d, keys, revocations, on_date=day, status_lists=status)
             for d, day in zip(docs, days, strict=True)]
    together = verify_certificates(docs, keys, revocations, on_date=days, status_lists=status)
    assert _dicts(together) == _dicts(alone)
    assert together == alone  # the objects themselves, not only their dictionaries
    one_date = verify_certificates(docs, keys, revocations, on_date=days[0],
                                   status_lists=status)
    assert _dicts(one_date) == _dicts(
        [verify_certificate(d, keys, revocations, on_date=days[0], status_lists=status)
         for d in docs])


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_plain_path_is_the_checked_path(name: str) -> None:
    """A certificate read from JSON text: the results are the same whether its parts are
    looked at again before orjson writes them (`plain` False) or not (True, allowed only
    when the parse found no float: then every part passes the look)."""
    doc = _mutated([name])
    try:
        text = orjson.dumps(doc)
        parsed = orjson.loads(text)
    except (TypeError, orjson.JSONDecodeError):  # NaN, lone surrogate, big integer
        pytest.skip("not a document the fast parse reads")
    if not trust.jcs._orjson_safe(parsed):
        pytest.skip("has a float: never read as plain")
    keys, revocations = TABLES["indexes"]
    args = ([parsed], keys, revocations, ["2025-06-01"], None, STATUS_LISTS)
    plain = trust._verify_batch(*args, {}, [True])
    checked = trust._verify_batch(*args, {}, [False])
    assert _dicts(plain) == _dicts(checked) == _dicts(
        [verify_certificate(json.loads(text), keys, revocations, on_date="2025-06-01",
                            status_lists=STATUS_LISTS)])


def test_verify_many_over_texts_is_each_alone() -> None:
    """Texts as `analyze` gives them, with per-certificate dates, the float-free ones read
    by the fast parse and the others by json: each result is verify_certificate's."""
    docs = [_mutated([name]) for name in sorted(MUTATIONS)]
    texts = [json.dumps(d, ensure_ascii=i % 2 == 0) for i, d in enumerate(docs)]
    days = [DATES[i % 2] for i in range(len(texts))]
    keys, revocations = TABLES["indexes"]
    got = verify_many(texts, keys, revocations, on_date=days, workers=1)
    assert _dicts(got) == _dicts(
        [verify_certificate(json.loads(t), keys, revocations, on_date=day)
         for t, day in zip(texts, days, strict=True)])


# --- pieces --------------------------------------------------------------------------------

@EXAMPLES
@given(st.lists(st.binary(max_size=80).map(lambda b: b"\0" * (len(b) % 3) + b), max_size=12))
def test_base58_of_many_at_once(items: list[bytes]) -> None:
    digits = [b58digits(b58encode(b)) for b in items]
    assert b58decode_many(digits) == [b58decode_digits(d) for d in digits] == items


def test_results_built_as_the_dataclasses_build_them() -> None:
    args = (1, "did:key:z6Mk#z6Mk", "2025-01-10T09:00:00Z", "P-IN-9", "end_user", True, False)
    fast, slow = trust._proof_result(*args), ProofResult(*args)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert list(vars(fast)) == [f.name for f in dataclasses.fields(ProofResult)]
    reasons = (Reason("expired", "validUntil ...", None),)
    v_args = ("EUC-1", "2025-06-01", reasons, (fast,), True, ("a note",))
    fast_v, slow_v = trust._verification(*v_args), Verification(*v_args)
    assert fast_v == slow_v and hash(fast_v) == hash(slow_v) and repr(fast_v) == repr(slow_v)
    assert list(vars(fast_v)) == [f.name for f in dataclasses.fields(Verification)]
    assert pickle.loads(pickle.dumps(fast_v)) == slow_v
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast_v.on_date = "2030-01-01"  # type: ignore[misc]


def test_gc_paused_restores_the_collector() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with trust.gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(RuntimeError), trust.gc_paused():
            raise RuntimeError
        assert gc.isenabled()
        gc.disable()
        with trust.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left as the caller had it
    finally:
        (gc.enable if was else gc.disable)()


def test_verify_certificates_checks_its_dates() -> None:
    with pytest.raises(ValueError, match="2 dates for 1 certificates"):
        verify_certificates([BASE], KEYS, None, on_date=["2025-06-01", "2025-06-02"])
    with pytest.raises(TypeError, match="JSON object"):
        verify_certificates([BASE, [1]], KEYS, None, on_date="2025-06-01")
    assert verify_certificates([], KEYS, None, on_date="2025-06-01") == []
