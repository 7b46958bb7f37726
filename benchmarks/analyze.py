"""`analyze` on a synthetic world against one bare DuckDB GROUP BY party, period scan.

Builds about N flow + shipment rows (default 10 million) in a DuckDB store, then times the
analyses (findings, balances, attribution) and one bare `GROUP BY party, period` over the
same rows, in the same run. Prints the ratio (goal <= 3; issue 10: <= 10), peak memory and
the largest result brought into Python (it must not grow with the rows).

With `--engine spark` the same rows are analysed on local PySpark too (default 2 million),
and the findings of the two engines are compared (they must be identical).

    .venv/bin/python benchmarks/analyze.py [--rows 10000000]
    .venv/bin/python benchmarks/analyze.py --engine spark [--rows 2000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from ingest import generate

from rareflow.workspace import AnalysisResult, Workspace


def _bare(ws: Workspace, runs: int = 3) -> float:
    """The baseline: one GROUP BY party, period over the same rows (median of `runs`: on a
    shared machine a single run of under a second is noisy)."""
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ws.store.raw.execute("""SELECT party, period, sum(kg) FROM (
            SELECT consignee_id AS party, strftime(date, '%Y') AS period, net_kg AS kg
            FROM shipments UNION ALL
            SELECT from_id, strftime(date, '%Y'), net_kg FROM flows) GROUP BY ALL""").fetchall()
        took.append(time.perf_counter() - t0)
    return sorted(took)[len(took) // 2]


def _analyse(ws: Workspace, label: str) -> tuple[AnalysisResult, float]:
    t0 = time.perf_counter()
    result = ws.analyze()
    took = time.perf_counter() - t0
    print(f"{label:<28} {took:8.2f} s  ({len(result.findings)} findings, "
          f"{len(result.balances)} balance rows; largest result in Python: "
          f"{ws.store.largest_pull:,} rows)")
    return result, took


def _key(result: AnalysisResult) -> dict[tuple, tuple]:
    return {(f.rule, f.severity, f.subject_id, f.period or ""): (f.kg, f.share, f.message)
            for f in result.findings}


def _compare(duck: AnalysisResult, spark: AnalysisResult) -> None:
    """Same findings (rule, severity, subject, period) on both engines, their kg and share
    within 1e-9 relative (sums of millions of floats in another order), and how many
    messages read the same to the last printed digit."""
    a, b = _key(duck), _key(spark)
    print(f"findings: DuckDB {len(a)}, Spark {len(b)}; same rule, severity, subject and "
          f"period: {set(a) == set(b)}")
    common = set(a) & set(b)

    def close(x: float | None, y: float | None) -> bool:
        return (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-9 * max(
            abs(x), abs(y), 1.0))

    same_kg = sum(close(a[k][0], b[k][0]) and close(a[k][1], b[k][1]) for k in common)
    same_msg = [k for k in common if a[k][2] == b[k][2]]
    print(f"kg and share within 1e-9 relative: {same_kg} of {len(common)}; messages "
          f"identical: {len(same_msg)} of {len(common)}")
    for k in sorted(common - set(same_msg))[:3]:
        print(f"  differs: {k}\n    DuckDB: {a[k][2]}\n    Spark:  {b[k][2]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    args = ap.parse_args()
    rows = args.rows or (2_000_000 if args.engine == "spark" else 10_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="rareflow-bench-"))
    try:
        generate(tmp / "data", rows)
        ws = Workspace.open(tmp / "store.duckdb")
        t0 = time.perf_counter()
        ws.ingest(tmp / "data")
        print(f"ingest of {rows:,} rows (DuckDB): {time.perf_counter() - t0:.1f} s")
        bare = _bare(ws)
        duck, analysed = _analyse(ws, "rareflow analyses (DuckDB):")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"bare GROUP BY party, period:  {bare:8.2f} s  (median of 3)")
        print(f"ratio (analyses / bare scan): {analysed / bare:.1f}  (goal <= 3; issue 10: "
              "<= 10)")
        print(f"peak memory (RSS): {peak:.2f} GiB")
        ws.close()
        if args.engine == "spark":
            sp = Workspace.open(tmp / "warehouse", engine="spark")
            t0 = time.perf_counter()
            sp.ingest(tmp / "data")
            print(f"ingest of {rows:,} rows (Spark): {time.perf_counter() - t0:.1f} s")
            spark, _ = _analyse(sp, "rareflow analyses (Spark):")
            _compare(duck, spark)
            sp.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
