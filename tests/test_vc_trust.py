"""`verify_certificate`: one test per reason code, each producing exactly that reason; then
several reasons at once, the no-registry mode, the Bitstring Status List codec and the
contract's example."""

from __future__ import annotations

import copy
import csv
import hashlib
import json

import pytest

from conftest import EXAMPLE
from rareflow.vc import KeyPair, sign_credential
from rareflow.vc.trust import (
    DEFAULT_CONTEXTS,
    REASONS,
    decode_status_list,
    encode_status_list,
    index_keys,
    index_revocations,
    status_list_bits,
    status_value,
    verify_certificate,
)
from rareflow.world.certs import certificate


def _key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"test-vc-trust:{name}".encode()).digest())


END_USER, AUTHORITY, STRANGER = _key("end-user"), _key("authority"), _key("stranger")
CREATED_EU, CREATED_AUTH = "2025-01-10T09:00:00Z", "2025-01-12T15:30:00+05:30"
ON = "2025-06-01"
STATUS_URL = "https://authority.example/status/1"


def key_row(kp: KeyPair, controller: str, valid_from: str = "2024-01-01",
            valid_to: str = "2027-12-31", revoked_on: str = "") -> dict:
    """A keys-table row as csv.DictReader gives it (strings; empty cell = '')."""
    return {"key_id": kp.verification_method, "controller": controller,
            "public_key_multibase": kp.public_multibase, "valid_from": valid_from,
            "valid_to": valid_to, "revoked_on": revoked_on}


def keys_table(**overrides: dict) -> list[dict]:
    return [key_row(END_USER, "P-IN-7", **overrides.get("end_user", {})),
            key_row(AUTHORITY, "IN-DGFT", **overrides.get("authority", {}))]


def unsigned(**extra: object) -> dict:
    doc = certificate("EUC-T-1", exporter="P-CN-1", importer="P-IN-7", end_user="P-IN-7",
                      country="IN", year=2025, max_kg=1200, use="ev_motor",
                      description="traction motors", site="Pune", authority="IN-DGFT")
    doc.update(extra)
    return doc


def signed(doc: dict | None = None, *keys: KeyPair) -> dict:
    doc = unsigned() if doc is None else doc
    keys = keys or (END_USER, AUTHORITY)
    for kp, created in zip(keys, (CREATED_EU, CREATED_AUTH, CREATED_AUTH), strict=False):
        doc = sign_credential(doc, kp, created)
    return doc


def check(doc: dict, keys: list[dict] | None = None, revocations: list[dict] | None = None,
          **kw):
    kw.setdefault("on_date", ON)
    return verify_certificate(doc, keys_table() if keys is None else keys, revocations or [],
                              **kw)


def test_a_good_certificate_is_valid() -> None:
    v = check(signed())
    assert v.valid and v.codes == () and v.reasons == ()
    assert v.certificate_id == "EUC-T-1"
    assert [(p.controller, p.role, p.signature_valid, p.trusted) for p in v.proofs] == [
        ("P-IN-7", "end_user", True, True), ("IN-DGFT", "authority", True, True)]
    assert v.signed_by == ("P-IN-7", "IN-DGFT")
    assert json.loads(json.dumps(v.to_dict()))["valid"] is True


# --- one test per reason code ---------------------------------------------------------------

def test_no_proof() -> None:
    assert check(unsigned()).codes == ("no_proof",)
    assert check({**unsigned(), "proof": []}).codes == ("no_proof",)


def test_bad_proof_altered_content() -> None:
    doc = signed()
    doc["credentialSubject"]["items"][0]["max_kg"] = "12000"
    v = check(doc)
    assert v.codes == ("bad_proof",)
    assert [r.proof for r in v.reasons] == [0, 1]
    assert not any(p.signature_valid for p in v.proofs)


def test_bad_proof_forged_signature() -> None:
    doc = signed()
    forged = sign_credential(unsigned(), STRANGER, CREATED_AUTH)["proof"]["proofValue"]
    doc["proof"][1]["proofValue"] = forged  # a real signature, by the wrong key
    v = check(doc)
    assert v.codes == ("bad_proof",)
    assert [p.trusted for p in v.proofs] == [True, False]


def test_unsupported_cryptosuite() -> None:
    doc = signed()
    doc["proof"][1]["cryptosuite"] = "eddsa-rdfc-2022"
    v = check(doc)
    assert v.codes == ("unsupported_cryptosuite",)
    assert v.reasons[0].proof == 1


def test_unknown_key() -> None:
    v = check(signed(None, END_USER, STRANGER))
    assert v.codes == ("unknown_key",)
    assert v.proofs[1].signature_valid and not v.proofs[1].trusted


def test_foreign_key() -> None:
    keys = [*keys_table(), key_row(STRANGER, "P-CN-1")]  # registered, but the exporter's
    v = check(signed(None, END_USER, STRANGER), keys)
    assert v.codes == ("foreign_key",)
    assert "P-CN-1" in v.reasons[0].message and v.proofs[1].role is None


def test_foreign_key_import_certificate_needs_the_authority() -> None:
    doc = unsigned()
    doc["credentialSubject"]["kind"] = "import_certificate"
    v = check(signed(doc))
    assert v.codes == ("foreign_key",)  # a government certificate: the end user cannot sign
    assert v.reasons[0].proof == 0


def test_key_revoked() -> None:
    v = check(signed(), keys_table(authority={"revoked_on": "2025-01-12"}))  # same day
    assert v.codes == ("key_revoked",)
    assert check(signed(), keys_table(authority={"revoked_on": "2025-01-13"})).valid


def test_key_not_valid() -> None:
    v = check(signed(), keys_table(end_user={"valid_from": "2025-02-01"}))
    assert v.codes == ("key_not_valid",)
    v = check(signed(), keys_table(end_user={"valid_to": "2025-01-09"}))
    assert v.codes == ("key_not_valid",)


def test_certificate_revoked() -> None:
    rows = [{"certificate_id": "EUC-T-1", "date": "2025-05-31", "reason": "diverted"}]
    v = check(signed(), revocations=rows)
    assert v.codes == ("certificate_revoked",)
    assert "diverted" in v.reasons[0].message
    assert check(signed(), revocations=rows, on_date="2025-05-30").valid  # not yet revoked
    other = [{"certificate_id": "EUC-T-2", "date": "2025-01-01", "reason": ""}]
    assert check(signed(), revocations=other).valid


def _status_list(revoked: set[int], purpose: str = "revocation",
                 size: int = 131_072) -> dict:
    return {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": STATUS_URL,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": "urn:rareflow:party:IN-DGFT", "validFrom": "2025-01-01T00:00:00Z",
            "credentialSubject": {"id": f"{STATUS_URL}#list", "type": "BitstringStatusList",
                                  "statusPurpose": purpose,
                                  "encodedList": encode_status_list(
                                      status_list_bits(revoked, size))}}


def _with_status(index: int) -> dict:
    return signed(unsigned(credentialStatus={
        "id": f"{STATUS_URL}#{index}", "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation", "statusListIndex": str(index),
        "statusListCredential": STATUS_URL}))


def test_status_revoked() -> None:
    doc = _with_status(94567)
    v = check(doc, status_lists={STATUS_URL: _status_list({94567})})
    assert v.codes == ("status_revoked",)
    assert check(doc, status_lists={STATUS_URL: _status_list({94566, 94568})}).valid
    not_given = check(doc)  # the list is not at hand: noted, not failed
    assert not_given.valid and any("not checked" in n for n in not_given.notes)


def test_status_list_invalid() -> None:
    doc = _with_status(7)
    v = check(doc, status_lists={STATUS_URL: _status_list({7}, size=800)})  # < 131,072
    assert v.codes == ("status_list_invalid",)
    bad = _status_list(set())
    bad["credentialSubject"]["encodedList"] = "unot-gzip"
    assert check(doc, status_lists={STATUS_URL: bad}).codes == ("status_list_invalid",)
    wrong = _status_list({7}, purpose="suspension")
    assert check(doc, status_lists={STATUS_URL: wrong}).codes == ("status_list_invalid",)


def test_context_not_allowed() -> None:
    extra = "https://www.w3.org/ns/credentials/examples/v2"
    doc = signed(unsigned(**{"@context": [*DEFAULT_CONTEXTS, extra]}))
    v = check(doc)
    assert v.codes == ("context_not_allowed",) and extra in v.reasons[0].message
    assert check(doc, allowed_contexts=[*DEFAULT_CONTEXTS, extra]).valid
    first = signed(unsigned(**{"@context": [extra, *DEFAULT_CONTEXTS]}))
    assert check(first, allowed_contexts=[*DEFAULT_CONTEXTS, extra]).codes == (
        "context_not_allowed",)  # VC 2.0 must come first


def test_not_yet_valid() -> None:
    v = check(signed(), on_date="2024-12-31")
    assert v.codes == ("not_yet_valid",)
    assert check(signed(), on_date="2025-01-01").valid


def test_expired() -> None:
    v = check(signed(), on_date="2026-01-01")
    assert v.codes == ("expired",)
    assert check(signed(), on_date="2025-12-31").valid


def test_every_reason_code_has_a_test() -> None:
    names = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert all(any(n.startswith(code) for n in names) for code in REASONS)


# --- combinations, inputs, registry-free mode ------------------------------------------------

def test_all_reasons_are_returned() -> None:
    doc = signed(None, END_USER, STRANGER)
    doc["credentialSubject"]["end_use"]["use"] = "missile"
    keys = [*keys_table(end_user={"revoked_on": "2025-01-01"}), key_row(STRANGER, "P-X")]
    rows = [{"certificate_id": "EUC-T-1", "date": "2025-03-01", "reason": "x"}]
    v = check(doc, keys, rows, on_date="2026-02-01")
    assert set(v.codes) == {"expired", "key_revoked", "foreign_key", "bad_proof",
                            "certificate_revoked"}
    assert v.signed_by == ()


def test_indexed_tables_and_dates_as_objects() -> None:
    from datetime import date

    keys = index_keys([{**r, "valid_from": date(2024, 1, 1), "valid_to": None,
                        "revoked_on": float("nan")} for r in keys_table()])
    revs = index_revocations([{"certificate_id": "EUC-T-1", "date": date(2025, 7, 1)}])
    doc = signed()
    assert verify_certificate(doc, keys, revs, on_date=date(2025, 6, 1)).valid
    assert verify_certificate(doc, keys, revs, on_date=date(2025, 7, 1)).codes == (
        "certificate_revoked",)


def test_table_cells_from_a_dataframe() -> None:
    """Rows as pandas gives them from the store: Timestamps, NaT, NA, NaN."""
    import pandas as pd

    frame = pd.DataFrame(keys_table()).assign(
        valid_from=pd.Timestamp("2024-01-01"), valid_to=[pd.NaT, pd.Timestamp("2027-12-31")],
        revoked_on=[pd.NA, float("nan")])
    rows = frame.to_dict("records")
    assert check(signed(), rows).valid
    rows[1]["revoked_on"] = pd.Timestamp("2025-01-01")
    assert check(signed(), rows).codes == ("key_revoked",)


def test_on_date_as_datetime_compares_instants() -> None:
    doc = signed()
    assert check(doc, on_date="2025-12-31T23:59:58Z").valid
    assert check(doc, on_date="2026-01-01T00:00:00Z").codes == ("expired",)


def test_without_a_keys_table_signatures_still_count() -> None:
    doc = signed(None, END_USER, STRANGER)
    v = verify_certificate(doc, None, None, on_date=ON)
    assert v.valid and not v.keys_checked and v.notes
    assert [p.controller for p in v.proofs] == [None, None]
    doc["credentialSubject"]["country"] = "PK"
    assert verify_certificate(doc, None, None, on_date=ON).codes == ("bad_proof",)


def test_input_is_not_modified() -> None:
    doc = signed()
    before = copy.deepcopy(doc)
    check(doc, status_lists={STATUS_URL: _status_list(set())})
    assert doc == before


def test_contract_example_is_valid() -> None:
    doc = json.loads((EXAMPLE / "certificates" / "EX-EUC-01.json").read_text())
    with (EXAMPLE / "keys.csv").open() as f:
        keys = list(csv.DictReader(f))
    with (EXAMPLE / "revocations.csv").open() as f:
        revs = list(csv.DictReader(f))
    v = verify_certificate(doc, keys, revs, on_date="2025-06-01")
    assert v.valid, v.reasons
    assert [(p.controller, p.role) for p in v.proofs] == [("EX-IN-01", "end_user"),
                                                          ("EX-IN-GOV", "authority")]


# --- Bitstring Status List codec -------------------------------------------------------------

def test_status_list_spec_example_decodes() -> None:
    """The empty 16 KB list of the W3C Bitstring Status List examples."""
    example = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
    bits = decode_status_list(example)
    assert len(bits) * 8 == 131_072 and not any(bits)


def test_status_list_bit_order_is_msb_first() -> None:
    bits = status_list_bits({0, 9}, 16)
    assert bits == bytes([0b1000_0000, 0b0100_0000])
    assert [status_value(bits, i) for i in range(16)] == [1] + [0] * 8 + [1] + [0] * 6
    assert status_value(bytes([0b0110_0000]), 0, 2) == 1 and status_value(
        bytes([0b0110_0000]), 1, 2) == 2
    assert decode_status_list(encode_status_list(bits)) == bits
    with pytest.raises(IndexError):
        status_value(bits, 16)
