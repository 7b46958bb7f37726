"""Validated ingest against a bare DuckDB load of the same files, in the same run.

Generates N shipment + flow rows (default 5 million in all), then times
`rareflow ingest` (every contract check, rejects, provenance, content hash) and a bare
`CREATE TABLE AS SELECT * FROM read_csv(...)` of the same files. Prints the ratio
(goal: validated ingest at >= 50% of the bare load's speed) and the peak memory of each
(the process's resident set at its highest, reset between the two where Linux allows).

With `--runs N` the two loads alternate N times (each into a fresh store) and the medians
are compared: on a shared machine one run of each is noisy.

    .venv/bin/python benchmarks/ingest.py [--rows 5000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from rareflow.workspace import Workspace

PARTIES = 2000


def generate(root: Path, rows: int) -> None:
    """Half shipments, half flows, with valid references and licences, written by DuckDB
    itself."""
    root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'P' || i AS party_id, 'Party ' || i AS name,
        CASE WHEN i < 100 THEN 'CN' ELSE 'IN' END AS country,
        CASE WHEN i < 100 THEN 'exporter' ELSE 'importer;manufacturer' END AS roles
        FROM range({PARTIES}) t(i)) TO '{root / 'parties.csv'}' (HEADER)""")
    half = rows // 2
    con.execute(f"""COPY (SELECT 'D' || i AS declaration_id,
        DATE '2024-01-01' + CAST(i % 700 AS INTEGER) AS date,
        'P' || (i % 100) AS exporter_id, 'P' || (100 + i % 1900) AS consignee_id,
        'P' || (100 + i % 1900) AS end_user_id, 'IN' AS destination,
        'ndfeb_magnet' AS product, '8505111000' AS hs_code,
        round(10 + (i % 997) * 1.5, 1) AS net_kg, NULL AS units,
        NULL AS re_kg, NULL AS heavy_re_kg, 1000 + i % 5000 AS value_usd,
        'L' || (i % 1900) AS licence_id, NULL AS certificate_id
        FROM range({half}) t(i)) TO '{root / 'shipments.csv'}' (HEADER)""")
    # one licence per exporter/consignee pair, large enough: an honest world
    con.execute(f"""COPY (SELECT 'L' || j AS licence_id, 'P' || (j % 100) AS exporter_id,
        'P' || (100 + j) AS consignee_id, 'P' || (100 + j) AS end_user_id, 'IN' AS destination,
        'ndfeb_magnet' AS product, 1e12 AS max_kg, DATE '2024-01-01' AS valid_from,
        DATE '2026-12-31' AS valid_to, 'ev_motor' AS end_use, 'civil_use_only' AS conditions
        FROM range(1900) t(j)) TO '{root / 'licences.csv'}' (HEADER)""")
    con.execute(f"""COPY (SELECT 'F' || i AS flow_id,
        DATE '2024-02-01' + CAST(i % 700 AS INTEGER) AS date,
        'P' || (100 + i % 1900) AS from_id, 'P' || (100 + (i * 7) % 1900) AS to_id,
        NULL AS to_country, 'ndfeb_magnet' AS product, round(5 + (i % 991) * 1.1, 1) AS net_kg,
        NULL AS units, NULL AS re_kg, 'D' || i AS source_ref, NULL AS use
        FROM range({rows - half}) t(i)) TO '{root / 'flows.csv'}' (HEADER)""")


def _reset_peak() -> None:
    """Restart the resident-set high-water mark (Linux); elsewhere it keeps the process's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_gib() -> float:
    """The resident set at its highest since the last `_reset_peak`, in GiB."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024**2  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def bare_load(root: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    for name in ("parties", "licences", "shipments", "flows"):
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{root / name}.csv')")
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def validated_load(root: Path, db: Path) -> tuple[float, int]:
    ws = Workspace.open(db)
    t0 = time.perf_counter()
    report = ws.ingest(root)
    elapsed = time.perf_counter() - t0
    ws.close()
    return elapsed, sum(t.loaded for t in report.tables.values())


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=1, help="alternate the two loads N times")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rareflow-bench-"))
    try:
        t0 = time.perf_counter()
        generate(tmp / "data", args.rows)
        print(f"generated {args.rows:,} shipment+flow rows in {time.perf_counter() - t0:.1f} s")
        bares: list[float] = []
        validated: list[float] = []
        peaks = {"bare": 0.0, "ingest": 0.0}
        loaded = 0
        for i in range(max(args.runs, 1)):
            _reset_peak()
            bares.append(bare_load(tmp / "data", tmp / f"bare{i}.duckdb"))
            peaks["bare"] = max(peaks["bare"], _peak_gib())
            _reset_peak()
            took, loaded = validated_load(tmp / "data", tmp / f"rareflow{i}.duckdb")
            peaks["ingest"] = max(peaks["ingest"], _peak_gib())
            validated.append(took)
            for name in (f"bare{i}.duckdb", f"rareflow{i}.duckdb"):
                (tmp / name).unlink(missing_ok=True)
        bare, valid = _median(bares), _median(validated)
        runs = f" (median of {len(bares)})" if len(bares) > 1 else ""
        print(f"bare DuckDB load:        {bare:8.2f} s  ({args.rows / bare:,.0f} rows/s){runs}")
        print(f"rareflow ingest:         {valid:8.2f} s  ({args.rows / valid:,.0f} rows/s,"
              f" {loaded:,} rows loaded){runs}")
        print(f"speed ratio (validated / bare): {bare / valid:.2f}  (goal >= 0.50)")
        print(f"peak memory (RSS): ingest {peaks['ingest']:.2f} GiB, bare load "
              f"{peaks['bare']:.2f} GiB  (goal: ingest < 2 GiB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
