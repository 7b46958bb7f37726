"""Finding a dataset's files: one per contract table, CSV or Parquet; certificates as JSONL or
a folder of JSON documents; EPCIS 2.0 documents in a folder `epcis/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rareflow.contract import load_contract
from rareflow.errors import DatasetError

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

    def present(self) -> set[str]:
        out = set(self.tables)
        if self.certificates:
            out |= {"certificates", "certificate_items"}
        if self.restricted_ftm:
            out.add("restricted_parties")
        if self.epcis:
            out |= set(EPCIS_TABLES)
        return out


def discover(root: Path) -> DatasetFiles:
    """Map the files of `root` to contract tables; name what is not part of the contract."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder: a dataset is a folder of table files",
                           file=str(root))
    contract = load_contract()
    found = DatasetFiles(root=root)
    claimed: set[str] = set()
    for name in contract:
        if name in DERIVED or name == "certificates":
            continue
        paths = [p for p in (root / f"{name}.csv", root / f"{name}.parquet") if p.is_file()]
        if len(paths) > 1:
            raise DatasetError(f"{root}: both {name}.csv and {name}.parquet; keep one",
                               file=str(root / name))
        if paths:
            found.tables[name] = paths[0]
            claimed.add(paths[0].name)
    jsonl = root / "certificates.jsonl"
    folder = root / "certificates"
    if jsonl.is_file():
        found.certificates.append(jsonl)
        claimed.add(jsonl.name)
    if folder.is_dir():
        found.certificates.extend(sorted(folder.glob("*.json")))
        claimed.add(folder.name)
    ftm = root / "restricted_parties.jsonl"
    if ftm.is_file():
        found.restricted_ftm = ftm
        claimed.add(ftm.name)
    epcis = root / "epcis"
    if epcis.is_dir():
        found.epcis = sorted(p for p in epcis.iterdir() if p.is_file()
                             and p.suffix.lower() in EPCIS_SUFFIXES and not p.name.startswith("."))
        claimed.add(epcis.name)
        found.unknown += [f"epcis/{p.name}" for p in epcis.iterdir()
                          if p not in found.epcis and not p.name.startswith(".")]
    found.unknown = sorted(found.unknown + [
        p.name for p in root.iterdir()
        if p.name not in claimed and p.name not in KNOWN_EXTRA and not p.name.startswith(".")
    ])
    return found
