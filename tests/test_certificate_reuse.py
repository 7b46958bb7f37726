"""Certificate number reuse (contract 1.1 §9): one `certificate_id` presented on shipments to
importers it was not issued to (nor affiliated with them, 25% or more either way), or carried
by documents of different end users, is `certificate_forged` (high), on the certificate, with
the shipments as evidence. Conformance case 21's data, extended, in one DuckDB workspace."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from conftest import TESTDATA, append_rows
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.analyses.rules.certificate_forged import reused_presented
from rareflow.findings import Finding
from rareflow.workspace import Workspace

CASE = TESTDATA / "conformance" / "21-certificate-number-reused" / "data"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    d = tmp_path_factory.mktemp("reuse") / "data"
    shutil.copytree(CASE, d)
    append_rows(
        d / "parties.csv",
        "IN-SUB-01,Pune Sub Assemblies,IN,importer;manufacturer,industrial_motor,,Pune,,,,",
        "IN-MIN-01,Pune Minority Holding,IN,importer;manufacturer,industrial_motor,,Pune,,,,",
        "IN-PAR-01,Pune Parent Holding,IN,importer;manufacturer,industrial_motor,,Mumbai,,,,")
    # IN-MFG-01 (the holder of EUC-21-001) owns 30% of IN-SUB-01 and 20% of IN-MIN-01;
    # IN-PAR-01 owns exactly 25% of IN-MFG-01
    (d / "ownership.csv").write_text("owner_id,owned_id,share\n"
                                     "IN-MFG-01,IN-SUB-01,0.30\n"
                                     "IN-MFG-01,IN-MIN-01,0.20\n"
                                     "IN-PAR-01,IN-MFG-01,0.25\n")
    # 1,000 + 500 + 3 x 100 = 1,800 kg against the certificate's 2,000 kg: never overdrawn
    append_rows(
        d / "shipments.csv",
        *(f"{did},2025-07-0{day},CN-MAG-01,{to},{to},IN,ndfeb_magnet,8505111000,100,,30,2,"
          f"6000,,EUC-21-001"
          for did, day, to in (("D-003", 1, "IN-SUB-01"), ("D-004", 2, "IN-MIN-01"),
                               ("D-005", 3, "IN-PAR-01"))))
    # EUC-21-002: one number, two documents of different end users
    base = json.loads((d / "certificates.jsonl").read_text().splitlines()[0])
    twins = []
    for n, user in enumerate(("IN-MFG-01", "IN-MFG-02"), start=1):
        doc = json.loads(json.dumps(base))
        doc["id"] = f"urn:uuid:twin-{n}"
        doc["credentialSubject"].update(certificate_id="EUC-21-002", importer_id=user,
                                        end_user_id=user)
        twins.append(json.dumps(doc))
    append_rows(d / "certificates.jsonl", *twins)
    w = Workspace.open(None)
    w.ingest(d)
    yield w
    w.close()


@pytest.fixture(scope="module")
def forged(ws: Workspace) -> list[Finding]:
    return [f for f in ws.findings() if f.rule == "certificate_forged"]


def test_shipments_to_unrelated_importers(forged: list[Finding]) -> None:
    on_shipments = sorted((f for f in forged if f.subject_id == "EUC-21-001"),
                          key=lambda f: f.evidence[1])
    # D-001 (the holder), D-003 (owned 30%), D-005 (owns 25%) are related: not flagged
    assert [f.evidence for f in on_shipments] == [["EUC-21-001", "D-002", "IN-MFG-02"],
                                                 ["EUC-21-001", "D-004", "IN-MIN-01"]]
    d2, d4 = on_shipments
    assert (d2.severity, d2.subject_type, d2.kg, d2.period) == ("high", "certificate", 500.0,
                                                                "2025-05")
    assert (d4.severity, d4.kg, d4.period) == ("high", 100.0, "2025-07")
    assert d2.message == (
        "Certificate EUC-21-001 (issued to importer IN-MFG-01, end user IN-MFG-01) presented "
        "for shipment D-002 on 2025-05-20 to IN-MFG-02, an importer it was not issued to and "
        "not affiliated with them: one certificate number used by different parties.")


def test_documents_of_different_end_users(forged: list[Finding]) -> None:
    twin = [f for f in forged if f.subject_id == "EUC-21-002"]
    assert [(f.severity, f.evidence) for f in twin] == [
        ("high", ["EUC-21-002", "IN-MFG-01", "IN-MFG-02"])]
    assert "2 documents of 2 different end users" in twin[0].message


def test_nothing_else_is_forged(forged: list[Finding]) -> None:
    assert len(forged) == 3


def test_threshold_is_the_policy_setting(ws: Workspace) -> None:
    if not hasattr(ws.policy, "analysis"):
        pytest.skip("this policy has no analysis settings")
    policy = dataclasses.replace(ws.policy, analysis={
        **ws.policy.analysis, "responsibility": {"ownership_threshold": 0.2}})
    found = [f for f in Workspace(ws.store, policy).findings()
             if f.rule == "certificate_forged" and "presented for shipment" in f.message]
    # at 20%, IN-MIN-01 is an affiliate too: only D-002 is left
    assert sorted(f.evidence[1] for f in found) == ["D-002"]


def test_conformance_case_21_as_shipped(tmp_path: Path) -> None:
    shutil.copytree(CASE, tmp_path / "data")  # never write into the conformance suite
    w = Workspace.open(None)
    try:
        w.ingest(tmp_path / "data")
        threshold = w.policy.settings(ResponsibilitySettings).ownership_threshold
        rows = w.store.to_pandas(reused_presented(w.tables(), threshold))
    finally:
        w.close()
    assert list(rows.subject_id) == ["EUC-21-001"]
    assert [list(e) for e in rows.evidence] == [["EUC-21-001", "D-002", "IN-MFG-02"]]
    assert list(rows.severity) == ["high"]
