"""`certificate_incomplete` on hand-made certificates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Built, example_subset
from rareflow.findings import Finding
from rareflow.workspace import Workspace

TABLES = ("certificates", "products")  # what the rules read (and parties, shipments)
pytestmark = pytest.mark.example_tables(*TABLES)


def _write_variant(example_dir: Path, name: str, edit) -> None:
    doc = json.loads((example_dir / "certificates" / "EX-EUC-01.json").read_text())
    doc.pop("proof")
    subject = doc["credentialSubject"]
    subject["certificate_id"] = name
    edit(subject)
    (example_dir / "certificates" / f"{name}.json").write_text(json.dumps(doc))


def _incomplete(findings: list[Finding]) -> dict[str, tuple[str, str]]:
    return {f.subject_id: (f.severity, f.message) for f in findings
            if f.rule == "certificate_incomplete"}


def _optional(findings: list[Finding]) -> dict[str, tuple[str, str]]:
    return {f.subject_id: (f.severity, f.message) for f in findings
            if f.rule == "red_flag" and f.message.startswith("optional_elements_missing:")}


def test_complete_example_is_not_flagged(analysed_example: Built) -> None:
    findings = analysed_example.result.findings  # the example's, found once (conftest)
    assert _incomplete(findings) == {}
    assert _optional(findings) == {}


def _early(example_dir: Path) -> None:
    """C-EARLY: valid 2025-01-01..2025-03-31, before No. 18 (2025-04-04), no endorsement."""
    def early(s: dict) -> None:
        s.pop("endorsement")
        s["issued"] = "2025-01-01"

    doc = json.loads((example_dir / "certificates" / "EX-EUC-01.json").read_text())
    doc.pop("proof")
    doc.update(validFrom="2025-01-01T00:00:00Z", validUntil="2025-03-31T23:59:59Z")
    early(doc["credentialSubject"])
    doc["credentialSubject"]["certificate_id"] = "C-EARLY"
    (example_dir / "certificates" / "C-EARLY.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    """The findings on the example (its certificates, products and the required tables) with
    every hand-made certificate of the two tests below added: ingested and judged once. Each
    certificate is judged on its own; each test asserts on its own certificates."""
    example_dir = example_subset(tmp_path_factory.mktemp("variants") / "example", *TABLES)
    _write_variant(example_dir, "C-NO-SIGN", lambda s: s.pop("signatory"))
    _write_variant(example_dir, "C-NO-CONTRACT", lambda s: s.pop("contract_ref"))
    _write_variant(example_dir, "C-NO-REEXPORT",
                   lambda s: s.update(commitments=["civil_use_only", "consent_to_verification"]))
    _write_variant(example_dir, "C-NAMED-TRANSFER",
                   lambda s: s.update(commitments=["civil_use_only", "no_transfer:US"]))
    _write_variant(example_dir, "C-NO-USE", lambda s: s.pop("end_use"))
    _write_variant(example_dir, "C-NO-ITEMS", lambda s: s.update(items=[]))
    _write_variant(example_dir, "C-NO-IMPORTER", lambda s: s.pop("importer_id"))
    _write_variant(example_dir, "C-NO-ENDORSE", lambda s: s.pop("endorsement"))
    _write_variant(example_dir, "C-NO-TRANSFER",
                   lambda s: s.update(commitments=["civil_use_only", "no_reexport"]))
    _early(example_dir)
    ws = Workspace.open(None)
    try:
        ws.ingest(example_dir)
        return ws.findings()
    finally:
        ws.close()


@pytest.mark.xdist_group("certificate_variants")  # one worker: `variants` built once
def test_missing_elements_are_named(variants: list[Finding]) -> None:
    found = _incomplete(variants)
    optional = _optional(variants)
    assert "EX-EUC-01" not in found and "EX-EUC-01" not in optional
    # contract §7: every missing mandatory element is a medium certificate_incomplete
    assert {sev for sev, _ in found.values()} == {"medium"}
    assert found["C-NO-SIGN"] == (
        "medium", "Certificate C-NO-SIGN lacks: signatory's name, signatory's position.")
    assert found["C-NO-REEXPORT"][1] == (
        "Certificate C-NO-REEXPORT lacks: no-re-export commitment (or named no-transfer "
        "countries).")
    assert found["C-NO-USE"][1] == "Certificate C-NO-USE lacks: end-use code."
    assert found["C-NO-ITEMS"][1] == (
        "Certificate C-NO-ITEMS lacks: product of every item, max_kg of every item.")
    assert found["C-NO-IMPORTER"][1] == "Certificate C-NO-IMPORTER lacks: importer."
    # NdFeB with Dy/Tb, valid 2025-03-01..2025-12-31 while No. 18 (from 2025-04-04) covers
    # it: the policy's heavy rare-earth items make the endorsement mandatory
    assert found["C-NO-ENDORSE"][1] == (
        "Certificate C-NO-ENDORSE lacks: authority endorsement (heavy rare earths).")
    # a named no_transfer:XX, or no_reexport alone, is the no-transfer commitment (case 13)
    assert "C-NAMED-TRANSFER" not in found and "C-NO-TRANSFER" not in found
    # optional elements (contract reference, end-use statement): a red flag at most
    assert "C-NO-CONTRACT" not in found
    assert optional["C-NO-CONTRACT"] == (
        "low", "optional_elements_missing: Certificate C-NO-CONTRACT lacks elements the "
        "policy recommends (optional under the contract): contract reference.")
    assert optional["C-NO-USE"][1].endswith(": end-use statement.")
    assert set(optional) == {"C-NO-CONTRACT", "C-NO-USE"}


@pytest.mark.xdist_group("certificate_variants")
def test_endorsement_not_required_before_the_control(variants: list[Finding]) -> None:
    """Valid 2025-01-01..2025-03-31, before No. 18 (2025-04-04): the endorsement is optional,
    and the policy does not list it as recommended either (C-EARLY, `_early`)."""
    assert "C-EARLY" not in _incomplete(variants)
    assert "C-EARLY" not in _optional(variants)


def test_end_user_without_address_is_a_red_flag(ws: Workspace, example_dir: Path) -> None:
    path = example_dir / "parties.csv"
    path.write_text(path.read_text().replace('"Plot 4, Chakan, Pune"', ""))
    ws.ingest(example_dir)
    findings = ws.findings()
    assert _incomplete(findings) == {}
    severity, message = _optional(findings)["EX-EUC-01"]
    assert severity == "low" and "end user's address" in message
