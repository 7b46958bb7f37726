"""The report at scale: its size and the time headless Chromium takes to draw it.

Builds about N flow + shipment rows (default 10 million; the world of `benchmarks/ingest.py`),
ingests and analyses them, writes the outputs (`write_outputs`, as `rareflow analyze` does)
and prints the size of `report.html` (goal: under 5 MB), of the CSV files beside it, and the
time Chromium takes to load the page, run its scripts and draw it into a screenshot, against
the same for an empty page in the same run (the baseline: Chromium's own start-up). Goal:
the report's draw time minus the empty page's under 5 s.

    .venv/bin/python benchmarks/report.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest import generate

from rareflow.outputs.writer import write_outputs
from rareflow.workspace import Workspace

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,2000", "--virtual-time-budget=10000"]


def draw(chromium: str, page: Path, tmp: Path, runs: int) -> float:
    """Median seconds for Chromium to load `page`, run its scripts and screenshot it."""
    took = []
    for i in range(runs):
        shot = tmp / f"shot-{page.stem}-{i}.png"
        t0 = time.perf_counter()
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp / f'profile-{i}'}",
                        f"--screenshot={shot}", page.as_uri()], check=True,
                       capture_output=True, timeout=600)
        took.append(time.perf_counter() - t0)
        if not shot.exists():
            raise SystemExit(f"chromium wrote no screenshot of {page}")
    return sorted(took)[len(took) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    tmp = Path(tempfile.mkdtemp(prefix="rareflow-report-"))
    try:
        t0 = time.perf_counter()
        generate(tmp / "data", args.rows)
        ws = Workspace.open(tmp / "store.duckdb")
        ws.ingest(tmp / "data")
        result = ws.analyze()
        print(f"{args.rows:,} rows generated, ingested and analysed in "
              f"{time.perf_counter() - t0:.0f} s ({len(result.findings):,} findings, "
              f"{len(result.balances):,} balance rows)")
        t0 = time.perf_counter()
        paths = write_outputs(result, tmp / "out", dataset=str(tmp / "data"),
                              generated_at=datetime.now(UTC).isoformat(timespec="seconds"))
        ws.close()
        print(f"outputs written in {time.perf_counter() - t0:.1f} s")
        for name, path in sorted(paths.items()):
            print(f"  {name:<26} {path.stat().st_size / 1e6:10.2f} MB")
        report = paths["report.html"]
        size = report.stat().st_size / 1e6
        print(f"report.html: {size:.2f} MB (goal < 5 MB)")
        if chromium is None:
            print("chromium not found: draw time not measured")
            return
        empty = tmp / "empty.html"
        empty.write_text("<!doctype html><title>empty</title><p>empty</p>")
        base = draw(chromium, empty, tmp, args.runs)
        page = draw(chromium, report, tmp, args.runs)
        print(f"chromium, empty page:   {base:6.2f} s (median of {args.runs})")
        print(f"chromium, report.html:  {page:6.2f} s (median of {args.runs})")
        print(f"draw time of the report (difference): {page - base:.2f} s (goal < 5 s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
