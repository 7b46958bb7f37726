"""`rareflow.vc.batch.verify_many`: the same results, in the same order, whether verified in
this process or over a pool of worker processes; unreadable items become `Unreadable`."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from rareflow.vc import KeyPair, sign_credential
from rareflow.vc.batch import PARALLEL_MIN, Unreadable, verify_many
from rareflow.vc.trust import Verification, verify_certificate
from rareflow.world.certs import certificate


def _key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"test-vc-batch:{name}".encode()).digest())


EU, GOV = _key("end-user"), _key("authority")
KEYS = [{"key_id": EU.verification_method, "controller": "P-IN-9",
         "public_key_multibase": EU.public_multibase, "valid_from": "2024-01-01",
         "valid_to": "2027-12-31", "revoked_on": None},
        {"key_id": GOV.verification_method, "controller": "IN-DGFT",
         "public_key_multibase": GOV.public_multibase, "valid_from": "2024-01-01",
         "valid_to": "2027-12-31", "revoked_on": None}]
REVOKED = "EUC-V-0003"


def _signed(i: int) -> dict:
    doc = certificate(f"EUC-V-{i:04d}", exporter="P-CN-1", importer="P-IN-9", end_user="P-IN-9",
                      country="IN", year=2025, max_kg=100 + i, use="ev_motor",
                      description=f"motors {i}", site="Pune", authority="IN-DGFT")
    doc = sign_credential(doc, EU, "2025-01-10T09:00:00Z")
    return sign_credential(doc, GOV, "2025-01-11T10:00:00Z")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twelve files: valid certificates, one altered, one revoked, one with a stranger's
    proof, one not JSON, one a JSON array."""
    root = tmp_path_factory.mktemp("certs")
    paths = []
    for i in range(9):
        doc = _signed(i)
        if i == 1:  # altered after signing
            doc["credentialSubject"]["items"][0]["max_kg"] = "99999"
        if i == 5:  # a third proof by a key the table does not know
            doc = sign_credential(doc, _key("stranger"), "2025-01-12T10:00:00Z")
        path = root / f"c{i:02d}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    (root / "c09.json").write_text("{not json")
    (root / "c10.json").write_text("[1, 2]")
    (root / "c11.json").write_text(json.dumps(_signed(11)))
    return [*paths, root / "c09.json", root / "c10.json", root / "c11.json"]


def _plain(results: list) -> list:
    return [r.to_dict() if isinstance(r, Verification) else r for r in results]


def test_one_process_and_two_give_the_same_results(folder: list[Path]) -> None:
    revocations = [{"certificate_id": REVOKED, "date": "2025-02-01", "reason": "test"}]
    one = verify_many(folder, KEYS, revocations, on_date="2025-06-01", workers=1)
    for start in ("fork", "forkserver"):  # as `certificate verify` does, as `analyze` does
        seen: list[int] = []
        two = verify_many(folder, KEYS, revocations, on_date="2025-06-01", workers=2,
                          min_batch=0, progress=seen.append, start_method=start)
        assert _plain(one) == _plain(two), start  # a pool even for twelve: the same
        assert sum(seen) == len(folder)
    # and each is what verify_certificate says of the file alone
    for path, result in zip(folder[:9], one[:9], strict=True):
        alone = verify_certificate(json.loads(path.read_text()), KEYS, revocations,
                                   on_date="2025-06-01")
        assert result.to_dict() == alone.to_dict()
    codes = [r.codes if isinstance(r, Verification) else "unreadable" for r in one]
    assert codes == [(), ("bad_proof",), (), ("certificate_revoked",), (), ("unknown_key",),
                     (), (), (), "unreadable", "unreadable", ()]
    assert "not JSON" in one[9].message and str(folder[9]) in one[9].message
    assert "not a JSON object" in one[10].message


def test_items_may_be_texts_parsed_documents_and_dates_per_item() -> None:
    doc = _signed(20)
    items = [json.dumps(doc), doc, json.dumps(doc).encode(), "[]", "{"]
    dates = ["2025-06-01", "2026-06-01", "2025-06-01", "2025-06-01", "2025-06-01"]
    out = verify_many(items, KEYS, None, on_date=dates, workers=2, min_batch=0)
    assert out[0].valid and out[2].valid
    assert out[1].codes == ("expired",)  # its own date: after validUntil 2025-12-31
    assert isinstance(out[3], Unreadable) and isinstance(out[4], Unreadable)
    assert _plain(out) == _plain(verify_many(items, KEYS, None, on_date=dates, workers=1))
    with pytest.raises(ValueError, match="2 dates for 5"):
        verify_many(items, KEYS, None, on_date=dates[:2])


def test_a_small_batch_stays_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import rareflow.vc.batch as batch

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pool was started for a small batch")

    monkeypatch.setattr(batch, "ProcessPoolExecutor", no_pool)
    doc = _signed(30)
    out = verify_many([copy.deepcopy(doc) for _ in range(3)], KEYS, None,
                      on_date="2025-06-01", workers=2)
    assert [r.valid for r in out] == [True, True, True]
    assert PARALLEL_MIN > 3
