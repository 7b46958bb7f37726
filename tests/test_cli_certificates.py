"""`rareflow keys new` and `rareflow certificate sign|verify`, through the real CLI."""

from __future__ import annotations

import copy
import csv
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import EXAMPLE
from rareflow.cli.main import app
from rareflow.world.certs import certificate

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def new_key(tmp_path: Path, name: str, controller: str) -> dict:
    path = tmp_path / f"{name}.key.json"
    res = run("keys", "new", "--out", path, "--controller", controller)
    assert res.exit_code == 0, res.output
    data = json.loads(path.read_text())
    assert data["secretKeyMultibase"] not in res.output  # never printed
    assert data["publicKeyMultibase"] in res.stdout
    assert data["verificationMethod"] in res.stdout
    return {**data, "path": path}


def write_keys_csv(path: Path, *keys: dict, revoked_on: str = "") -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key_id", "controller", "public_key_multibase", "valid_from", "valid_to",
                    "revoked_on"])
        for k in keys:
            w.writerow([k["verificationMethod"], k["controller"], k["publicKeyMultibase"],
                        "2024-01-01", "2027-12-31", revoked_on])
    return path


@pytest.fixture
def signed_setup(tmp_path: Path) -> dict:
    eu = new_key(tmp_path, "end-user", "P-IN-5")
    gov = new_key(tmp_path, "authority", "IN-GOV")
    doc = certificate("EUC-CLI-1", exporter="P-CN-2", importer="P-IN-5", end_user="P-IN-5",
                      country="IN", year=2025, max_kg=800, use="ev_motor",
                      description="motors", site="Pune", authority="IN-GOV")
    unsigned = tmp_path / "cert.json"
    unsigned.write_text(json.dumps(doc, indent=2))
    one, two = tmp_path / "signed1.json", tmp_path / "signed2.json"
    res = run("certificate", "sign", unsigned, "--key", eu["path"], "--out", one,
              "--created", "2025-01-05T08:00:00Z")
    assert res.exit_code == 0, res.output
    res = run("certificate", "sign", one, "--key", gov["path"], "--out", two,
              "--created", "2025-01-06T08:00:00+05:30")
    assert res.exit_code == 0, res.output
    keys = write_keys_csv(tmp_path / "keys.csv", eu, gov)
    return {"eu": eu, "gov": gov, "unsigned": unsigned, "one": one, "two": two, "keys": keys,
            "tmp": tmp_path}


def test_keys_new_writes_a_private_file(tmp_path: Path) -> None:
    key = new_key(tmp_path, "k", "P-IN-1")
    assert stat.S_IMODE(os.stat(key["path"]).st_mode) == 0o600
    assert key["controller"] == "P-IN-1"
    assert key["verificationMethod"] == (f"did:key:{key['publicKeyMultibase']}"
                                         f"#{key['publicKeyMultibase']}")
    assert [p.name for p in tmp_path.iterdir()] == ["k.key.json"]  # no temporary left


def test_keys_new_refuses_to_overwrite(tmp_path: Path) -> None:
    key = new_key(tmp_path, "k", "P-IN-1")
    before = key["path"].read_text()
    res = run("keys", "new", "--out", key["path"])
    assert res.exit_code == 2 and "--force" in res.output
    assert key["path"].read_text() == before
    res = run("keys", "new", "--out", key["path"], "--force")
    assert res.exit_code == 0
    assert key["path"].read_text() != before
    assert stat.S_IMODE(os.stat(key["path"]).st_mode) == 0o600
    assert json.loads(key["path"].read_text())["secretKeyMultibase"] not in res.output


def test_sign_twice_makes_a_proof_set(signed_setup: dict) -> None:
    doc = json.loads(signed_setup["two"].read_text())
    assert [p["verificationMethod"] for p in doc["proof"]] == [
        signed_setup["eu"]["verificationMethod"], signed_setup["gov"]["verificationMethod"]]
    assert doc["proof"][1]["created"] == "2025-01-06T08:00:00+05:30"
    one = json.loads(signed_setup["one"].read_text())
    assert one["proof"] == doc["proof"][0]  # the first proof is untouched


def test_sign_to_stdout_and_refuse_a_second_proof_by_the_same_key(signed_setup: dict) -> None:
    res = run("certificate", "sign", signed_setup["unsigned"], "--key",
              signed_setup["eu"]["path"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["proof"]["type"] == "DataIntegrityProof"
    res = run("certificate", "sign", signed_setup["two"], "--key", signed_setup["gov"]["path"])
    assert res.exit_code == 1 and "already" in res.output
    res = run("certificate", "sign", signed_setup["unsigned"], "--key",
              signed_setup["eu"]["path"], "--created", "yesterday")
    assert res.exit_code == 2


def test_verify_ok(signed_setup: dict) -> None:
    res = run("certificate", "verify", signed_setup["two"], "--keys", signed_setup["keys"],
              "--date", "2025-06-01")
    assert res.exit_code == 0, res.output
    assert "VALID" in res.stdout and "P-IN-5" in res.stdout and "IN-GOV" in res.stdout
    res = run("certificate", "verify", signed_setup["two"], "--keys", signed_setup["keys"],
              "--date", "2025-06-01", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["valid"] and [p["role"] for p in data["proofs"]] == ["end_user", "authority"]


def test_verify_without_keys_says_controllers_are_unchecked(signed_setup: dict) -> None:
    res = run("certificate", "verify", signed_setup["two"], "--date", "2025-06-01")
    # issue 9 point 8: without a keys table no signer is trusted (was: exit 0)
    assert res.exit_code == 3, res.output
    assert "unchecked" in res.stdout
    assert "signature valid, signer not trusted" in res.stdout


def _resign_with_a_fresh_key(signed_setup: dict) -> Path:
    """The signed certificate, its max_kg raised, its proofs dropped and re-signed with a
    key nobody registered: a forgery whose signature holds against its own did:key."""
    tmp = signed_setup["tmp"]
    doc = json.loads(signed_setup["two"].read_text())
    doc.pop("proof")
    doc["credentialSubject"]["items"][0]["max_kg"] = "80000"
    unsigned = tmp / "forged-unsigned.json"
    unsigned.write_text(json.dumps(doc))
    mallory = new_key(tmp, "mallory", "P-IN-5")  # claims to be the end user
    forged = tmp / "forged.json"
    res = run("certificate", "sign", unsigned, "--key", mallory["path"], "--out", forged,
              "--created", "2025-01-05T08:00:00Z")
    assert res.exit_code == 0, res.output
    return forged


def test_verify_without_keys_does_not_accept_a_forgery(signed_setup: dict) -> None:
    forged = _resign_with_a_fresh_key(signed_setup)
    res = run("certificate", "verify", forged, "--date", "2025-06-01")
    assert res.exit_code == 3, res.output
    assert "VALID" not in res.stdout.replace("UNTRUSTED", "").replace("INVALID", "")
    assert "signature valid, signer not trusted" in res.stdout
    data = json.loads(run("certificate", "verify", forged, "--date", "2025-06-01",
                          "--json").stdout)
    assert data["status"] == "untrusted" and data["valid"] is False
    assert data["message"] == "signature valid, signer not trusted"
    assert data["trust"] == "none" and [p["trusted"] for p in data["proofs"]] == [False]
    # the keys table knows the end user's real key only: the forgery is invalid
    res = run("certificate", "verify", forged, "--keys", signed_setup["keys"], "--date",
              "2025-06-01", "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["codes"] == ["unknown_key"]


def test_verify_trust_did_key_is_explicit(signed_setup: dict) -> None:
    res = run("certificate", "verify", signed_setup["two"], "--trust-did-key", "--date",
              "2025-06-01")
    assert res.exit_code == 0, res.output
    assert "VALID" in res.stdout and "--trust-did-key" in res.stdout
    res = run("certificate", "verify", signed_setup["two"], "--trust-did-key", "--date",
              "2025-06-01", "--json")
    data = json.loads(res.stdout)
    assert data["status"] == "valid" and data["trust"] == "did:key (self-described)"
    # a tampered certificate stays invalid with --trust-did-key
    doc = json.loads(signed_setup["two"].read_text())
    doc["credentialSubject"]["country"] = "PK"
    bad = signed_setup["tmp"] / "bad.json"
    bad.write_text(json.dumps(doc))
    res = run("certificate", "verify", bad, "--trust-did-key", "--date", "2025-06-01")
    assert res.exit_code == 1 and "bad_proof" in res.stdout
    res = run("certificate", "verify", signed_setup["two"], "--trust-did-key", "--keys",
              signed_setup["keys"])
    assert res.exit_code == 2 and "not both" in res.output


def test_verify_tampered_exits_1(signed_setup: dict) -> None:
    doc = json.loads(signed_setup["two"].read_text())
    doc["credentialSubject"]["items"][0]["max_kg"] = "8000"
    bad = signed_setup["tmp"] / "tampered.json"
    bad.write_text(json.dumps(doc))
    res = run("certificate", "verify", bad, "--keys", signed_setup["keys"], "--date",
              "2025-06-01")
    assert res.exit_code == 1
    assert "INVALID" in res.stdout and "bad_proof" in res.stdout
    data = json.loads(run("certificate", "verify", bad, "--keys", signed_setup["keys"],
                          "--date", "2025-06-01", "--json").stdout)
    assert data["codes"] == ["bad_proof"]


def test_verify_revocations_and_dates(signed_setup: dict) -> None:
    revs = signed_setup["tmp"] / "revocations.csv"
    revs.write_text("certificate_id,date,reason\nEUC-CLI-1,2025-04-01,diverted\n")
    res = run("certificate", "verify", signed_setup["two"], "--keys", signed_setup["keys"],
              "--revocations", revs, "--date", "2025-06-01", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["codes"] == ["certificate_revoked"]
    res = run("certificate", "verify", signed_setup["two"], "--keys", signed_setup["keys"],
              "--date", "2026-02-01", "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["codes"] == ["expired"]


def test_verify_unreadable_inputs_exit_2(signed_setup: dict, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xffnot json at all")
    res = run("certificate", "verify", garbage)
    assert res.exit_code == 2 and "garbage.json" in res.output
    res = run("certificate", "verify", tmp_path / "missing.json")
    assert res.exit_code == 2 and "missing.json" in res.output
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    res = run("certificate", "verify", array)
    assert res.exit_code == 2 and "array.json" in res.output
    bad_keys = tmp_path / "bad-keys.csv"
    bad_keys.write_text("id,who\nx,y\n")
    res = run("certificate", "verify", signed_setup["two"], "--keys", bad_keys)
    assert res.exit_code == 2 and "bad-keys.csv" in res.output and "key_id" in res.output
    res = run("certificate", "sign", garbage, "--key", signed_setup["eu"]["path"])
    assert res.exit_code == 2 and "garbage.json" in res.output


def test_verify_the_contract_example() -> None:
    res = run("certificate", "verify", EXAMPLE / "certificates" / "EX-EUC-01.json", "--keys",
              EXAMPLE / "keys.csv", "--revocations", EXAMPLE / "revocations.csv", "--date",
              "2025-06-01")
    assert res.exit_code == 0, res.output


def test_verify_a_folder_one_line_per_certificate(signed_setup: dict) -> None:
    folder = signed_setup["tmp"] / "batch"
    folder.mkdir()
    good = json.loads(signed_setup["two"].read_text())
    (folder / "a.json").write_text(json.dumps(good))
    bad = copy.deepcopy(good)
    bad["credentialSubject"]["items"][0]["max_kg"] = "1"
    (folder / "b.json").write_text(json.dumps(bad))
    (folder / "notes.txt").write_text("not a certificate")  # not *.json: left alone
    res = run("certificate", "verify", folder, "--keys", signed_setup["keys"], "--date",
              "2025-06-01")
    assert res.exit_code == 1, res.output
    assert res.stdout.splitlines() == [f"VALID {folder / 'a.json'}: EUC-CLI-1",
                                       f"INVALID {folder / 'b.json'}: EUC-CLI-1: bad_proof"]
    assert "2 certificates as of 2025-06-01: 1 valid, 1 invalid, 0 untrusted, 0 unreadable" \
        in res.stderr
    (folder / "b.json").unlink()
    res = run("certificate", "verify", folder, "--keys", signed_setup["keys"], "--date",
              "2025-06-01", "--json")
    assert res.exit_code == 0
    (line,) = res.stdout.splitlines()
    assert json.loads(line)["status"] == "valid" and json.loads(line)["file"].endswith("a.json")
    # an unreadable file among them: listed, and exit 2 (before 1 and 3)
    (folder / "c.json").write_text("[]")
    res = run("certificate", "verify", folder, signed_setup["two"], "--date", "2025-06-01")
    assert res.exit_code == 2
    assert res.stdout.splitlines()[1] == (f"UNREADABLE {folder / 'c.json'}: cannot read "
                                          f"{folder / 'c.json'}: certificate is not a JSON "
                                          "object")
    assert res.stdout.splitlines()[2].startswith(f"UNTRUSTED {signed_setup['two']}")
    empty = signed_setup["tmp"] / "empty"
    empty.mkdir()
    res = run("certificate", "verify", empty)
    assert res.exit_code == 2 and "no certificate (*.json file) in the folder" in res.stderr
