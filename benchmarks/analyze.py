"""`analyze` on a synthetic world against one bare DuckDB GROUP BY party, period scan.

Builds about N flow + shipment rows (default 10 million) in a DuckDB store, then times the
analyses (findings, balances, attribution) and one bare `GROUP BY party, period` over the
same rows, in the same run. Prints the ratio (goal <= 3) and peak memory.

    .venv/bin/python benchmarks/analyze.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from ingest import generate

from rareflow.workspace import Workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rareflow-bench-"))
    try:
        generate(tmp / "data", args.rows)
        ws = Workspace.open(tmp / "store.duckdb")
        t0 = time.perf_counter()
        ws.ingest(tmp / "data")
        print(f"ingest of {args.rows:,} rows: {time.perf_counter() - t0:.1f} s")
        raw = ws.store.raw
        t0 = time.perf_counter()
        raw.execute("""SELECT party, period, sum(kg) FROM (
            SELECT consignee_id AS party, strftime(date, '%Y') AS period, net_kg AS kg
            FROM shipments UNION ALL
            SELECT from_id, strftime(date, '%Y'), net_kg FROM flows) GROUP BY ALL""").fetchall()
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = ws.analyze()
        analysed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"bare GROUP BY party, period: {bare:8.2f} s")
        print(f"rareflow analyses:           {analysed:8.2f} s  ({len(result.findings)} findings,"
              f" {len(result.balances)} balance rows)")
        print(f"ratio (analyses / bare scan): {analysed / bare:.1f}  (goal <= 3)")
        print(f"peak memory (RSS): {peak:.2f} GiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
