"""Filing data through the web: a zip of the contract's files, or certificates (one W3C VC
2.0 JSON document a file), checked, ingested by the project's ingest through the service's
one writer, with provenance (the upload's folder is in every stored row's `_file`; the
`uploads` table says who filed it, when, from which files). Both go the same way
(`_file_folder`): placed in the upload's own folder as a dataset (certificates in its
`certificates/` folder, as the contract has them), checked, ingested, analysed.

An importer files only its own rows: the chain tables that name the party filing them
(`IMPORTER_TABLES`), and the certificates whose credentialSubject names its party as
importer or end user (`CERTIFICATE_PARTIES`); a row or certificate naming another party is
set aside with its file, line and field, and any other table is refused. Every certificate
stored is verified (`views.record`: the certificate page's verification, as the analysis
and `rareflow certificate verify` check it) and the upload lists each with its result."""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rareflow import safejson
from rareflow.errors import RareflowError
from rareflow.readers.certificates import certificate_row, shape_problem
from rareflow.web import views
from rareflow.web.auth import Principal
from rareflow.web.models import Upload, audit
from rareflow.web.service import Snapshot, StoreService

MAX_BYTES = 50 * 1024 * 1024  # of the zip, and of what it unpacks to
MAX_FILES = 200
SUFFIXES = (".csv", ".parquet", ".json", ".jsonl", ".jsonld")
#: what an importer may file: table -> the column that must name its own party
IMPORTER_TABLES = {"flows": "from_id", "transformations": "party_id", "stocks": "party_id",
                   "capacity": "party_id"}
#: the credentialSubject fields that make a certificate an importer's: the contract names a
#: certificate's parties in its credentialSubject (exporter_id, importer_id, end_user_id;
#: the VC `issuer` is any URI and decides nothing), and an importer holds the certificates
#: where it is the importer or the end user (the same columns give it the certificate's
#: page: `views.KINDS`)
CERTIFICATE_PARTIES = ("importer_id", "end_user_id")


class UploadRefused(RareflowError):
    """An upload that cannot be read as a dataset at all (nothing stored)."""


def _members(z: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The zip's data files, as paths relative to the dataset's folder (a zip of the folder
    itself, with one top folder, is read the same as a zip of its files)."""
    infos = [i for i in z.infolist() if not i.is_dir()
             and not PurePosixPath(i.filename).name.startswith(".")
             and "__MACOSX" not in i.filename]
    if len(infos) > MAX_FILES:
        raise UploadRefused(f"the zip holds {len(infos)} files: at most {MAX_FILES}")
    if sum(i.file_size for i in infos) > MAX_BYTES:
        raise UploadRefused(f"the zip unpacks to more than {MAX_BYTES // 2**20} MiB")
    paths = []
    for i in infos:
        p = PurePosixPath(i.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts:
            raise UploadRefused(f"{i.filename}: a path outside the dataset's folder")
        paths.append((i, p))
    tops = {p.parts[0] for _, p in paths if len(p.parts) > 1}
    if len(tops) == 1 and all(len(p.parts) > 1 for _, p in paths):
        top = tops.pop()
        if top != "certificates":
            paths = [(i, PurePosixPath(*p.parts[1:])) for i, p in paths]
    return [(i, p) for i, p in paths if p.suffix.lower() in SUFFIXES]


def unpack(data: bytes, folder: Path) -> list[str]:
    """The zip's dataset files into `folder`; their names."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadRefused("not a zip archive: upload a zip of the dataset's files "
                            "(parties.csv, shipments.csv, ...)") from None
    names = []
    with z:
        members = _members(z)
        if not members:
            raise UploadRefused("the zip holds no dataset file (.csv, .parquet, .json, .jsonl)")
        for info, rel in members:
            dst = folder.joinpath(*rel.parts)
            dst.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, dst.open("wb") as out:
                shutil.copyfileobj(src, out)
            names.append(str(rel))
    return sorted(names)


def _is_certificate(rel: PurePosixPath) -> bool:
    """Where a dataset holds its certificates: certificates.jsonl, certificates/*.json."""
    return (str(rel) == "certificates.jsonl"
            or (len(rel.parts) == 2 and rel.parts[0] == "certificates"
                and rel.suffix.lower() == ".json"))


def importer_filter(folder: Path, party: str,
                    lines: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Keep only what an importer may file: its own rows of `IMPORTER_TABLES` (its
    certificates are checked by `check_certificates`). Returns the rejects (file, line,
    column, reason, value); `lines` gets, for each file rewritten, the original line of each
    line kept (so that the ingest's rejects name the uploaded line)."""
    rejects: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        if _is_certificate(PurePosixPath(rel)):
            continue
        table = path.stem
        if path.suffix.lower() != ".csv" or table not in IMPORTER_TABLES:
            rejects.append({"file": rel, "line": 0, "column": "", "value": None,
                            "level": "reject", "reason": "an importer files only "
                            + ", ".join(f"{t}.csv" for t in IMPORTER_TABLES)
                            + " and its certificates; file refused"})
            path.unlink()
            continue
        col = IMPORTER_TABLES[table]
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or col not in header:
            continue  # the ingest reports the missing column
        at = header.index(col)
        kept, kept_lines = io.StringIO(), [1]
        w = csv.writer(kept, lineterminator="\n")
        w.writerow(header)
        start = 2
        for rec in reader:
            line, start = start, reader.line_num + 1
            value = rec[at] if at < len(rec) else ""
            if value != party:
                rejects.append({"file": rel, "line": line, "column": col, "value": value,
                                "level": "reject", "reason": f"{col} must be your own party "
                                f"({party}): an importer files only its own rows"})
                continue
            w.writerow(rec)
            kept_lines.append(line)
        lines[rel] = kept_lines
        path.write_text("\n".join(x for x in kept.getvalue().split("\n") if x) + "\n",
                        encoding="utf-8")
    return rejects


# --- certificates ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    """One certificate document of an upload: where it is, and what the ingest keys it by."""

    file: str
    line: int
    certificate_id: str | None = None
    document_hash: str | None = None


def _certificate_files(folder: Path) -> list[Path]:
    """The upload's certificate files, as the ingest finds them (readers.files.discover)."""
    out = [folder / "certificates.jsonl"] if (folder / "certificates.jsonl").is_file() else []
    sub = folder / "certificates"
    if sub.is_dir():
        out += sorted(p for p in sub.glob("*.json") if p.is_file())
    return out


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of each document of a certificate file: the whole of a .json file
    (line 1), each non-blank line of a .jsonl file (as `read_certificates` numbers them).
    UnicodeDecodeError for a file that is not UTF-8."""
    text = path.read_bytes().decode("utf-8")
    if path.suffix != ".jsonl":
        yield 1, text
        return
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield i, line


def _row(text: str) -> tuple[dict | None, str | None]:
    """The `certificates` row of a document (`readers.certificates.certificate_row`), or
    why there is none. A document that is not JSON is left to the ingest (None, None): it
    sets it aside with its reason."""
    try:
        doc = safejson.loads(text)
    except (ValueError, RareflowError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    problem = shape_problem(doc)
    if problem is not None:  # the reader's own reason (readers.certificates.shape_problem)
        return None, f"not read: {problem[1]}"
    row, _ = certificate_row(doc)
    return row, None


def check_certificates(folder: Path, party: str | None, lines: dict[str, list[int]]
                       ) -> tuple[list[dict[str, Any]], list[Document]]:
    """The upload's certificate documents, checked before the ingest: one whose shape the
    reader cannot flatten is set aside; for an importer (`party`), one that does not name
    its party as importer or end user (`CERTIFICATE_PARTIES`) too. Returns the rejects and
    the documents left to ingest (a .jsonl rewritten with the lines kept, `lines` mapping
    them back)."""
    rejects: list[dict[str, Any]] = []
    docs: list[Document] = []
    for path in _certificate_files(folder):
        rel = str(path.relative_to(folder))
        kept: list[tuple[int, str]] = []
        try:
            texts = list(_texts(path))
        except UnicodeDecodeError as exc:  # the ingest would stop at it: set aside here
            rejects.append({"file": rel, "line": None, "column": "", "value": None,
                            "level": "reject", "reason": f"not UTF-8 text ({exc.reason} at "
                            f"byte {exc.start}): a certificate is a UTF-8 JSON document"})
            path.unlink()
            continue
        for line, text in texts:
            row, why = _row(text)
            base = {"file": rel, "line": line, "level": "reject"}
            if why is not None:
                rejects.append({**base, "column": "credentialSubject", "value": None,
                                "reason": why})
                continue
            if row is not None and party is not None and party not in (
                    row.get(c) for c in CERTIFICATE_PARTIES):
                named = ", ".join(f"{c} {row.get(c) or '(none)'}" for c in CERTIFICATE_PARTIES)
                rejects.append({**base, "column": "credentialSubject.importer_id, "
                                "end_user_id", "value": named,
                                "reason": f"the certificate does not name your party "
                                f"({party}) as its importer or end user: an importer files "
                                "only its own certificates"})
                continue
            kept.append((line, text))
            docs.append(Document(rel, line, row and row.get("certificate_id"),
                                 row and row.get("document_hash")))
        if len(kept) == len(texts):
            continue
        if not kept:
            path.unlink()
        elif path.suffix == ".jsonl":
            path.write_text("\n".join(t for _, t in kept) + "\n", encoding="utf-8")
            lines[rel] = [n for n, _ in kept]
    return rejects, docs


def place_certificates(files: list[tuple[str, bytes]]
                       ) -> Callable[[Path], tuple[list[str], list[dict[str, Any]]]]:
    """Certificate files (name, content) placed as the dataset's `certificates/` folder:
    each a .json file holding one W3C VC 2.0 document (as `rareflow certificate verify`
    reads them); another kind of file is set aside."""
    def place(folder: Path) -> tuple[list[str], list[dict[str, Any]]]:
        if not files:
            raise UploadRefused("no file: choose one or more certificate files (.json)")
        if len(files) > MAX_FILES:
            raise UploadRefused(f"{len(files)} files: at most {MAX_FILES} at once")
        if sum(len(d) for _, d in files) > MAX_BYTES:
            raise UploadRefused(f"more than {MAX_BYTES // 2**20} MiB of certificates")
        sub = folder / "certificates"
        sub.mkdir(parents=True)
        names, rejects = [], []
        for name, data in files:
            base = PurePosixPath(name.replace("\\", "/")).name
            if not base.lower().endswith(".json"):
                rejects.append({"file": base or "(no name)", "line": None, "column": "",
                                "value": None, "level": "reject",
                                "reason": "not a .json file: upload each certificate as a "
                                "JSON file (W3C VC 2.0); many at once as certificates.jsonl "
                                "in a dataset zip"})
                continue
            safe = re.sub(r"[^\w.-]", "_", base).lstrip(".")[:120] or "certificate.json"
            n = 1
            while (sub / safe).exists():
                n += 1
                safe = f"{PurePosixPath(safe).stem.split('~')[0]}~{n}.json"
            (sub / safe).write_bytes(data)
            names.append(f"certificates/{safe}")
        return names, rejects
    return place


def _outcomes(docs: list[Document], snap: Snapshot, folder: Path,
              who: Principal) -> list[dict[str, Any]]:
    """What became of each certificate document of an upload, and its verification (for a
    document stored, now or before): the certificate page's (`views.record`), as of the
    document's latest use this user may see, else its validFrom."""
    certs = snap.table("certificates")
    stored = ({str(h): str(f) for h, f in zip(certs.document_hash, certs["_file"],
                                               strict=True)}
              if not certs.empty and "_file" in certs.columns else {})
    scope = views.Scope(snap, who)
    mine = str(folder) + "/"
    out = []
    for d in docs:
        item: dict[str, Any] = {"file": d.file, "line": d.line,
                                "certificate_id": d.certificate_id,
                                "document_hash": d.document_hash, "outcome": "set aside",
                                "status": None, "codes": [], "as_of": None,
                                "as_of_shipment": None, "url": None}
        if d.document_hash in stored:
            item["outcome"] = ("stored" if stored[d.document_hash].startswith(mine)
                               else "already stored")
            try:
                rec = views.record(scope, "certificate", str(d.certificate_id))
            except views.NotFound:
                rec = {"verification": []}
            v = next((v for v in rec.get("verification") or []
                      if v.get("document_hash") == d.document_hash), None)
            item["url"] = views.URL["certificate"] + str(d.certificate_id)
            if v is not None:
                item.update(status=v.get("status"), codes=v.get("codes") or [],
                            as_of=v.get("as_of"), as_of_shipment=v.get("as_of_shipment"))
        out.append(item)
    return out


# --- the one way in -------------------------------------------------------------------------
def _reject_rows(report_rejects, folder: Path,
                 lines: dict[str, list[int]]) -> list[dict[str, Any]]:
    out = []
    if report_rejects is None or report_rejects.empty:
        return out
    for r in report_rejects.to_dict("records"):
        f = str(r.get("file") or "")
        try:
            f = str(Path(f).relative_to(folder))
        except ValueError:
            f = Path(f).name or f
        line = r.get("line")
        line = None if line is None or line != line else int(line)
        if line is not None and f in lines and 0 < line <= len(lines[f]):
            line = lines[f][line - 1]
        out.append({"file": f, "line": line,
                    "column": str(r.get("column") or ""),
                    "reason": str(r.get("reason") or ""),
                    "value": None if r.get("value") is None else str(r.get("value")),
                    "level": str(r.get("level") or "reject")})
    return out


def _unzip(data: bytes) -> Callable[[Path], tuple[list[str], list[dict[str, Any]]]]:
    def place(folder: Path) -> tuple[list[str], list[dict[str, Any]]]:
        if len(data) > MAX_BYTES:
            raise UploadRefused(f"larger than {MAX_BYTES // 2**20} MiB")
        return unpack(data, folder), []
    return place


def file_upload(service: StoreService, db, uploads: Path, who: Principal, filename: str,
                data: bytes) -> Upload:
    """Check, unpack and ingest one uploaded zip; the `Upload` record (committed by the
    caller) says what happened. Never raises for bad input: a refusal is a status."""
    return _file_folder(service, db, uploads, who, filename, _unzip(data))


def file_certificates(service: StoreService, db, uploads: Path, who: Principal,
                      files: list[tuple[str, bytes]]) -> Upload:
    """Check and ingest uploaded certificate files, the same way as a dataset (a dataset of
    certificates); the `Upload` record lists each document's outcome and verification."""
    names = ", ".join(PurePosixPath(n.replace("\\", "/")).name for n, _ in files)
    return _file_folder(service, db, uploads, who, f"certificates: {names}"[:300],
                        place_certificates(files), certificates_only=True)


def _file_folder(service: StoreService, db, uploads: Path, who: Principal, filename: str,
                 place: Callable[[Path], tuple[list[str], list[dict[str, Any]]]], *,
                 certificates_only: bool = False) -> Upload:
    """The one way an upload goes: its files placed in its own folder (`place`), checked
    (an importer's: its own rows and certificates only), ingested through the one writer,
    the analysis brought up to date; what was set aside, with file, line and field."""
    up = Upload(user=who.name, party_id=who.party_id, filename=filename[:300],
                status="refused", rejects=[], certificates=[])
    db.add(up)
    db.flush()  # its id names its folder
    folder = uploads / f"upload-{up.id:06d}"
    up.folder = str(folder)
    pre: list[dict[str, Any]] = []
    try:
        folder.mkdir(parents=True, exist_ok=False)
        names, pre = place(folder)
        lines: dict[str, list[int]] = {}
        bad, docs = check_certificates(folder, who.party_id if who.importer else None, lines)
        pre += bad
        if who.importer:
            pre += importer_filter(folder, who.party_id, lines)
        if not any(p.is_file() for p in folder.rglob("*")):
            raise UploadRefused("nothing left to store: every file was set aside (see "
                                "below)" if pre else "nothing to store")
        report, snap = service.ingest(folder)
        rejects = pre + _reject_rows(report.rejects, folder, lines)
        up.rejects = rejects
        up.loaded = sum(t.loaded for t in report.tables.values())
        up.rejected = len(pre) + report.n_reject_rows
        up.certificates = _outcomes(docs, snap, folder, who)
        up.status = "stored"
        up.message = _message(names, up, len(pre), certificates_only,
                              service.generation)
    except RareflowError as exc:
        up.status = "refused"
        up.rejects = pre
        up.rejected = sum(1 for r in pre if r.get("level") == "reject")
        up.message = exc.message.replace(str(folder) + "/", "").replace(str(folder), filename)
    audit(db, who.name, "upload",
          f"upload {up.id} ({filename}): {up.status}; {up.loaded} stored, "
          f"{up.rejected} set aside")
    return up


def _message(names: list[str], up: Upload, checked_out: int, certificates_only: bool,
             state: int) -> str:
    """The upload's status line. `checked_out`: the files and documents set aside before
    the ingest (certificates: those not the importer's, or not flattened; other files)."""
    docs = up.certificates or []
    count = {k: sum(1 for d in docs if d["outcome"] == k)
             for k in ("stored", "already stored", "set aside")}
    if certificates_only:
        head = (f"{len(docs) + checked_out} file(s): {count['stored']} certificate(s) "
                f"stored, {count['already stored']} already stored, "
                f"{count['set aside'] + checked_out} set aside")
    else:
        head = (f"{len(names)} file(s): {up.loaded} new row(s) stored, "
                f"{up.rejected} row(s) set aside")
        if docs:
            head += (f"; certificates: {count['stored']} stored, "
                     f"{count['already stored']} already stored, {count['set aside']} "
                     "set aside")
    return f"{head}; the analysis is up to date (state {state})"
