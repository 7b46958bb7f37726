"""A certificate whose members have a shape the reader cannot read (a `credentialSubject`
that is text, `commitments` an object, ...) is set aside with its file, line and member, and
the rest of the dataset is ingested: never a traceback, never a certificate read wrongly
(`commitments: "civil_use"` must not become the commitments c, i, v, ...)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rareflow.readers.certificates import read_certificates, shape_problem
from rareflow.workspace import Workspace

EXAMPLE_CERT = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example" / \
    "certificates" / "EX-EUC-01.json"


def _doc() -> dict:
    return json.loads(EXAMPLE_CERT.read_text())


def _bent(where: str, name: str, value: object) -> dict:
    doc = _doc()
    (doc if where == "document" else doc["credentialSubject"])[name] = value
    return doc


@pytest.mark.parametrize(("where", "name", "value"), [
    ("document", "credentialSubject", "EX-IN-01"),
    ("document", "credentialSubject", ["EX-IN-01"]),
    ("subject", "end_use", ["civil"]),
    ("subject", "signatory", "A. Person"),
    ("subject", "endorsement", 7),
    ("subject", "commitments", "civil_use"),
    ("subject", "commitments", {"civil_use": True}),
    ("subject", "items", {"product": "ndfeb_magnet"}),
])
def test_a_member_of_the_wrong_shape_is_named(where: str, name: str, value: object,
                                              tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_bent(where, name, value)))
    certs, items, rejects = read_certificates([path])
    assert certs.num_rows == 0 and items.num_rows == 0
    assert len(rejects) == 1
    r = rejects[0]
    assert (r["file"], r["line"], r["column"], r["level"]) == (str(path), 1, name, "reject")
    assert r["reason"].startswith("not read: ") and name in r["reason"]


def test_the_shapes_the_contract_allows_read() -> None:
    assert shape_problem(_doc()) is None
    assert shape_problem(_bent("subject", "end_use", "motors for fans")) is None  # text
    assert shape_problem(_bent("document", "credentialSubject",
                               [_doc()["credentialSubject"]])) is None
    assert shape_problem(_bent("subject", "signatory", None)) is None  # absent


@pytest.mark.example_tables("certificates")
def test_ingest_sets_the_document_aside_and_keeps_the_rest(example_dir: Path) -> None:
    bad = example_dir / "certificates" / "EX-EUC-BAD.json"
    doc = _bent("subject", "commitments", "civil_use")
    doc["credentialSubject"]["certificate_id"] = "EX-EUC-BAD"
    bad.write_text(json.dumps(doc))
    ws = Workspace.open(None)
    try:
        report = ws.ingest(example_dir)
        assert report.tables["certificates"].loaded == 1  # EX-EUC-01, read as before
        assert report.tables["certificates"].rejected == 1
        rej = ws.rejects()
        row = rej[rej.table == "certificates"].iloc[0]
        assert row["file"].endswith("EX-EUC-BAD.json") and row["column"] == "commitments"
        ids = ws.store.to_pandas(ws.store.table("certificates").certificate_id.name("c")
                                 .as_table())["c"].tolist()
        assert ids == ["EX-EUC-01"]
    finally:
        ws.close()
