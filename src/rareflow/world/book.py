"""Rows of a world being built, written out as the dataset contract's files."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from rareflow.contract import load_contract

EXTRA_COLUMNS = {"products": ["description"]}


@dataclass
class Book:
    """Append rows per table; `planted` records what the world hides and where."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    certificates: list[dict] = field(default_factory=list)
    planted: list[dict] = field(default_factory=list)
    honest: list[dict] = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, **row: object) -> dict:
        self.rows.setdefault(table, []).append(row)
        return row

    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:05d}"

    def plant(self, case: str, rule: str, subject_type: str, subject_id: str,
              evidence: list[str], description: str) -> None:
        self.planted.append({"case": case, "rule": rule, "subject_type": subject_type,
                             "subject_id": subject_id, "evidence": evidence,
                             "description": description})

    def write(self, out: Path, scenario: str, seed: int) -> None:
        out.mkdir(parents=True, exist_ok=True)
        contract = load_contract()
        for table, rows in sorted(self.rows.items()):
            cols = list(contract[table].columns) + EXTRA_COLUMNS.get(table, [])
            with (out / f"{table}.csv").open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=cols, extrasaction="raise")
                w.writeheader()
                for r in rows:
                    w.writerow({c: _cell(r.get(c)) for c in cols})
        if self.certificates:
            folder = out / "certificates"
            folder.mkdir(exist_ok=True)
            for i, doc in enumerate(self.certificates, start=1):
                cid = doc["credentialSubject"].get("certificate_id") or f"doc{i}"
                (folder / f"{i:03d}-{cid}.json").write_text(
                    json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
        manifest = {"scenario": scenario, "seed": seed, "cases": self.planted,
                    "honest": self.honest, "expected": self.expected}
        (out / "planted.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, list | tuple):
        return ";".join(str(x) for x in v)
    return str(v)
