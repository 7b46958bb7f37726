"""Finding a dataset's files: one per contract table, CSV or Parquet; certificates as JSONL or
a folder of JSON documents; EPCIS 2.0 documents in a folder `epcis/`."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rareflow.contract import load_contract
from rareflow.errors import DatasetError
from rareflow.readers.excerpt import escape

DERIVED = {"certificate_items"}  # filled from the certificates documents
KNOWN_EXTRA = {"planted.json", "README.md", "rareflow.duckdb", "rareflow.duckdb.wal"}
EPCIS_TABLES = ("flows", "transformations", "stocks")  # what EPCIS documents fill
EPCIS_SUFFIXES = (".json", ".jsonld", ".xml")


@dataclass
class DatasetFiles:
    """What a dataset folder holds, by contract table."""

    root: Path
    tables: dict[str, Path] = field(default_factory=dict)
    certificates: list[Path] = field(default_factory=list)
    restricted_ftm: Path | None = None
    epcis: list[Path] = field(default_factory=list)  # EPCIS documents (epcis/*.json|jsonld|xml)
    unknown: list[str] = field(default_factory=list)
    # files refused without being read: (table, path, reason); symlinks out, FIFOs, devices
    refused: list[tuple[str, str, str]] = field(default_factory=list)

    def present(self) -> set[str]:
        out = set(self.tables)
        if self.certificates:
            out |= {"certificates", "certificate_items"}
        if self.restricted_ftm:
            out.add("restricted_parties")
        if self.epcis:
            out |= set(EPCIS_TABLES)
        return out


def refusal(root: Path, path: Path, *, folder: bool = False) -> str | None:
    """Why `path` may not be read as part of the dataset in `root`, or None if it may: it
    must be a regular file (a folder when `folder`) inside `root`; a symbolic link is
    followed only to a target inside `root`. Nothing is opened to decide."""
    try:
        st = path.lstat()
    except OSError as exc:
        return f"cannot be examined ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        try:
            target = Path(os.path.realpath(path, strict=True))
            inside = target.is_relative_to(Path(os.path.realpath(root)))
            st = target.stat()
        except (OSError, RuntimeError, ValueError):
            return "a broken or looping symbolic link: not followed"
        if not inside:
            return "a symbolic link to outside the dataset folder: not followed, not read"
    if folder:
        return None if stat.S_ISDIR(st.st_mode) else "not a folder"
    if stat.S_ISDIR(st.st_mode):
        return "a folder where a file was expected: not read"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, device or socket): not read"
    return None


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def discover(root: Path) -> DatasetFiles:
    """Map the files of `root` to contract tables; name what is not part of the contract."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder: a dataset is a folder of table files",
                           file=str(root))
    contract = load_contract()
    found = DatasetFiles(root=root)
    claimed: set[str] = set()

    def admit(table: str, path: Path, *, folder: bool = False) -> bool:
        why = refusal(root, path, folder=folder)
        if why:
            found.refused.append((table, str(path), why))
        return why is None

    for name in contract:
        if name in DERIVED or name == "certificates":
            continue
        paths = [p for p in (root / f"{name}.csv", root / f"{name}.parquet") if _exists(p)]
        if len(paths) > 1:
            raise DatasetError(f"{root}: both {name}.csv and {name}.parquet; keep one",
                               file=str(root / name))
        if paths:
            claimed.add(paths[0].name)
            if admit(name, paths[0]):
                found.tables[name] = paths[0]
    jsonl = root / "certificates.jsonl"
    folder = root / "certificates"
    if _exists(jsonl):
        claimed.add(jsonl.name)
        if admit("certificates", jsonl):
            found.certificates.append(jsonl)
    if _exists(folder):
        claimed.add(folder.name)
        if admit("certificates", folder, folder=True):
            found.certificates.extend(p for p in sorted(folder.glob("*.json"))
                                      if admit("certificates", p))
    ftm = root / "restricted_parties.jsonl"
    if _exists(ftm):
        claimed.add(ftm.name)
        if admit("restricted_parties", ftm):
            found.restricted_ftm = ftm
    epcis = root / "epcis"
    if _exists(epcis):
        claimed.add(epcis.name)
        if admit("flows", epcis, folder=True):
            for p in sorted(epcis.iterdir()):
                if p.name.startswith("."):
                    continue
                if p.suffix.lower() in EPCIS_SUFFIXES:
                    if admit("flows", p):
                        found.epcis.append(p)
                else:
                    found.unknown.append(f"epcis/{p.name}")
    found.unknown = sorted(escape(n) for n in found.unknown + [
        p.name for p in root.iterdir()
        if p.name not in claimed and p.name not in KNOWN_EXTRA and not p.name.startswith(".")
    ])  # names as they are, control characters escaped (a name is printed)
    return found
