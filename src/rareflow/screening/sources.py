"""What `rareflow screen` reads: the parties to screen and the lists to screen them against,
as frames of one shape, and the analysts' judgements.

Parties: `party_id, name, aliases (a list), country, schema, birth_date, registration_id`
(from a CSV or Parquet file, or a contract dataset folder: its parties, plus the signatories
of its certificates as persons). Entities: `list, entity_id, name, aliases, country, schema,
birth_date, registration_id` (from the contract's `restricted_parties` CSV or FollowTheMoney
entities as JSON lines). A file that cannot be used is an error naming the file, the line
and the field; nothing is silently dropped but FollowTheMoney entities that are no party
(addresses, sanctions, relations), which are counted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from rareflow.errors import DatasetError, UnreadableFileError

PARTY_COLUMNS = ["party_id", "name", "aliases", "country", "schema", "birth_date",
                 "registration_id"]
ENTITY_COLUMNS = ["list", "entity_id", "name", "aliases", "country", "schema", "birth_date",
                  "registration_id"]
SCHEMAS = ("Person", "Company", "Organization", "LegalEntity", "PublicBody", "Vessel")
DECISION_COLUMNS = ["party_id", "entity_id", "decision", "by", "date", "note"]


def _split(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [v.strip() for v in str(value).split(";") if v.strip()]


def _clean(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (all text) or Parquet file, every value a string ("" when empty)."""
    if not path.exists():
        raise UnreadableFileError(str(path), "no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pq.read_table(path).to_pandas()
            return frame.astype(object).where(frame.notna(), "").astype(str)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, ValueError, OSError, pd.errors.ParserError) as exc:
        raise UnreadableFileError(str(path), " ".join(str(exc).split())) from exc


def _require(frame: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnreadableFileError(
            str(path), f"line 1: no column {', '.join(missing)} (columns: "
            f"{', '.join(map(str, frame.columns)) or 'none'})")
    for c in columns:
        empty = frame.index[frame[c].astype(str).str.strip() == ""]
        if len(empty):
            line = int(empty[0]) + 2  # 1 = the header line
            raise UnreadableFileError(str(path), f"line {line}: field {c} is empty")


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def parties_from_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    _require(frame, path, ("party_id", "name"))
    out = pd.DataFrame({
        "party_id": frame["party_id"].astype(str).str.strip(),
        "name": frame["name"].astype(str).str.strip(),
        "aliases": [_split(v) for v in frame.get("aliases", pd.Series([""] * len(frame)))],
    })
    for c in ("country", "schema", "birth_date", "registration_id"):
        out[c] = [_clean(v) for v in frame[c]] if c in frame.columns else ""
    out["country"] = out["country"].str.upper()
    bad = out.index[~out["schema"].isin(("", *SCHEMAS))]
    if len(bad):
        raise UnreadableFileError(str(path), f"line {int(bad[0]) + 2}: field schema "
                                  f"'{out.schema[bad[0]]}' is not one of {', '.join(SCHEMAS)}")
    return out[PARTY_COLUMNS]


def read_parties(path: Path) -> pd.DataFrame:
    """PARTIES: a CSV or Parquet file, or a contract dataset folder."""
    if path.is_dir():
        return _dataset_parties(path)
    return parties_from_frame(read_table(path), path)


def _dataset_parties(root: Path) -> pd.DataFrame:
    table = next((root / f"parties.{s}" for s in ("csv", "parquet")
                  if (root / f"parties.{s}").exists()), None)
    if table is None:
        raise DatasetError(f"{root}: no parties.csv or parties.parquet: not a dataset folder "
                           "(give a CSV or Parquet file of parties, or a dataset folder)")
    parties = parties_from_frame(read_table(table), table)
    rows = []
    for path in sorted(root.glob("certificates*.jsonl")) + sorted(
            (root / "certificates").glob("*.json") if (root / "certificates").is_dir() else []):
        for line, doc in _json_documents(path):
            subject = doc.get("credentialSubject") if isinstance(doc, dict) else None
            subject = subject if isinstance(subject, dict) else doc
            sig = subject.get("signatory") if isinstance(subject, dict) else None
            name = (sig.get("name") if isinstance(sig, dict) else None) or (
                subject.get("signatory_name") if isinstance(subject, dict) else None)
            if not name:
                continue
            cert = str(subject.get("certificate_id") or f"{path.name}:{line}")
            rows.append({"party_id": f"signatory:{cert}", "name": str(name), "aliases": [],
                         "country": str(subject.get("country") or "").upper(),
                         "schema": "Person", "birth_date": "", "registration_id": ""})
    return pd.concat([parties, _frame(rows, PARTY_COLUMNS)], ignore_index=True)


def _json_documents(path: Path) -> list[tuple[int, object]]:
    """(line, document) of a JSON-lines file (or one JSON document)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(str(path), str(exc)) from exc
    if path.suffix == ".json":
        try:
            return [(1, json.loads(text))]
        except ValueError as exc:
            raise UnreadableFileError(str(path), f"not JSON: {exc}") from exc
    out = []
    for pos, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                out.append((pos, json.loads(line)))
            except ValueError as exc:
                raise UnreadableFileError(str(path), f"line {pos}: not JSON ({exc})") from exc
    return out


@dataclass(frozen=True)
class ListRead:
    entities: pd.DataFrame
    skipped: int  # FollowTheMoney entities that are no party (Address, Sanction...)


def read_list(path: Path) -> ListRead:
    """A LIST: the contract's restricted_parties (CSV or Parquet) or FollowTheMoney entities
    (`.jsonl`, `.ftm.json`, `.json` with one entity a line)."""
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return _ftm(path)
    frame = read_table(path)
    _require(frame, path, ("entity_id", "name"))
    listname = frame["list"] if "list" in frame.columns else path.stem
    out = pd.DataFrame({
        "list": listname, "entity_id": frame["entity_id"].str.strip(),
        "name": frame["name"].str.strip(),
        "aliases": [_split(v) for v in frame.get("aliases", pd.Series([""] * len(frame)))]})
    for c in ("country", "schema", "birth_date", "registration_id"):
        out[c] = [_clean(v) for v in frame[c]] if c in frame.columns else ""
    out["country"] = out["country"].str.upper()
    return ListRead(out[ENTITY_COLUMNS], 0)


def _first(props: dict, *names: str) -> str:
    for n in names:
        values = props.get(n) or []
        if isinstance(values, list) and values:
            return str(values[0])
    return ""


def _ftm(path: Path) -> ListRead:
    rows = []
    skipped = 0
    for pos, ent in _json_documents(path.with_suffix(path.suffix)):
        if not isinstance(ent, dict):
            raise UnreadableFileError(str(path), f"line {pos}: not a FollowTheMoney entity "
                                      "(a JSON object with id, schema, properties)")
        schema = str(ent.get("schema") or "")
        props = ent.get("properties")
        if not isinstance(props, dict):
            raise UnreadableFileError(str(path), f"line {pos}: field properties is missing or "
                                      "not an object")
        if schema not in SCHEMAS:
            skipped += 1
            continue
        if not ent.get("id"):
            raise UnreadableFileError(str(path), f"line {pos}: field id is missing")
        names = [str(n) for n in props.get("name") or [] if str(n).strip()]
        if not names:
            raise UnreadableFileError(str(path), f"line {pos}: field properties.name is "
                                      f"missing or empty ({schema} {ent.get('id')})")
        aliases = names[1:] + [str(a) for a in (props.get("alias") or []) + (
            props.get("weakAlias") or []) + (props.get("previousName") or [])]
        countries = [str(c).upper() for c in (props.get("country") or []) + (
            props.get("nationality") or []) + (props.get("jurisdiction") or [])]
        rows.append({
            "list": str((ent.get("datasets") or [path.stem])[0]),
            "entity_id": str(ent["id"]), "name": names[0], "aliases": aliases,
            "country": ";".join(dict.fromkeys(countries)),
            "schema": schema, "birth_date": _first(props, "birthDate", "incorporationDate"),
            "registration_id": ";".join(
                str(v) for k in ("registrationNumber", "idNumber", "taxNumber",
                                 "innCode", "ogrnCode", "leiCode", "imoNumber")
                for v in props.get(k) or []),
        })
    return ListRead(_frame(rows, ENTITY_COLUMNS), skipped)


def read_lists(paths: list[Path]) -> tuple[pd.DataFrame, int]:
    reads = [read_list(p) for p in paths]
    frames = [r.entities for r in reads if len(r.entities)]
    entities = (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=ENTITY_COLUMNS))
    return entities, sum(r.skipped for r in reads)


def read_decisions(path: Path) -> pd.DataFrame:
    """The analysts' judgements (`screening_decisions.csv`): party_id, entity_id, decision
    (`same` or `not_same`), by, date, note."""
    frame = read_table(path)
    _require(frame, path, ("party_id", "entity_id", "decision"))
    bad = frame.index[~frame["decision"].str.strip().isin(("same", "not_same"))]
    if len(bad):
        raise UnreadableFileError(str(path), f"line {int(bad[0]) + 2}: field decision "
                                  f"'{frame.decision[bad[0]]}' is not same or not_same")
    for c in DECISION_COLUMNS:
        if c not in frame.columns:
            frame[c] = ""
    return frame[DECISION_COLUMNS].apply(lambda s: s.str.strip())
