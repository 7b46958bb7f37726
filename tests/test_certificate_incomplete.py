"""`certificate_incomplete` on hand-made certificates."""

from __future__ import annotations

import json
from pathlib import Path

from rareflow.workspace import Workspace


def _write_variant(example_dir: Path, name: str, edit) -> None:
    doc = json.loads((example_dir / "certificates" / "EX-EUC-01.json").read_text())
    doc.pop("proof")
    subject = doc["credentialSubject"]
    subject["certificate_id"] = name
    edit(subject)
    (example_dir / "certificates" / f"{name}.json").write_text(json.dumps(doc))


def _incomplete(ws: Workspace) -> dict[str, tuple[str, str]]:
    return {f.subject_id: (f.severity, f.message) for f in ws.findings()
            if f.rule == "certificate_incomplete"}


def test_complete_example_is_not_flagged(ws: Workspace, example_dir: Path) -> None:
    ws.ingest(example_dir)
    assert _incomplete(ws) == {}


def test_missing_elements_are_named(ws: Workspace, example_dir: Path) -> None:
    _write_variant(example_dir, "C-NO-SIGN", lambda s: s.pop("signatory"))
    _write_variant(example_dir, "C-NO-CONTRACT", lambda s: s.pop("contract_ref"))
    _write_variant(example_dir, "C-NO-REEXPORT",
                   lambda s: s.update(commitments=["civil_use_only", "no_transfer:US"]))
    _write_variant(example_dir, "C-NO-USE", lambda s: s.pop("end_use"))
    _write_variant(example_dir, "C-NO-ITEMS", lambda s: s.update(items=[]))
    _write_variant(example_dir, "C-NO-ENDORSE", lambda s: s.pop("endorsement"))
    _write_variant(example_dir, "C-NO-TRANSFER",
                   lambda s: s.update(commitments=["civil_use_only", "no_reexport"]))
    ws.ingest(example_dir)
    found = _incomplete(ws)
    assert "EX-EUC-01" not in found
    assert found["C-NO-SIGN"] == (
        "medium", "Certificate C-NO-SIGN lacks: signatory's name, signatory's position.")
    assert "contract reference" in found["C-NO-CONTRACT"][1]
    assert found["C-NO-REEXPORT"][0] == "high"
    assert "no-re-export commitment" in found["C-NO-REEXPORT"][1]
    assert "end-use code, end-use statement" in found["C-NO-USE"][1]
    assert "description of the goods, quantity or value" in found["C-NO-ITEMS"][1]
    # NdFeB with Dy/Tb: a heavy rare-earth item needs the authority's endorsement
    assert "authority endorsement" in found["C-NO-ENDORSE"][1]
    assert found["C-NO-ENDORSE"][0] == "high"
    assert "named no-transfer countries" in found["C-NO-TRANSFER"][1]


def test_end_user_without_address_is_incomplete(ws: Workspace, example_dir: Path) -> None:
    path = example_dir / "parties.csv"
    path.write_text(path.read_text().replace('"Plot 4, Chakan, Pune"', ""))
    ws.ingest(example_dir)
    assert "end user's address" in _incomplete(ws)["EX-EUC-01"][1]
