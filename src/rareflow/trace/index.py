"""The lot-link index behind `rareflow trace`, built once per store (the walks over it are
`rareflow.trace.walk`).

Every record that can be traced (export declarations, flows, transformations, observations,
certificates, licences) becomes a node; every lot link becomes an edge from the record to
the record it came from: flow `source_ref`, transformation `input_ref`, observation `ref`,
and a shipment's `certificate_id` and `licence_id`. A reference that names no record is kept
as a node of its own (`recorded` false), so a broken chain is visible rather than lost.

The records are read from the engine in one query. Ids are mapped to integers in id order,
and the links are stored as CSR adjacency arrays in both directions (numpy), so a trace of
any depth is a breadth-first walk over arrays, with no query per hop. On a DuckDB file the
index is persisted beside it (`<db>.trace.npz` for the arrays and the parties,
`<db>.trace.arrow` for the node table, memory-mapped on open) and keyed by a fingerprint of
the store (row counts and an order-independent hash of every table it reads), so it is
rebuilt only when an ingest changed the data."""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rareflow.analyses.content import shipment_content
from rareflow.analyses.flow_content import flow_content, transformation_content
from rareflow.analyses.tables import Tables
from rareflow.store.base import Store
from rareflow.store.tables import all_table

INDEX_VERSION = 4
_builds = 0

#: Tables whose content the index depends on (fingerprinted).
SOURCE_TABLES = ("shipments", "flows", "transformations", "observations", "certificates",
                 "certificate_items", "licences", "parties", "products", "ref_products")

#: The node table: one row per record id, in id order.
NODE_SCHEMA = ibis.schema({
    "id": "string", "kind": "string", "subkind": "string", "date": "date",
    "product": "string", "product_kind": "string", "qty": "float64", "unit": "string",
    "content_kg": "float64", "in_product": "string", "in_qty": "float64",
    "in_content_kg": "float64", "scrap_kg": "float64", "from_id": "string", "to_id": "string",
    "to_country": "string", "country": "string", "use": "string", "detail": "string",
})
_PARENTS = ("p_src", "p_cert", "p_lic")
_DICTIONARY = ("kind", "subkind", "product", "product_kind", "unit", "in_product", "from_id",
               "to_id", "to_country", "country", "use")
_RECORD_SCHEMA = ibis.schema({**dict(NODE_SCHEMA.items()), "prio": "int8",
                              **{p: "string" for p in _PARENTS}})
#: Kind given to a reference that names no record, by the column that made it.
_UNRECORDED_KIND = {"p_src": 1, "p_cert": 2, "p_lic": 3}
_UNRECORDED_NAMES = ["", "lot", "certificate", "licence"]


def _rows(t: ir.Table, prio: int, **cols: ir.Value) -> ir.Table:
    out = {}
    for name, dtype in _RECORD_SCHEMA.items():
        if name == "prio":
            out[name] = ibis.literal(prio).cast(dtype)
        elif name in cols:
            out[name] = cols[name].cast(dtype)
        else:
            out[name] = ibis.null(dtype)
    return t.select(**out)


def _date(v: ir.Value) -> ir.DateValue:
    return v.cast("date")


def records_expr(t: Tables) -> ir.Table:
    """Every traceable record with its attributes and the ids it links back to, as one lazy
    expression (executed once by the build)."""
    units = t.products.select(_p=t.products.product, _unit=t.products.unit,
                              _pkind=t.products.kind)
    parts: list[ir.Table] = []
    s = shipment_content(t.shipments, t.products)
    s = s.left_join(units, s.product == units._p).select(s, units._unit)
    parts.append(_rows(
        s, 0, id=s.declaration_id, kind=ibis.literal("shipment"), subkind=ibis.literal("export"),
        date=_date(s.date), product=s.product, product_kind=s.kind,
        qty=ibis.cases((s._unit == "unit", s.units.fill_null(s.net_kg)), else_=s.net_kg),
        unit=s._unit.fill_null("kg"), content_kg=s.content_kg, from_id=s.exporter_id,
        to_id=s.consignee_id, to_country=s.destination, country=s.destination,
        detail=ibis.cases((s.end_user_id.notnull(), ibis.literal("end user ").concat(
            s.end_user_id)), else_=ibis.null("string")), p_cert=s.certificate_id,
        p_lic=s.licence_id))
    f = flow_content(t)
    if f is not None:
        f = f.left_join(units, f.product == units._p).select(f, units._unit)
        parts.append(_rows(
            f, 2, id=f.flow_id, kind=ibis.literal("flow"), date=_date(f.date), product=f.product,
            product_kind=f.kind, qty=f.qty, unit=f._unit.fill_null("kg"),
            content_kg=f.content_kg, from_id=f.from_id, to_id=f.to_id, to_country=f.to_country,
            country=f.dest_country, use=f.use, p_src=f.source_ref))
    x = transformation_content(t)
    if x is not None:
        x = x.left_join(units, x.output_product == units._p).select(x, units._unit,
                                                                    units._pkind)
        parts.append(_rows(
            x, 1, id=x.transformation_id, kind=ibis.literal("transformation"),
            date=_date(x.date), product=x.output_product, product_kind=x._pkind,
            qty=x.output_qty, unit=x._unit.fill_null("kg"), content_kg=x.output_kg,
            in_product=x.input_product, in_qty=x.input_qty, in_content_kg=x.input_kg,
            scrap_kg=x.scrap_kg, from_id=x.party_id, p_src=x.input_ref))
    if t.observations is not None:
        o = t.observations
        parts.append(_rows(
            o, 3, id=o.obs_id, kind=ibis.literal("observation"), subkind=o.kind,
            date=_date(o.date), from_id=o.party_id, detail=o.detail, p_src=o.ref))
    if t.certificates is not None:
        c = t.certificates
        docs = c.group_by("certificate_id").aggregate(
            subkind=c.kind.arbitrary(), date=_date(c.issued.min()),
            from_id=c.end_user_id.arbitrary(), to_id=c.importer_id.arbitrary(),
            country=c.country.arbitrary(), use=c.end_use.arbitrary(),
            detail=c.commitments.arbitrary(), n_docs=c.count())
        if t.certificate_items is not None:
            it = t.certificate_items
            per_doc = it.group_by(["certificate_id", "document_hash"]).aggregate(
                kg=it.max_kg.sum(), product=it.product.arbitrary())
            items = per_doc.group_by("certificate_id").aggregate(
                _kg=per_doc.kg.max(), _product=per_doc.product.arbitrary())
            items = items.rename(_cid="certificate_id")
            docs = docs.left_join(items, docs.certificate_id == items._cid).select(
                docs, items._kg, items._product)
        else:
            docs = docs.mutate(_kg=ibis.null("float64"), _product=ibis.null("string"))
        parts.append(_rows(
            docs, 4, id=docs.certificate_id, kind=ibis.literal("certificate"),
            subkind=docs.subkind, date=docs.date, product=docs._product, qty=docs._kg,
            unit=ibis.literal("kg"), from_id=docs.from_id, to_id=docs.to_id,
            country=docs.country, use=docs.use,
            detail=ibis.cases((docs.n_docs > 1, docs.n_docs.cast("string").concat(
                " documents under this number; ", docs.detail.fill_null(""))),
                else_=docs.detail)))
    if t.licences is not None:
        lic = t.licences
        parts.append(_rows(
            lic, 5, id=lic.licence_id, kind=ibis.literal("licence"), subkind=ibis.literal(
                "export_licence"), date=_date(lic.valid_from), product=lic.product,
            qty=lic.max_kg, unit=ibis.literal("kg"), from_id=lic.exporter_id,
            to_id=lic.consignee_id, to_country=lic.destination, country=lic.destination,
            use=lic.end_use, detail=lic.conditions))
    return ibis.union(*parts, distinct=False)


def fingerprint(store: Store) -> str:
    """Row counts and an order-independent hash of every table the index reads, in one
    query: changes whenever an ingest adds or changes rows."""
    parts = []
    for name in SOURCE_TABLES:
        t = store.table_or_none(name)
        if t is None:
            continue
        # an order-independent sum of the row hashes, kept small so that no engine overflows
        # (Spark's ANSI mode raises on a long overflow; bit_xor does not compile there)
        h = ((t._hash % 1_000_000_007).sum().fill_null(0) if "_hash" in t.columns
             else ibis.literal(0, "int64"))
        parts.append(t.aggregate(name=ibis.literal(name), n=t.count(), h=h.cast("int64")))
    if not parts:
        return f"v{INDEX_VERSION}:empty"
    rows = store.to_pandas(ibis.union(*parts, distinct=False)).sort_values("name")
    text = json.dumps([[r.name, int(r.n), int(r.h) if r.h == r.h else 0]
                       for r in rows.itertuples(index=False)])
    return f"v{INDEX_VERSION}:" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _csr(src: np.ndarray, dst: np.ndarray, n: int, *, presorted: bool = False
         ) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency of `src -> dst` as (indptr, indices), neighbours in id order (the pairs
    are given ordered by dst within src, or by src within dst when not `presorted`)."""
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    if presorted:
        return indptr, dst.astype(dtype)
    return indptr, dst[np.argsort(src, kind="stable")].astype(dtype)


class _Ids(Sequence):
    """The sorted id column as a sequence of str, for `bisect`."""

    def __init__(self, ids: pa.Array) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):  # type: ignore[override]
        return self.ids[i].as_py()


@dataclass
class TraceIndex:
    """Nodes (an Arrow table in id order) and CSR links in both directions:
    `back` = record -> records it came from, `fwd` = record -> records made from it."""

    fingerprint: str
    nodes: pa.Table
    back_ptr: np.ndarray
    back_idx: np.ndarray
    fwd_ptr: np.ndarray
    fwd_idx: np.ndarray
    parties: dict[str, tuple[str, str]]
    source: str = "built"  # built | loaded | cached

    def __post_init__(self) -> None:
        if any(c.num_chunks > 1 for c in self.nodes.columns):
            self.nodes = self.nodes.combine_chunks()  # take() on chunks would concatenate
        ids = self.nodes.column("id")
        self._ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        self._seq = _Ids(self._ids)

    @property
    def n_nodes(self) -> int:
        return self.nodes.num_rows

    @property
    def n_links(self) -> int:
        return int(self.back_idx.size)

    @property
    def nbytes(self) -> int:
        arrays = (self.back_ptr, self.back_idx, self.fwd_ptr, self.fwd_idx)
        return int(sum(a.nbytes for a in arrays) + self.nodes.nbytes)

    def lookup(self, record_id: str) -> int | None:
        """The node number of an id, or None (binary search over the sorted ids)."""
        i = bisect.bisect_left(self._seq, record_id)
        return i if i < len(self._seq) and self._seq[i] == record_id else None

    def id_of(self, i: int) -> str:
        return self._ids[int(i)].as_py()

    def neighbours(self, i: int, direction: str) -> np.ndarray:
        ptr, idx = (self.back_ptr, self.back_idx) if direction == "backward" else (
            self.fwd_ptr, self.fwd_idx)
        return idx[ptr[i]:ptr[i + 1]]

    def records(self, nodes: Sequence[int] | np.ndarray) -> list[dict[str, Any]]:
        """The attributes of some nodes, in the order given."""
        if len(nodes) == 0:
            return []
        rows = self.nodes.take(pa.array(np.asarray(nodes, dtype=np.int64))).to_pylist()
        for r in rows:
            if r["date"] is not None:
                r["date"] = r["date"].isoformat()
        return rows

    def walk(self, starts: Sequence[int], direction: str, depth: int | None = None,
             max_nodes: int | None = None) -> Walk:
        """Breadth-first walk from `starts` along `direction` ('backward' or 'forward'), at
        most `depth` hops and `max_nodes` nodes: array lookups only."""
        ptr, idx = (self.back_ptr, self.back_idx) if direction == "backward" else (
            self.fwd_ptr, self.fwd_idx)
        parent: dict[int, int] = {int(s): -1 for s in starts}
        level: dict[int, int] = dict.fromkeys(parent, 0)
        links: list[tuple[int, int]] = []
        frontier = np.fromiter(parent, dtype=np.int64, count=len(parent))
        hop, truncated = 0, False
        while frontier.size and (depth is None or hop < depth):
            lo, hi = ptr[frontier], ptr[frontier + 1]
            counts = hi - lo
            total = int(counts.sum())
            if not total:
                break
            src = np.repeat(frontier, counts)
            pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            dst = idx[np.repeat(lo, counts) + pos]
            hop += 1
            nxt = []
            for a, b in zip(src.tolist(), dst.tolist(), strict=True):
                links.append((a, b))
                if b in parent:
                    continue
                if max_nodes is not None and len(parent) >= max_nodes:
                    truncated = True
                    links.pop()
                    break
                parent[b] = a
                level[b] = hop
                nxt.append(b)
            if truncated:
                break
            frontier = np.asarray(nxt, dtype=np.int64)
        if not truncated and frontier.size and depth is not None and hop >= depth:
            truncated = bool((ptr[frontier + 1] - ptr[frontier]).any())
        return Walk(direction=direction, parent=parent, level=level, links=links,
                    truncated=truncated)

    # --- persistence --------------------------------------------------------------------
    def save(self, db: Path) -> None:
        arrow_path, npz_path = paths(db)
        meta = {b"rareflow_trace": self.fingerprint.encode()}
        table = self.nodes.replace_schema_metadata(meta)
        tmp = arrow_path.with_name(arrow_path.name + f".{os.getpid()}.tmp")
        # one record batch (see __post_init__): a memory-mapped take() is then a few reads
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table, max_chunksize=max(table.num_rows, 1))
        os.replace(tmp, arrow_path)
        pids = sorted(self.parties)
        tmp_npz = npz_path.with_name(npz_path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp_npz, fingerprint=np.array(self.fingerprint),
                 version=np.array(INDEX_VERSION), back_ptr=self.back_ptr,
                 back_idx=self.back_idx, fwd_ptr=self.fwd_ptr, fwd_idx=self.fwd_idx,
                 party_id=np.array(pids, dtype=str),
                 party_name=np.array([self.parties[p][0] for p in pids], dtype=str),
                 party_country=np.array([self.parties[p][1] for p in pids], dtype=str))
        os.replace(tmp_npz, npz_path)

    @classmethod
    def load(cls, db: Path, expected: str) -> TraceIndex | None:
        """The index persisted beside `db`, if it was built from data with fingerprint
        `expected`; None otherwise."""
        arrow_path, npz_path = paths(db)
        if not (arrow_path.exists() and npz_path.exists()):
            return None
        try:
            with np.load(npz_path, allow_pickle=False) as z:
                if str(z["fingerprint"]) != expected or int(z["version"]) != INDEX_VERSION:
                    return None
                arrays = {k: z[k] for k in ("back_ptr", "back_idx", "fwd_ptr", "fwd_idx")}
                parties = {str(p): (str(n), str(c)) for p, n, c in
                           zip(z["party_id"], z["party_name"], z["party_country"],
                               strict=True)}
            nodes = pa.ipc.open_file(pa.memory_map(str(arrow_path), "r")).read_all()
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            return None
        meta = nodes.schema.metadata or {}
        if meta.get(b"rareflow_trace", b"").decode() != expected:
            return None
        return cls(fingerprint=expected, nodes=nodes, parties=parties, source="loaded",
                   **arrays)


@dataclass
class Walk:
    """The result of a walk: each reached node's tree parent (-1 for a start) and hop count,
    and every link followed (including those to nodes already reached)."""

    direction: str
    parent: dict[int, int]
    level: dict[int, int]
    links: list[tuple[int, int]]
    truncated: bool


def build_count() -> int:
    """How many times an index was built from the engine in this process (loading a
    persisted index or reusing an open one does not count): shows that a second open reused
    the index."""
    return _builds


def paths(db: Path) -> tuple[Path, Path]:
    db = Path(db)
    return db.with_name(db.name + ".trace.arrow"), db.with_name(db.name + ".trace.npz")


def build(store: Store, fp: str | None = None) -> TraceIndex:
    """Read every record once from the engine and build the index (not persisted here)."""
    global _builds
    from rareflow.errors import DatasetError

    if not store.has("parties") or not store.has("shipments"):
        raise DatasetError("the store holds no dataset yet: ingest one first")
    fp = fp or fingerprint(store)
    names = list(Tables.__dataclass_fields__)
    t = Tables(**{n: all_table(store, n) for n in names})
    recs = store.to_arrow(records_expr(t))
    parties = store.to_arrow(t.parties.select("party_id", "name", "country"))
    _builds += 1
    index = from_records(recs, fp)
    index.parties = {p: (n or "", c or "") for p, n, c in zip(
        parties.column("party_id").to_pylist(), parties.column("name").to_pylist(),
        parties.column("country").to_pylist(), strict=True)}
    return index


def _small_dictionary(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A string column as a dictionary with the narrowest index type that fits."""
    enc = pc.dictionary_encode(col)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    size = len(enc.dictionary)
    width = pa.int8() if size < 2**7 else pa.int16() if size < 2**15 else pa.int32()
    return enc.cast(pa.dictionary(width, pa.string()))


def from_records(recs: pa.Table, fp: str) -> TraceIndex:
    """Map ids to integers (in id order), pick one record per id, and build the CSR links.
    Works column by column on integer codes so that the peak memory stays a small multiple
    of the records read."""
    n_rec = recs.num_rows
    # every id, and every id a record names, to a dense code: one hash pass
    everything = pa.chunked_array(
        [c.cast(pa.large_string()) for name in ("id", *_PARENTS)
         for c in recs.column(name).chunks], type=pa.large_string())
    enc = pc.dictionary_encode(everything).combine_chunks()
    del everything
    dictionary = enc.dictionary
    codes = np.asarray(enc.indices.fill_null(-1))
    del enc
    n = len(dictionary)
    itype = np.int32 if n < 2**31 - 1 else np.int64
    order = np.asarray(pc.sort_indices(dictionary))
    ids = dictionary.take(pa.array(order))  # node number = rank of the id
    del dictionary
    rank = np.empty(n, dtype=itype)
    rank[order] = np.arange(n, dtype=itype)
    del order
    ix = rank[np.maximum(codes, 0)]
    ix[codes < 0] = -1
    del codes, rank
    rec_ix = ix[:n_rec]
    # one record per id: the first table in priority order (shipments, transformations, ...)
    prio = np.asarray(recs.column("prio").fill_null(9).combine_chunks())
    by = np.lexsort((prio, rec_ix))
    sorted_ix = rec_ix[by]
    first = np.ones(n_rec, dtype=bool)
    first[1:] = sorted_ix[1:] != sorted_ix[:-1]
    rows = by[first]
    del by, sorted_ix, first, prio
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[rec_ix[rows]] = rows
    kinds = np.zeros(n, dtype=np.int8)
    keys = []
    for k, p in enumerate(_PARENTS, start=1):
        par = ix[k * n_rec:(k + 1) * n_rec][rows]
        keep = par >= 0
        # one int64 key per link, ordered by (child, parent) once sorted
        keys.append(rec_ix[rows][keep].astype(np.int64) * max(n, 1) + par[keep])
        unrec = par[keep][row_of[par[keep]] < 0]
        kinds[unrec[kinds[unrec] == 0]] = _UNRECORDED_KIND[p]
    del ix, rec_ix, rows
    key = np.unique(np.concatenate(keys))
    del keys
    child, parent = (key // max(n, 1)).astype(itype), (key % max(n, 1)).astype(itype)
    del key
    back_ptr, back_idx = _csr(child, parent, n, presorted=True)
    fwd_ptr, fwd_idx = _csr(parent, child, n)
    del child, parent
    # the node table: low-cardinality text as small dictionaries before the take
    attrs = recs.select([c for c in NODE_SCHEMA.names if c not in ("id", "kind")])
    for name in _DICTIONARY:
        if name != "kind":
            attrs = attrs.set_column(attrs.schema.get_field_index(name), name,
                                     _small_dictionary(attrs.column(name)))
    missing = row_of < 0
    take = pa.array(row_of, mask=missing)
    del row_of
    unrecorded = pa.DictionaryArray.from_arrays(
        pa.array(kinds), pa.array(_UNRECORDED_NAMES)).cast(pa.string())
    kind = pc.coalesce(_small_dictionary(recs.column("kind")).take(take).cast(pa.string()),
                       unrecorded)
    nodes = attrs.take(take).combine_chunks()
    nodes = nodes.add_column(0, "id", ids)
    nodes = nodes.add_column(1, "kind", _small_dictionary(kind))
    nodes = nodes.append_column("recorded", pa.array(~missing))
    return TraceIndex(fingerprint=fp, nodes=nodes, back_ptr=back_ptr, back_idx=back_idx,
                      fwd_ptr=fwd_ptr, fwd_idx=fwd_idx, parties={})


_CACHE: weakref.WeakKeyDictionary[Store, TraceIndex] = weakref.WeakKeyDictionary()


def open_index(store: Store, *, persist: bool = True) -> TraceIndex:
    """The store's index: the one already open if the data did not change, else the one
    persisted beside the DuckDB file if its fingerprint matches, else a new build (saved
    beside the file when `persist`)."""
    fp = fingerprint(store)
    cached = _CACHE.get(store)
    if cached is not None and cached.fingerprint == fp:
        cached.source = "cached"
        return cached
    db = getattr(store, "path", None)
    index = TraceIndex.load(db, fp) if db is not None else None
    if index is None:
        index = build(store, fp)
        if persist and db is not None:
            index.save(db)
    _CACHE[store] = index
    return index
