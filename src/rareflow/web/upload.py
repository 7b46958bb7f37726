"""Filing a dataset through the web: a zip of the contract's files, checked, ingested by the
project's ingest through the service's one writer, with provenance (the upload's folder is
in every stored row's `_file`; the `uploads` table says who filed it, when, from which zip).

An importer files only its own rows: the chain tables that name the party filing them
(`IMPORTER_TABLES`); a row naming another party is set aside with its file, line and field,
and any other table is refused."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from rareflow.errors import RareflowError
from rareflow.web.auth import Principal
from rareflow.web.models import Upload, audit
from rareflow.web.service import StoreService

MAX_BYTES = 50 * 1024 * 1024  # of the zip, and of what it unpacks to
MAX_FILES = 200
SUFFIXES = (".csv", ".parquet", ".json", ".jsonld")
#: what an importer may file: table -> the column that must name its own party
IMPORTER_TABLES = {"flows": "from_id", "transformations": "party_id", "stocks": "party_id",
                   "capacity": "party_id"}


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
            raise UploadRefused("the zip holds no dataset file (.csv, .parquet, .json)")
        for info, rel in members:
            dst = folder.joinpath(*rel.parts)
            dst.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, dst.open("wb") as out:
                shutil.copyfileobj(src, out)
            names.append(str(rel))
    return sorted(names)


def importer_filter(folder: Path, party: str,
                    lines: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Keep only what an importer may file: its own rows of `IMPORTER_TABLES`. Returns the
    rejects (file, line, column, reason, value); `lines` gets, for each file rewritten, the
    original line of each line kept (so that the ingest's rejects name the uploaded line)."""
    rejects: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        table = path.stem
        if path.suffix.lower() != ".csv" or table not in IMPORTER_TABLES:
            rejects.append({"file": rel, "line": 0, "column": "", "value": None,
                            "level": "reject", "reason": "an importer files only "
                            + ", ".join(f"{t}.csv" for t in IMPORTER_TABLES)
                            + "; file refused"})
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


def file_upload(service: StoreService, db, uploads: Path, who: Principal, filename: str,
                data: bytes) -> Upload:
    """Check, unpack and ingest one uploaded zip; the `Upload` record (committed by the
    caller) says what happened. Never raises for bad input: a refusal is a status."""
    up = Upload(user=who.name, party_id=who.party_id, filename=filename[:300],
                status="refused", rejects=[])
    db.add(up)
    db.flush()  # its id names its folder
    folder = uploads / f"upload-{up.id:06d}"
    up.folder = str(folder)
    try:
        if len(data) > MAX_BYTES:
            raise UploadRefused(f"{filename}: larger than {MAX_BYTES // 2**20} MiB")
        folder.mkdir(parents=True, exist_ok=False)
        names = unpack(data, folder)
        lines: dict[str, list[int]] = {}
        pre = importer_filter(folder, who.party_id, lines) if who.importer else []
        if who.importer and not any(folder.rglob("*.csv")):
            up.rejects = pre
            raise UploadRefused("nothing in the zip that an importer may file")
        report, _ = service.ingest(folder)
        rejects = pre + _reject_rows(report.rejects, folder, lines)
        up.rejects = rejects
        up.loaded = sum(t.loaded for t in report.tables.values())
        up.rejected = len(pre) + report.n_reject_rows
        up.status = "stored"
        up.message = (f"{len(names)} file(s): {up.loaded} new row(s) stored, "
                      f"{up.rejected} row(s) set aside; the analysis is up to date "
                      f"(state {service.generation})")
    except RareflowError as exc:
        up.status = "refused"
        up.message = exc.message.replace(str(folder) + "/", "").replace(str(folder), filename)
    audit(db, who.name, "upload",
          f"upload {up.id} ({filename}): {up.status}; {up.loaded} stored, "
          f"{up.rejected} set aside")
    return up
