"""Ingest: read a dataset folder, validate it inside the engine, and add it to the store.

Idempotent (the same rows twice change nothing) and incremental (new keys are added; a key
already stored with other content is a reject, never an overwrite)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from rareflow.contract import TableSpec, ingest_order, load_contract
from rareflow.epcis.reader import read_dataset_epcis
from rareflow.errors import DatasetError
from rareflow.readers.certificates import read_certificates
from rareflow.readers.files import EPCIS_TABLES, DatasetFiles, discover
from rareflow.readers.ftm import read_ftm
from rareflow.readers.validate import (
    REJECT_COLUMNS,
    check_rejects,
    classify,
    flag_columns,
    key_rejects,
    key_text,
    validate,
)
from rareflow.store.base import RawRead, Store

REJECTS = "rejects"
REFERENCE = {"uses": "ref_uses", "products": "ref_products"}
Progress = Callable[[str], None]


@dataclass
class TableReport:
    table: str
    files: list[str] = field(default_factory=list)
    read: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0


@dataclass
class IngestReport:
    """What one ingest did, table by table."""

    root: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    unknown_files: list[str] = field(default_factory=list)
    new_rejects: int = 0

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables.values())


def all_table(store: Store, name: str) -> ir.Table | None:
    """A reference table with the project's defaults under the dataset's own rows
    (`products`, `uses`); any other table as stored."""
    own = store.table_or_none(name)
    ref_name = REFERENCE.get(name)
    if ref_name is None:
        return own
    ref = store.table(ref_name)
    if own is None:
        return ref
    key = load_contract()[name].key[0]
    cols = [c for c in ref.columns if c in own.columns]
    kept = ref.filter(~ref[key].isin(own[key])).select(*cols)
    return ibis.union(own.select(*cols), kept)


def load_reference(store: Store) -> None:
    """(Re)load the defaults the project ships (products, uses) from the package data."""
    from rareflow.readers.validate import validate as _validate

    for table, ref_name in REFERENCE.items():
        path = resources.files("rareflow.data").joinpath(f"{table}.csv")
        with resources.as_file(path) as p:
            read = store.read_csv_raw(Path(p))
            if read.structural_rejects:  # our own data file: a defect, not user input
                raise RuntimeError(f"rareflow data file {table}.csv: {read.structural_rejects}")
            raw = read.table.mutate(_file=ibis.literal(f"rareflow:{table}"))
            parents = {"uses.use": store.table("ref_uses").use} if table == "products" else {}
            v = _validate(raw, load_contract()[table], parents)
            store.materialize(ref_name, v.typed.drop("_bad"))


def _parents(store: Store, spec: TableSpec) -> dict[str, ir.Column]:
    out: dict[str, ir.Column] = {}
    for col in spec.refs():
        assert col.ref_table and col.ref_column
        t = all_table(store, col.ref_table)
        if t is not None and col.ref_column in t.columns:
            out[col.ref or ""] = t[col.ref_column]
    return out


def _raw_reads(store: Store, files: DatasetFiles, table: str,
               cert_cache: dict[str, Any]) -> tuple[list[RawRead], list]:
    """Every raw read of `table` in the dataset, and the rejects found while reading."""
    pre_rejects: list[dict[str, Any]] = []
    reads: list[RawRead] = []
    if table in ("certificates", "certificate_items") and files.certificates:
        if not cert_cache:
            certs, items, bad = read_certificates(files.certificates)
            cert_cache.update({"certificates": certs, "certificate_items": items})
            pre_rejects.extend(bad)
        data = cert_cache[table]
        reads.append(RawRead(store.from_arrow(store.temp_name(table), data), []))
    elif table == "restricted_parties" and files.restricted_ftm:
        data, bad = read_ftm(files.restricted_ftm)
        pre_rejects.extend(bad)
        reads.append(RawRead(store.from_arrow(store.temp_name(table), data), []))
    elif table in EPCIS_TABLES and files.epcis:
        # EPCIS documents, read once (with the mappings already loaded: epcis_parties,
        # products, shipments); document-level rejects go with the first table read
        if "epcis" not in cert_cache:
            cert_cache["epcis"] = read_dataset_epcis(store, files.epcis)
            pre_rejects.extend(r for r in cert_cache["epcis"].rejects
                               if r["table"] not in EPCIS_TABLES)
        epcis = cert_cache["epcis"]
        pre_rejects.extend(r for r in epcis.rejects if r["table"] == table)
        if epcis.tables[table].num_rows:
            reads.append(RawRead(store.from_arrow(store.temp_name(table),
                                                  epcis.tables[table]), []))
    if table in files.tables:
        path = files.tables[table]
        read = (store.read_parquet_raw(path) if path.suffix == ".parquet"
                else store.read_csv_raw(path))
        read.table = read.table.mutate(_file=ibis.literal(str(path)))
        for r in read.structural_rejects:
            pre_rejects.append({"table": table, "file": str(path), "level": "reject", **r})
        reads.append(read)
    return reads, pre_rejects


def _header_rejects(read: RawRead, spec: TableSpec, table: str, label: str) -> list[dict]:
    missing = [c for c, col in spec.columns.items()
               if col.required and c not in read.table.columns]
    return [{"table": table, "file": label, "line": 1, "column": c, "level": "reject",
             "value": None, "reason": "required column missing from the header; file not loaded"}
            for c in missing]


def ingest(store: Store, root: Path, progress: Progress | None = None) -> IngestReport:
    """Validate the dataset in `root` and add what passes to `store`."""
    files = discover(root)
    report = IngestReport(root=str(root), unknown_files=files.unknown)
    present = files.present()
    for name, spec in load_contract().items():
        if spec.required_table and name not in present and not store.has(name):
            raise DatasetError(f"{root}: required table '{name}' missing "
                               f"(expected {name}.csv or {name}.parquet)", file=str(root))
    if not store.has("ref_products"):
        load_reference(store)
    if not store.has(REJECTS):
        schema = pa.schema([(c, pa.int64() if c == "line" else pa.string())
                            for c in REJECT_COLUMNS])
        store.con.create_table(REJECTS, schema=ibis.schema(schema))
    cert_cache: dict[str, Any] = {}
    for table in ingest_order():
        if table not in present:
            continue
        if progress:
            progress(table)
        spec = load_contract()[table]
        tr = report.tables.setdefault(table, TableReport(table))
        reads, pre = _raw_reads(store, files, table, cert_cache)
        rejects: list[ir.Table] = []
        for read in reads:
            label = str(files.tables.get(table, table))
            header = _header_rejects(read, spec, table, label)
            if header:
                pre.extend(header)
                continue
            tr.files.append(label)
            _load_one(store, read, spec, table, tr, rejects)
        report.new_rejects += _record_rejects(store, rejects, pre)
        tr.rejected += len([r for r in pre if r.get("level") == "reject"])
    return report


def _load_one(store: Store, read: RawRead, spec: TableSpec, table: str, tr: TableReport,
              rejects: list[ir.Table]) -> None:
    v = validate(read.table, spec, _parents(store, spec))
    typed = store.materialize(store.temp_name(f"{table}_typed"), v.typed, temp=True)
    flags = flag_columns(v)
    stats = store.to_pandas(typed.aggregate(
        _n=typed.count(), _nbad=typed._bad.cast("int64").sum(),
        **{f: typed[f].cast("int64").sum() for f in flags},
    )).fillna(0).iloc[0]
    failing = [i for i, f in enumerate(flags) if stats[f] > 0]
    existing = store.table_or_none(table)
    good = typed.filter(~typed._bad).drop("_bad", *flags)
    if existing is None and _keys_unique(store, good, spec):
        # first load of this table and no key twice: every good row is new
        counts = {"new": int(stats["_n"] - stats["_nbad"])}
        classified = good.mutate(_status=ibis.literal("new"), _other=ibis.null("string"),
                                 _other_file=ibis.null("string"))
    else:
        classified = store.materialize(store.temp_name(f"{table}_cls"),
                                       classify(good, spec, existing), temp=True)
        counts = dict(store.to_pandas(
            classified.group_by("_status").aggregate(n=classified.count())
        ).itertuples(index=False, name=None))
    tr.read += int(stats["_n"])
    tr.loaded += int(counts.get("new", 0))
    tr.unchanged += int(counts.get("unchanged", 0))
    tr.rejected += int(stats["_nbad"]) + int(counts.get("duplicate", 0) + counts.get("conflict", 0))
    tr.warnings += int(sum(stats[flags[i]] for i in failing if v.checks[i].warning))
    new = classified.filter(classified._status == "new").drop(
        "_status", "_other", "_other_file")
    if counts.get("new", 0) or existing is None:
        store.append(table, new)
    checks = check_rejects(v, table, failing)
    if checks is not None:
        rejects.append(checks)
    if counts.get("duplicate", 0) or counts.get("conflict", 0):
        rejects.append(key_rejects(classified, spec, table))


def _keys_unique(store: Store, good: ir.Table, spec: TableSpec) -> bool:
    key = key_text(good, spec.key)
    n, distinct = store.to_pandas(good.aggregate(n=good.count(), d=key.nunique())).iloc[0]
    return int(n) == int(distinct)


def _record_rejects(store: Store, parts: list[ir.Table], rows: list[dict[str, Any]]) -> int:
    """Add new rejects (deduplicated on table, file, line, column, reason)."""
    if rows:
        data = {c: [r.get(c) for r in rows] for c in REJECT_COLUMNS}
        schema = pa.schema([(c, pa.int64() if c == "line" else pa.string())
                            for c in REJECT_COLUMNS])
        parts.append(store.from_arrow(store.temp_name("pre"), pa.table(data, schema=schema)))
    if not parts:
        return 0
    allr = ibis.union(*[p.select(*REJECT_COLUMNS) for p in parts]).distinct()
    existing = store.table_or_none(REJECTS)
    if existing is not None:
        k = ["table", "file", "line", "column", "reason"]
        allr = allr.anti_join(existing, k)
    allr = store.materialize(store.temp_name("rej"), allr, temp=True)
    n = int(store.scalar(allr.count()))
    if n or existing is None:
        store.append(REJECTS, allr)
    return n
