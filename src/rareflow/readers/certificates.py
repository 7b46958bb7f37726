"""End-user certificates (W3C VC 2.0 documents) -> rows of `certificates` and
`certificate_items`. The document itself is kept verbatim in the `document` column."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import rfc8785

from rareflow import safejson
from rareflow.contract import table_spec
from rareflow.errors import InputLimitError, UnreadableFileError


def _documents(paths: list[Path]) -> Iterator[tuple[str, int, str | InputLimitError]]:
    """(file label, 1-based position, text) of every document; a document file larger than
    the limit (`safejson.MAX_BYTES`) gives the InputLimitError instead of its text. Lines of
    a `.jsonl` file are limited one by one (in `read_certificates`)."""
    for path in paths:
        try:
            if path.suffix == ".jsonl":
                text = path.read_text("utf-8")
            else:
                text = safejson.read_bytes(path).decode("utf-8")
        except InputLimitError as exc:
            yield str(path), 1, exc
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableFileError(str(path), str(exc)) from exc
        if path.suffix == ".jsonl":
            for i, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    yield str(path), i, line
        else:
            yield str(path), 1, text


def _s(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def document_hash(doc: dict) -> str:
    """SHA-256 of the document's JCS canonical form: equal content, equal hash."""
    return hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


# the members of a certificate that must have one JSON shape to be read at all: (where, name,
# the shapes allowed). `end_use` may be text (its description) or an object.
SHAPES: tuple[tuple[str, str, tuple[type, ...]], ...] = (
    ("document", "credentialSubject", (dict, list)),
    ("subject", "end_use", (dict, str)),
    ("subject", "signatory", (dict,)),
    ("subject", "endorsement", (dict,)),
    ("subject", "commitments", (list,)),
    ("subject", "items", (list,)),
)
_SHAPE_NAMES = {dict: "an object", list: "a list", str: "text"}


def _subject(doc: dict) -> object:
    subject = doc.get("credentialSubject") or {}
    if isinstance(subject, list):
        subject = subject[0] if subject else {}
    return subject


def shape_problem(doc: dict) -> tuple[str, str] | None:
    """(member, reason) when a member of the certificate has a shape it cannot be read in
    (e.g. `credentialSubject` a string, `commitments` an object); None when it reads."""
    subject = _subject(doc)
    if not isinstance(subject, dict):
        return "credentialSubject", "credentialSubject is not a JSON object"
    for where, name, allowed in SHAPES:
        value = (doc if where == "document" else subject).get(name)
        if value is not None and not isinstance(value, allowed):
            shapes = " or ".join(_SHAPE_NAMES[t] for t in allowed)
            return name, f"{name} is {type(value).__name__}, not {shapes}"
    return None


def certificate_row(doc: dict) -> tuple[dict[str, str | None], list[dict[str, str | None]]]:
    """Flatten one VC document into a `certificates` row and its `certificate_items` rows
    (a document with a `shape_problem` is refused before: see `read_certificates`)."""
    subject = _subject(doc)
    assert isinstance(subject, dict)
    end_use = subject.get("end_use") or {}
    signatory = subject.get("signatory") or {}
    endorsement = subject.get("endorsement") or {}
    proofs = doc.get("proof") or []
    if isinstance(proofs, dict):
        proofs = [proofs]
    dhash = document_hash(doc)
    issuer = doc.get("issuer")
    row = {
        "document_hash": dhash,
        "certificate_id": _s(subject.get("certificate_id")),
        "kind": _s(subject.get("kind")),
        "issued": _s(subject.get("issued")),
        "exporter_id": _s(subject.get("exporter_id")),
        "importer_id": _s(subject.get("importer_id")),
        "end_user_id": _s(subject.get("end_user_id")),
        "country": _s(subject.get("country")),
        "contract_ref": _s(subject.get("contract_ref")),
        "end_use": _s(end_use.get("use")) if isinstance(end_use, dict) else None,
        "end_use_description": _s(end_use.get("description"))
        if isinstance(end_use, dict) else _s(end_use),
        "end_use_site": _s(end_use.get("site")) if isinstance(end_use, dict) else None,
        "commitments": ";".join(str(c) for c in subject.get("commitments") or []) or None,
        "signatory_name": _s(signatory.get("name")),
        "signatory_title": _s(signatory.get("title")),
        "endorsement_authority": _s(endorsement.get("authority")),
        "endorsement_ref": _s(endorsement.get("ref")),
        "issuer": _s(issuer.get("id") if isinstance(issuer, dict) else issuer),
        "valid_from": _s(doc.get("validFrom")),
        "valid_until": _s(doc.get("validUntil")),
        "n_proofs": str(len(proofs)),
        "transcribed": "true" if "transcription" in doc or "transcription" in subject
        else "false",
        "document": json.dumps(doc, ensure_ascii=False, sort_keys=False),
    }
    items = []
    for n, item in enumerate(subject.get("items") or [], start=1):
        item = item if isinstance(item, dict) else {}
        items.append({
            "document_hash": dhash,
            "item_no": str(n),
            "certificate_id": row["certificate_id"],
            "product": _s(item.get("product")),
            "hs_code": _s(item.get("hs_code")),
            "max_kg": _s(item.get("max_kg")),
            "value_usd": _s(item.get("value_usd")),
        })
    return row, items


def read_certificates(paths: list[Path]) -> tuple[pa.Table, pa.Table, list[dict[str, Any]]]:
    """All documents as string tables (with `_file`, `_line`), plus documents that are not
    JSON objects, as rejects."""
    rows: list[dict] = []
    items: list[dict] = []
    rejects: list[dict[str, Any]] = []
    for label, pos, text in _documents(paths):
        try:
            if isinstance(text, InputLimitError):
                raise text
            doc = safejson.loads(text, source=label)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except InputLimitError as exc:  # nested too deep, too large: refused unread
            rejects.append({"table": "certificates", "file": label, "line": pos, "column": "",
                            "reason": f"not read: {exc.detail['reason']}", "value": "",
                            "level": "reject"})
            continue
        except ValueError as exc:
            rejects.append({"table": "certificates", "file": label, "line": pos, "column": "",
                            "reason": f"not a JSON document: {exc}", "value": text[:200],
                            "level": "reject"})
            continue
        problem = shape_problem(doc)
        if problem is not None:  # a certificate read wrongly would be worse than none
            rejects.append({"table": "certificates", "file": label, "line": pos,
                            "column": problem[0], "reason": f"not read: {problem[1]}",
                            "value": text[:200], "level": "reject"})
            continue
        row, its = certificate_row(doc)
        rows.append({**row, "_file": label, "_line": pos})
        items.extend({**it, "_file": label, "_line": pos} for it in its)
    return (_to_arrow("certificates", rows), _to_arrow("certificate_items", items), rejects)


def _to_arrow(table: str, rows: list[dict]) -> pa.Table:
    cols = [*table_spec(table).column_names, "_file"]
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    data["_line"] = pa.array([r["_line"] for r in rows], pa.int64())
    return pa.table(data)
