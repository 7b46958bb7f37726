"""Multi-hop lot traces over the trace index, against a DuckDB recursive query, in one run.

Generates N lot-link records (default 10 million) as synthetic supply chains with numpy:
export declarations -> magnet transformations (one or two per declaration) -> motor flows
and scrap flows -> assembly transformations -> final sales (and a tenth also exported), each
declaration under a certificate and a licence. The rows go straight into a DuckDB store in
the schema `rareflow ingest` writes (the ingest itself is measured by benchmarks/ingest.py).

Then: builds the trace index (time, memory, files), reopens it from disk the way a second
`rareflow trace` would, times T random traces (half backward from a random flow or
transformation, half forward from a random declaration, depth-limited to the chain length:
5 hops up, 4 down) and prints p50/p99 latency, and runs the same traces as DuckDB
recursive CTEs over a links table for a baseline (B of each direction), with the ratio.

    .venv/bin/python benchmarks/trace.py [--n 10000000] [--traces 10000] [--baseline 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rareflow.ingest import load_reference
from rareflow.trace import index as trace_index
from rareflow.trace import trace
from rareflow.workspace import Workspace

PARTIES = 2000
LINKS_PER_DECLARATION = 1.5 * (1 + 1 + 1 + 1 + 1.1)  # T1, motor flow, scrap, T2, sales


def _ids(prefix: str, idx: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(idx), pa.string()), "")


def _dates(rng: np.random.Generator, n: int, offset: int = 0) -> pa.Array:
    days = (np.datetime64("2024-01-01") + offset + rng.integers(0, 700, n)).astype("M8[D]")
    return pa.array(days, type=pa.date32())


def _meta(rng: np.random.Generator, n: int, name: str) -> dict[str, pa.Array]:
    return {"_file": pa.repeat(f"synthetic/{name}.csv", n),
            "_line": pa.array(np.arange(2, n + 2)),
            "_hash": pa.array(rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64))}


def _null(n: int, dtype: pa.DataType) -> pa.Array:
    return pa.nulls(n, dtype)


def generate(ws: Workspace, n_links: int, seed: int = 7) -> dict[str, int]:
    """Write parties, licences, shipments, transformations and flows with about `n_links`
    lot-link records (flows with `source_ref` + transformations with `input_ref`)."""
    rng = np.random.default_rng(seed)
    con = ws.store.raw
    load_reference(ws.store)
    n_decl = max(1, int(n_links / LINKS_PER_DECLARATION))
    # parties: 100 exporters, the rest processors
    pidx = np.arange(PARTIES)
    parties = pa.table({
        "party_id": _ids("P", pidx), "name": _ids("Party ", pidx),
        "country": pa.array(np.where(pidx < 100, "CN", "IN")),
        "roles": pa.array(np.where(pidx < 100, "exporter", "importer;manufacturer")),
        **_meta(rng, PARTIES, "parties")})
    d = np.arange(n_decl)
    kg = np.round(rng.uniform(200, 2000, n_decl), 1)
    exporter = rng.integers(0, 100, n_decl)
    maker = rng.integers(100, PARTIES, n_decl)
    n_lic = n_decl // 500 + 1
    licences = pa.table({
        "licence_id": _ids("L", np.arange(n_lic)), "exporter_id": _ids("P", np.arange(n_lic) % 100),
        "consignee_id": _ids("P", 100 + np.arange(n_lic) % 1900),
        "end_user_id": _null(n_lic, pa.string()), "destination": pa.repeat("IN", n_lic),
        "product": pa.repeat("ndfeb_magnet", n_lic), "max_kg": pa.array(np.full(n_lic, 1e9)),
        "valid_from": _dates(rng, n_lic), "valid_to": _dates(rng, n_lic, 700),
        "end_use": pa.repeat("ev_motor", n_lic),
        "conditions": pa.repeat("civil_use_only;no_reexport", n_lic),
        **_meta(rng, n_lic, "licences")})
    shipments = pa.table({
        "declaration_id": _ids("D", d), "date": _dates(rng, n_decl),
        "exporter_id": _ids("P", exporter), "consignee_id": _ids("P", maker),
        "end_user_id": _ids("P", maker), "destination": pa.repeat("IN", n_decl),
        "product": pa.repeat("ndfeb_magnet", n_decl),
        "hs_code": pa.repeat("8505111000", n_decl), "net_kg": pa.array(kg),
        "units": _null(n_decl, pa.float64()), "re_kg": _null(n_decl, pa.float64()),
        "heavy_re_kg": _null(n_decl, pa.float64()), "value_usd": pa.array(kg * 62),
        "licence_id": _ids("L", d // 500), "certificate_id": _ids("EUC-", d // 200),
        **_meta(rng, n_decl, "shipments")})
    # magnet transformations: one or two per declaration (a lot split over two runs)
    split = rng.integers(1, 3, n_decl)
    t1_decl = np.repeat(d, split)
    n_t1 = t1_decl.size
    t1 = np.arange(n_t1)
    t1_in = np.round(kg[t1_decl] / split[t1_decl], 3)
    motors = np.maximum(1, (t1_in * 0.78 / 1.6).astype(np.int64))
    scrap = np.round(t1_in - motors * 1.6, 3)
    t1_maker = maker[t1_decl]
    assembler = rng.integers(100, PARTIES, n_t1)
    # assembly: every motor flow goes into one assembly transformation, sold at home; a
    # tenth also exports a part of its output
    exported = rng.random(n_t1) < 0.1
    n_exp = int(exported.sum())
    export_qty = np.maximum(1, motors // 20)
    home_qty = np.where(exported, motors - export_qty, motors)
    transformations = pa.table({
        "transformation_id": pa.concat_arrays([_ids("T", t1), _ids("A", t1)]),
        "date": pa.concat_arrays([_dates(rng, n_t1, 30), _dates(rng, n_t1, 60)]),
        "party_id": pa.concat_arrays([_ids("P", t1_maker), _ids("P", assembler)]),
        "input_product": pa.concat_arrays([pa.repeat("ndfeb_magnet", n_t1),
                                           pa.repeat("traction_motor", n_t1)]),
        "input_qty": pa.array(np.concatenate([t1_in, motors.astype(float)])),
        "input_ref": pa.concat_arrays([_ids("D", t1_decl), _ids("M", t1)]),
        "output_product": pa.concat_arrays([pa.repeat("traction_motor", n_t1),
                                            pa.repeat("e_scooter", n_t1)]),
        "output_qty": pa.array(np.concatenate([motors, motors]).astype(float)),
        "scrap_kg": pa.array(np.concatenate([scrap, np.zeros(n_t1)])),
        **_meta(rng, 2 * n_t1, "transformations")})
    n_flows = 3 * n_t1 + n_exp
    e = t1[exported]
    flows = pa.table({
        "flow_id": pa.concat_arrays([_ids("M", t1), _ids("X", t1), _ids("S", t1),
                                     _ids("E", e)]),
        "date": _dates(rng, n_flows, 45),
        "from_id": pa.concat_arrays([_ids("P", t1_maker), _ids("P", t1_maker),
                                     _ids("P", assembler), _ids("P", assembler[e])]),
        "to_id": pa.concat_arrays([_ids("P", assembler), _ids("P", (t1_maker + 7) % 1900 + 100),
                                   _null(n_t1, pa.string()), _null(n_exp, pa.string())]),
        "to_country": pa.concat_arrays([_null(3 * n_t1, pa.string()),
                                        pa.repeat("NP", n_exp)]),
        "product": pa.concat_arrays([pa.repeat("traction_motor", n_t1),
                                    pa.repeat("magnet_scrap", n_t1),
                                    pa.repeat("e_scooter", n_t1 + n_exp)]),
        "net_kg": pa.array(np.concatenate([np.full(n_t1, np.nan), scrap,
                                           np.full(n_t1 + n_exp, np.nan)]), from_pandas=True),
        "units": pa.array(np.concatenate([motors, np.full(n_t1, np.nan), home_qty,
                                          export_qty[e]]).astype(float), from_pandas=True),
        "re_kg": _null(n_flows, pa.float64()),
        "source_ref": pa.concat_arrays([_ids("T", t1), _ids("T", t1), _ids("A", t1),
                                        _ids("A", e)]),
        "use": pa.concat_arrays([_null(2 * n_t1, pa.string()),
                                 pa.repeat("ev_motor", (n_t1 + n_exp))]),
        **_meta(rng, n_flows, "flows")})
    products = pa.table({
        "product": ["e_scooter"], "kind": ["final"], "hs_code": ["871160"], "unit": ["unit"],
        "re_kg_per_unit": [0.496], "heavy_re_kg_per_unit": [0.03], "use": ["ev_motor"],
        **_meta(rng, 1, "products")})
    for name, table in (("parties", parties), ("licences", licences), ("shipments", shipments),
                        ("transformations", transformations), ("flows", flows),
                        ("products", products)):
        con.register("_bench_src", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _bench_src")
        con.unregister("_bench_src")
    return {"declarations": n_decl, "transformations": 2 * n_t1, "flows": n_flows,
            "link_records": 2 * n_t1 + n_flows, "licences": n_lic}


def _build(db: Path) -> dict[str, float]:
    """Build and save the index of `db` (run in a child process)."""
    ws = Workspace.open(db)
    t0 = time.perf_counter()
    index = trace_index.open_index(ws.store)
    seconds = time.perf_counter() - t0
    assert index.source == "built"
    links = (index.back_ptr, index.back_idx, index.fwd_ptr, index.fwd_idx)
    ws.close()
    return {"seconds": seconds, "records": index.n_nodes, "links": index.n_links,
            "index_mb": index.nbytes / 2**20,
            "links_mb": sum(a.nbytes for a in links) / 2**20, "peak_mb": _rss_mb()}


def _pct(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="lot-link records to generate")
    ap.add_argument("--traces", type=int, default=10_000, help="random traces to time")
    ap.add_argument("--baseline", type=int, default=100,
                    help="recursive-CTE traces per direction for the baseline")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="rareflow-trace-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    for p in (db, *trace_index.paths(db)):
        p.unlink(missing_ok=True)
    try:
        ws = Workspace.open(db)
        t0 = time.perf_counter()
        counts = generate(ws, args.n, args.seed)
        print(f"generated {counts['link_records']:,} lot-link records "
              f"({counts['transformations']:,} transformations, {counts['flows']:,} flows) "
              f"under {counts['declarations']:,} declarations in "
              f"{time.perf_counter() - t0:.1f} s")

        ws.close()
        # the build in a fresh process, so that its peak memory is its own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            b = pool.submit(_build, db).result()
        arrow_path, npz_path = trace_index.paths(db)
        size_mb = (arrow_path.stat().st_size + npz_path.stat().st_size) / 2**20
        print(f"index built in {b['seconds']:.1f} s (one read of the store, CSR both ways, "
              f"saved): {b['records']:,} records, {b['links']:,} links; index in memory "
              f"{b['index_mb']:,.0f} MB (link arrays {b['links_mb']:,.0f} MB); on disk "
              f"{size_mb:,.0f} MB; peak RSS of the building process {b['peak_mb']:,.0f} MB")

        ws = Workspace.open(db)  # what a second `rareflow trace` does
        t0 = time.perf_counter()
        index = trace_index.open_index(ws.store)
        print(f"index reopened from disk in {time.perf_counter() - t0:.2f} s "
              f"(source: {index.source}; includes the store fingerprint query)")
        assert index.source == "loaded"

        rng = np.random.default_rng(args.seed + 1)
        kinds = index.nodes.column("kind").cast(pa.string())
        linked = np.flatnonzero(np.asarray(pc.is_in(kinds, pa.array(["flow", "transformation"])
                                                    ).combine_chunks()))
        decls = np.flatnonzero(np.asarray(pc.equal(kinds, "shipment").combine_chunks()))
        half = args.traces // 2
        back_starts = [index.id_of(i) for i in rng.choice(linked, half)]
        fwd_starts = [index.id_of(i) for i in rng.choice(decls, args.traces - half)]

        def timed(starts: list[str], direction: str, depth: int) -> tuple[list, list, int]:
            full, walk, reached = [], [], 0
            for s in starts:
                t = time.perf_counter()
                i = index.lookup(s)
                w = index.walk([i], direction, depth, 2000)
                walk.append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                r = trace(index, s, direction, depth)
                full.append((time.perf_counter() - t) * 1e3)
                assert len(r.records) == len(w.parent)
                reached += len(w.parent)
            return full, walk, reached

        bf, bw, bn = timed(back_starts, "backward", 5)
        ff, fw, fn = timed(fwd_starts, "forward", 4)
        allf = bf + ff
        p50, p99 = _pct(allf)
        print(f"{len(allf):,} traces (full: lookup, walk, records, tree, summary): "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(allf):.1f} ms "
              f"(goal p99 <= 50 ms: {'met' if p99 <= 50 else 'NOT met'})")
        for name, f, w, n in (("backward", bf, bw, bn), ("forward", ff, fw, fn)):
            print(f"  {name}: full p50 {_pct(f)[0]:.2f} / p99 {_pct(f)[1]:.2f} ms; "
                  f"walk only p50 {_pct(w)[0]:.3f} / p99 {_pct(w)[1]:.3f} ms; "
                  f"{n / len(f):.1f} records per trace")

        # baseline: the same traces as recursive queries over a links table in DuckDB
        con = ws.store.raw
        t0 = time.perf_counter()
        con.execute("""CREATE OR REPLACE TEMP TABLE _links AS
            SELECT flow_id AS child, source_ref AS parent FROM flows
              WHERE source_ref IS NOT NULL
            UNION ALL SELECT transformation_id, input_ref FROM transformations
              WHERE input_ref IS NOT NULL
            UNION ALL SELECT declaration_id, certificate_id FROM shipments
              WHERE certificate_id IS NOT NULL
            UNION ALL SELECT declaration_id, licence_id FROM shipments
              WHERE licence_id IS NOT NULL""")
        links_s = time.perf_counter() - t0
        sql = {
            "backward": """WITH RECURSIVE up(id, d) AS (SELECT ?::VARCHAR, 0 UNION
                SELECT l.parent, up.d + 1 FROM _links l JOIN up ON l.child = up.id
                WHERE up.d < 5) SELECT count(*) FROM up""",
            "forward": """WITH RECURSIVE down(id, d) AS (SELECT ?::VARCHAR, 0 UNION
                SELECT l.child, down.d + 1 FROM _links l JOIN down ON l.parent = down.id
                WHERE down.d < 4) SELECT count(*) FROM down""",
        }
        base: dict[str, list[float]] = {}
        for direction, starts in (("backward", back_starts), ("forward", fwd_starts)):
            base[direction] = []
            for s in starts[:args.baseline]:
                t = time.perf_counter()
                n = con.execute(sql[direction], [s]).fetchone()[0]
                base[direction].append((time.perf_counter() - t) * 1e3)
                assert n >= 1
        allb = base["backward"] + base["forward"]
        b50, b99 = _pct(allb)
        print(f"baseline: DuckDB recursive CTE over a {index.n_links:,}-row links table "
              f"(built once in {links_s:.1f} s; ids only, no attributes), "
              f"{len(allb)} traces: p50 {b50:.1f} ms, p99 {b99:.1f} ms")
        for direction, ms in base.items():
            print(f"  {direction}: p50 {_pct(ms)[0]:.1f} ms, p99 {_pct(ms)[1]:.1f} ms")
        print(f"ratio (baseline / index, full trace): p50 x{b50 / p50:,.0f}, "
              f"p99 x{b99 / p99:,.0f}; peak RSS {_rss_mb():,.0f} MB")
        ws.close()
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
