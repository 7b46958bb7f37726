"""EPCIS 2.0 reading speed against orjson parsing the same bytes alone, in the same run.

Generates a JSON-LD document of N events (default 1 million) from the demo world's export
(shipping events with lots, transformations, stock counts: the shapes rareflow maps), then
times `rareflow.epcis.reader.read_epcis` (streaming parse, mapping, and the Event Hash ID of
the events that need it: without eventID, or possibly a duplicate; a cheap key per event,
counted as the events come, says which, and the first event of a key that turns out not
to be unique is read again and hashed then) against `orjson.loads` of the same bytes, in
the same run. Prints events/s, the ratio (goal >= 0.30) and peak memory. The machine is shared:
compare ratios, not rates. Trace latency is `benchmarks/trace.py`.

    .venv/bin/python benchmarks/epcis.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import orjson

from rareflow.epcis.mapping import MappingTables
from rareflow.epcis.reader import read_epcis
from rareflow.epcis.writer import export_workspace
from rareflow.workspace import Workspace
from rareflow.world import generate


def build(root: Path, n: int) -> Path:
    """A document of `n` events: the demo's events repeated with fresh ids."""
    generate(root / "demo", seed=7, scenario="demo")
    ws = Workspace.open(None)
    ws.ingest(root / "demo")
    seed = root / "seed.jsonld"
    export_workspace(ws, seed)
    ws.close()
    doc = orjson.loads(seed.read_bytes())
    events = doc["epcisBody"]["eventList"]
    out = root / "big.jsonld"
    with out.open("wb") as f:
        head = {k: v for k, v in doc.items() if k != "epcisBody"}
        f.write(orjson.dumps(head)[:-1] + b',"epcisBody":{"eventList":[')
        for i in range(n):
            ev = dict(events[i % len(events)])
            ev["eventID"] = f"{ev.get('eventID', 'urn:x')}-{i}"
            if "transformationID" in ev:  # one transformation per copy
                ev["transformationID"] = f"{ev['transformationID']}-{i}"
            ev["eventTime"] = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:" \
                              f"{i % 60:02d}:{(i // 60) % 60:02d}.000Z"
            f.write((b"," if i else b"") + orjson.dumps(ev))
        f.write(b"]}}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rareflow-epcis-"))
    try:
        doc = build(tmp, args.events)
        size = doc.stat().st_size
        text = resources.files("rareflow.data").joinpath("products.csv").read_text("utf-8")
        tables = MappingTables.build([], list(csv.DictReader(text.splitlines())))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        t0 = time.perf_counter()
        read = read_epcis([doc], tables)
        took = time.perf_counter() - t0
        rows = sum(t.num_rows for t in read.tables.values())
        # the reader's peak, measured before orjson holds the whole document
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        bares = []
        for _ in range(3):  # the median of three: one run alone is at the mercy of the load
            t0 = time.perf_counter()
            orjson.loads(doc.read_bytes())
            bares.append(time.perf_counter() - t0)
        bare = sorted(bares)[1]
        whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"document: {args.events:,} events, {size / 1e6:,.0f} MB")
        print(f"orjson.loads alone:  {bare:8.2f} s  ({args.events / bare:,.0f} events/s, median "
              "of 3)")
        print(f"rareflow read_epcis: {took:8.2f} s  ({args.events / took:,.0f} events/s, "
              f"{rows:,} rows, {len(read.rejects):,} rejects/warnings)")
        print(f"ratio (read / bare parse): {bare / took:.3f}  (goal >= 0.30)")
        print(f"peak memory (RSS): {peak:.2f} GiB reading ({before:.2f} GiB before; the rows "
              f"read are kept), {whole:.2f} GiB once orjson held the whole document")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
