"""Ingest: read a dataset folder, validate it inside the engine, and add it to the store.

Idempotent (the same rows twice change nothing) and incremental (new keys are added; a key
already stored with other content is a reject, or with `replace=True` replaces the stored
row, which is kept with its provenance in `replaced_<table>`). One ingest is one transaction:
all of the dataset is stored, or none of it."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from rareflow.contract import TableSpec, ingest_order, load_contract
from rareflow.errors import DatasetError, RareflowError
from rareflow.ingest.derived import derive
from rareflow.ingest.epcis import read_dataset_epcis
from rareflow.ingest.reference import load_reference
from rareflow.ingest.report import PREVIEW, IngestReport, TableReport
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
from rareflow.store.tables import all_table

REJECTS = "rejects"
REPLACED = "replaced_"  # + table: the stored rows that `replace=True` superseded
Progress = Callable[[str], None]
DELIMITERS = {";": "semicolon (;)", "\t": "tab", "|": "pipe (|)"}
# What an empty optional table means for the analyses (a warning, not a reject)
EMPTY_MEANING = {
    "licences": "the licence register is empty: every shipment of a controlled item will be "
                "found without a valid licence (licence_violation)",
    "certificates": "no end-user certificate: shipments that cite one cite an unknown "
                    "certificate, and no certificate commitment can be checked",
    "keys": "the key register is empty: no certificate proof can be matched to its signer",
    "revocations": "no revocation: every certificate counts as not revoked",
    "flows": "no downstream flow: what importers received cannot be followed and counts "
             "as unaccounted",
    "transformations": "no transformation: no input can be followed into products",
    "stocks": "no stock report: stock changes count as zero",
    "capacity": "no declared capacity or output: capacity_mismatch cannot be checked",
    "trade_stats": "no trade statistics: re-exports seen only in statistics cannot be found",
    "restricted_parties": "no restricted-party list: no party is screened",
    "observations": "no observation: no military contract, site visit or teardown is known",
    "applications": "no licence application: there is nothing to decide",
    "ownership": "no ownership: affiliates cannot be linked",
}


def _parents(store: Store, spec: TableSpec) -> dict[str, ir.Column]:
    out: dict[str, ir.Column] = {}
    for col in spec.refs():
        assert col.ref_table and col.ref_column
        t = all_table(store, col.ref_table)
        if t is not None and col.ref_column in t.columns:
            out[col.ref or ""] = t[col.ref_column]
    return out


def _read_file(store: Store, path: Path) -> RawRead:
    """One table file as strings (with `_file` and `_line`)."""
    read = (store.read_parquet_raw(path) if path.suffix == ".parquet"
            else store.read_csv_raw(path))
    cols = [c for c in read.table.columns if c != "_file"]
    read.table = store.with_value(store.temp_name(f"file_{path.stem}"), read.table, "_file",
                                  str(path), [*cols, "_file"])
    return read


def _raw_reads(store: Store, files: DatasetFiles, table: str, cert_cache: dict[str, Any],
               file_reads: dict[str, RawRead] | None = None) -> tuple[list[RawRead], list]:
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
        read = file_reads[table] if file_reads and table in file_reads else \
            _read_file(store, path)
        for r in read.structural_rejects:
            pre_rejects.append({"table": table, "file": str(path), "level": "reject", **r,
                                "_read": read})
        reads.append(read)
    return reads, pre_rejects


def _header_line(path: Path) -> str:
    """The first line of a CSV file, read alone (for hints about its header)."""
    try:
        with path.open("rb") as f:
            head = f.readline(65536)
    except OSError:
        return ""
    return head.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")


def _header_rejects(read: RawRead, spec: TableSpec, table: str, label: str,
                    path: Path | None) -> tuple[list[dict], list[dict]]:
    """(rejects that stop the file, warnings) about the header: required columns missing,
    a likely other delimiter, near-miss column names, names reserved to rareflow."""
    cols = [c for c in read.table.columns if c not in ("_line", "_file")]
    base = {"table": table, "file": label, "line": 1, "value": None}
    name = Path(label).name
    warnings: list[dict] = []
    for c in cols:
        if c.startswith("_"):
            warnings.append({**base, "column": c, "level": "warning", "reason":
                             f"column `{c}` in {name} ignored: names starting with `_` are "
                             "rareflow's (provenance)"})
    missing = [c for c in spec.column_names if c not in cols]
    for c in cols:
        if c in spec.columns or c.startswith("_"):
            continue
        near = difflib.get_close_matches(c.lower(), missing, n=1, cutoff=0.75)
        if near:
            warnings.append({**base, "column": c, "level": "warning", "value": c, "reason":
                             f"unknown column `{c}` in {name}: did you mean `{near[0]}`? "
                             "(its values are kept under the unknown name, not read as "
                             f"`{near[0]}`)"})
    req = [c for c, col in spec.columns.items() if col.required and c not in cols]
    if not req:
        return [], warnings
    if path is not None and path.suffix == ".csv":
        header = _header_line(path)
        for delim, word in DELIMITERS.items():
            parts = [x.strip().strip('"') for x in header.split(delim)]
            if len(parts) > 1 and len(set(parts) & set(spec.column_names)) >= 2:
                return [{**base, "column": "", "level": "reject", "value": None, "reason":
                         f"{name} looks {word}-separated: its header splits on {word} into "
                         f"contract columns; rareflow reads comma-separated CSV (re-save it "
                         "with commas); file not loaded"}], warnings
    return [{**base, "column": c, "level": "reject", "reason":
             "required column missing from the header; file not loaded"}
            for c in req], warnings


def _refused(files: DatasetFiles) -> list[dict]:
    return [{"table": t, "file": f, "line": 0, "column": "", "value": None, "level": "reject",
             "reason": f"{why}; refused"} for t, f, why in files.refused]


def ingest(store: Store, root: Path, progress: Progress | None = None, *,
           replace: bool = False) -> IngestReport:
    """Validate the dataset in `root` and add what passes to `store`, in one transaction:
    on any error nothing of `root` is stored (the error's message says so).

    With `replace`, a row whose key is already stored with other content replaces the
    stored row, which is kept in `replaced_<table>` with when and by what it was replaced."""
    files = discover(root)
    report = IngestReport(root=str(root), unknown_files=files.unknown, replace=replace)
    present = files.present()
    refused = {t for t, _, _ in files.refused}
    for name, spec in load_contract().items():
        if spec.required_table and name not in present and not store.has(name):
            why = next((f"{Path(f).name}: {r}" for t, f, r in files.refused if t == name), None)
            raise DatasetError(f"{root}: required table '{name}' missing "
                               + (f"({why})" if why else
                                  f"(expected {name}.csv or {name}.parquet)"), file=str(root))
    try:
        # table files are read first, outside the transaction: the engine's fast reader may
        # fail on a file (then read line by line), and a failure inside a transaction would
        # abort it
        file_reads = {t: _read_file(store, path) for t, path in files.tables.items()}
        with store.transaction():
            _ingest(store, files, report, present | refused, progress, replace, file_reads)
    except RareflowError as exc:
        if store.caps.persistent and getattr(store, "path", None):
            exc.message += f"; nothing of {root} was stored (the store is as it was before)"
            exc.args = (exc.message,)
        raise
    report.stored = bool(store.caps.persistent and getattr(store, "path", None))
    return report


def _ingest(store: Store, files: DatasetFiles, report: IngestReport, present: set[str],
            progress: Progress | None, replace: bool,
            file_reads: dict[str, RawRead]) -> None:
    if not store.has("ref_products"):
        load_reference(store)
    if not store.has(REJECTS):
        schema = pa.schema([(c, pa.int64() if c == "line" else pa.string())
                            for c in REJECT_COLUMNS])
        store.con.create_table(REJECTS, schema=ibis.schema(schema))
    cert_cache: dict[str, Any] = {}
    run: list[ir.Table] = []
    refused = _refused(files)
    for table in ingest_order():
        if table not in present:
            continue
        if progress:
            progress(table)
        spec = load_contract()[table]
        tr = report.tables.setdefault(table, TableReport(table))
        reads, pre = _raw_reads(store, files, table, cert_cache, file_reads)
        # documents (certificates, FTM entities, EPCIS events) that could not be read: one
        # record each, read and set aside
        docs = [r for r in pre if "_read" not in r and r.get("level") == "reject"]
        tr.read += len(docs)
        tr.rejected += len(docs)
        mine = [r for r in refused if r["table"] == table]
        pre.extend(mine)
        tr.read += len(mine)
        tr.rejected += len(mine)
        rejects: list[ir.Table] = []
        scratch: list[str] = []
        path = files.tables.get(table)
        for read in reads:
            from_file = path is not None and read is reads[-1]
            label = str(path) if from_file else table
            structural = [r for r in pre if r.get("_read") is read]
            header, warns = _header_rejects(read, spec, table, label,
                                            path if from_file else None)
            tr.warnings += len(warns)
            pre.extend(warns)
            tr.read += len(structural)
            tr.rejected += len(structural)
            if header:
                pre.extend(header)
                n = int(store.scalar(read.table.count()))
                tr.read += n
                tr.rejected += n
                continue
            tr.files.append(label)
            n = _load_one(store, read, spec, table, tr, rejects, replace, scratch,
                          label if from_file else None)
            if n == 0 and not structural and from_file and not spec.required_table:
                assert path is not None
                tr.warnings += 1
                pre.append({"table": table, "file": label, "line": 1, "column": "",
                            "value": None, "level": "warning", "reason":
                            f"{path.name} has a header but no rows: "
                            + EMPTY_MEANING.get(table, "the table is empty")})
        rows = [{k: v for k, v in r.items() if k != "_read"} for r in pre]
        report.new_rejects += _record_rejects(store, rejects, rows, run)
        for name in scratch:  # the table's scratch copies: read for the last time above
            store.drop(name)
    _run_rejects(store, report, run)
    derive(store)


def _run_rejects(store: Store, report: IngestReport, run: list[ir.Table]) -> None:
    cols = list(REJECT_COLUMNS)
    if not run:
        report.rejects = pd.DataFrame(columns=cols)
        return
    allr = ibis.union(*run).distinct() if len(run) > 1 else run[0]
    counts = store.to_pandas(allr.group_by("level").aggregate(n=allr.count()))
    by = dict(zip(counts["level"], counts["n"], strict=True))
    report.n_warning_rows = int(sum(v for k, v in by.items() if k in ("warning", "info")))
    report.n_reject_rows = int(sum(v for k, v in by.items() if k not in ("warning", "info")))
    report.rejects = store.to_pandas(
        allr.order_by([ibis.desc(allr.level == "reject"), "file", "line", "column"])
        .limit(PREVIEW))


def _load_one(store: Store, read: RawRead, spec: TableSpec, table: str, tr: TableReport,
              rejects: list[ir.Table], replace: bool = False,
              scratch: list[str] | None = None, file: str | None = None) -> int:
    """Validate and store one raw read; return its number of records.

    One scan types and checks every row (flags, content hash) into a scratch table; one
    aggregate over it counts the rows, each check's failures and, on a table's first load,
    the distinct keys of the good rows; when those are all unique and nothing is stored yet
    (the usual first load), the good rows go straight to the table. Otherwise each good row
    is classified against the batch and the store (new, unchanged, duplicate, conflict).
    The names of the scratch tables go to `scratch` (dropped once the rejects are stored).
    `file`: the one `_file` of every row (a table file), not copied into the scratch table."""
    raw = read.table
    reserved = [c for c in raw.columns if c.startswith("_") and c not in ("_file", "_line")]
    if reserved:
        raw = raw.drop(*reserved)
    v = validate(raw, spec, _parents(store, spec))
    typed_name = store.temp_name(f"{table}_typed")
    if file is None:
        typed = store.materialize(typed_name, v.typed, temp=True)
    else:
        kept = store.materialize(typed_name, v.typed.drop("_file"), temp=True)
        typed = store.with_value(f"{typed_name}_file", kept, "_file", file,
                                 list(v.typed.columns))
    flags = flag_columns(v)
    existing = store.table_or_none(table)
    aggs: dict[str, ir.Value] = {"_n": typed.count(), "_nbad": typed._bad.cast("int64").sum()}
    aggs.update({f: typed[f].cast("int64").sum() for f in flags})
    if existing is None:  # first load: are the good rows' keys unique?
        aggs["_nkeys"] = key_text(typed, spec.key).nunique(where=~typed._bad)
    stats = store.to_pandas(typed.aggregate(**aggs)).fillna(0).iloc[0]
    n, n_bad = int(stats["_n"]), int(stats["_nbad"])
    failing = [i for i, f in enumerate(flags) if stats[f] > 0]
    good = typed.filter(~typed._bad).drop("_bad", *flags) if n_bad else \
        typed.drop("_bad", *flags)
    created = [typed_name] if file is None else [f"{typed_name}_file", typed_name]
    if existing is None and int(stats["_nkeys"]) == n - n_bad:
        # first load of this table and no key twice: every good row is new
        counts = {"new": n - n_bad}
        classified = None
    else:
        cls_name = store.temp_name(f"{table}_cls")
        classified = store.materialize(cls_name, classify(good, spec, existing), temp=True)
        created.append(cls_name)
        counts = dict(store.to_pandas(
            classified.group_by("_status").aggregate(n=classified.count())
        ).itertuples(index=False, name=None))
    n_conflict = int(counts.get("conflict", 0))
    replaced = n_conflict if replace else 0
    tr.read += n
    tr.loaded += int(counts.get("new", 0)) + replaced
    tr.replaced += replaced
    tr.unchanged += int(counts.get("unchanged", 0))
    tr.rejected += n_bad + int(counts.get("duplicate", 0)) + n_conflict - replaced
    tr.warnings += int(sum(stats[flags[i]] for i in failing if v.checks[i].warning))
    if classified is None:
        store.append(table, good)
    else:
        if replaced:
            assert existing is not None
            _supersede(store, table, spec, existing, classified.filter(
                classified._status == "conflict"))
        keep = ["new", "conflict"] if replaced else ["new"]
        new = classified.filter(classified._status.isin(keep)).drop(
            "_status", "_other", "_other_file")
        if counts.get("new", 0) or replaced or existing is None:
            store.append(table, new)
    checks = check_rejects(v, table, failing)
    if checks is not None:
        rejects.append(checks)
    if counts.get("duplicate", 0) or (n_conflict and not replace):
        assert classified is not None
        rejects.append(key_rejects(classified, spec, table))
    if scratch is not None:
        scratch.extend(created)
    return n


def _supersede(store: Store, table: str, spec: TableSpec, existing: ir.Table,
               conflicts: ir.Table) -> None:
    """Move the stored rows that `conflicts` replace into `replaced_<table>`, with when and
    by which file and line they were replaced, then delete them from `table`."""
    c = conflicts.select(_k=key_text(conflicts, spec.key), _replaced_by_file=conflicts._file,
                         _replaced_by_line=conflicts._line)
    old = existing.mutate(_k=key_text(existing, spec.key))
    moved = old.inner_join(c, "_k").select(
        *existing.columns, c._replaced_by_file, c._replaced_by_line,
        _replaced_at=ibis.literal(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
    moved = store.materialize(store.temp_name(f"{table}_moved"), moved, temp=True)
    store.append(f"{REPLACED}{table}", moved)
    store.delete_matching(table, moved, spec.key)
    if store.has(REJECTS):  # the correction settles what earlier runs set aside of these rows
        done = conflicts.select(table=ibis.literal(table), file=conflicts._file.cast("string"),
                                line=conflicts._line.cast("int64"))
        store.delete_matching(REJECTS, done, ("table", "file", "line"))


def _record_rejects(store: Store, parts: list[ir.Table], rows: list[dict[str, Any]],
                   run: list[ir.Table] | None = None) -> int:
    """Add new rejects (deduplicated on table, file, line, column, reason); values become
    short escaped excerpts and reasons are escaped, so no bad input is carried whole."""
    if rows:
        data = {c: [r.get(c) for r in rows] for c in REJECT_COLUMNS}
        data["line"] = [None if v is None else int(v) for v in data["line"]]
        data["value"] = [None if v is None else str(v) for v in data["value"]]
        schema = pa.schema([(c, pa.int64() if c == "line" else pa.string())
                            for c in REJECT_COLUMNS])
        parts.append(store.from_arrow(store.temp_name("pre"), pa.table(data, schema=schema)))
    if not parts:
        return 0
    allr = ibis.union(*[p.select(*REJECT_COLUMNS) for p in parts])
    allr = allr.mutate(value=allr.value.cast("string"))
    name = store.temp_name("rejall")
    store.materialize(name, allr, temp=True)
    allr = store.excerpt_rejects(name).distinct()
    if run is not None:
        run.append(allr)
    existing = store.table_or_none(REJECTS)
    new = allr
    if existing is not None:
        k = ["table", "file", "line", "column", "reason"]
        new = allr.anti_join(existing, k)
    new = store.materialize(store.temp_name("rej"), new, temp=True)
    n = int(store.scalar(new.count()))
    if n or existing is None:
        store.append(REJECTS, new)
    return n
