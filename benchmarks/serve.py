"""`rareflow serve` under load: the server on localhost, C concurrent clients for S seconds.

Starts `rareflow serve` (a subprocess, as a user would) on a private copy of a store (the
demo world's by default: generated and ingested into a temporary folder), gives an officer
an API token, then runs C clients (asyncio + httpx, one connection each) that request the
pages a caseworker opens (dashboard, findings list and filtered list, a finding, a party,
a certificate, the applications queue, the JSON findings) in turn for S seconds. Prints
requests, errors (a status other than 200, or no answer), throughput, and p50/p99 latency
per page and overall; and, as the baseline measured in the same run the same way, a static
file's p50/p99 (the ratio says what the pages cost over the server's bare round trip); and
the server process's CPU time per request, pages and static file (Linux /proc: what the
server spent, whatever else loads the machine).
Goal of issue 13: p99 under 200 ms and no error on the demo store with 50 clients.

    .venv/bin/python benchmarks/serve.py [--db STORE] [--clients 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

BIN = Path(sys.executable).parent


def demo_store(root: Path) -> Path:
    from rareflow.workspace import Workspace
    from rareflow.world import generate

    generate(root / "data", seed=7, scenario="demo")
    db = root / "rareflow.duckdb"
    w = Workspace.open(db)
    try:
        w.ingest(root / "data")
    finally:
        w.close()
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_users(db: Path) -> str:
    from sqlalchemy import select

    from rareflow.web.app import default_app_db
    from rareflow.web.auth import add_user, new_token
    from rareflow.web.models import User, open_app_db

    with open_app_db(default_app_db(db))() as s:
        user = s.scalar(select(User).where(User.name == "bench-officer")) or add_user(
            s, "bench-officer", "officer", "bench-password")
        token = new_token(s, user, "benchmark")
        s.commit()
    return token


async def client(base: str, token: str, urls: list[tuple[str, str]], until: float,
                 out: dict[str, list[float]], errors: list[str], offset: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(max_connections=1)) as c:
        i = offset
        while time.perf_counter() < until:
            name, url = urls[i % len(urls)]
            i += 1
            t = time.perf_counter()
            try:
                r = await c.get(url)
                ok = r.status_code == 200
                if not ok:
                    errors.append(f"{url}: {r.status_code}")
            except httpx.HTTPError as exc:
                ok = False
                errors.append(f"{url}: {type(exc).__name__}")
            if ok:
                out.setdefault(name, []).append(time.perf_counter() - t)


async def load(base: str, token: str, urls: list[tuple[str, str]], clients: int,
               seconds: float) -> tuple[dict[str, list[float]], list[str], float]:
    out: dict[str, list[float]] = {}
    errors: list[str] = []
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(*(client(base, token, urls, until, out, errors, k)
                           for k in range(clients)))
    return out, errors, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): what the server spent,
    whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="a store (copied; default: the demo world's)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rareflow-serve-bench-"))
    server = None
    try:
        t = time.perf_counter()
        if args.db:
            db = root / "rareflow.duckdb"
            shutil.copy(args.db, db)
        else:
            db = demo_store(root)
        print(f"store {db} ready in {time.perf_counter() - t:.1f} s")
        token = setup_users(db)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "rareflow"), "serve", "--db", str(db),
                                   "--port", str(port)], stdout=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        t = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - t > 300:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        print(f"server up in {time.perf_counter() - t:.1f} s (the first analysis)")
        h = {"Authorization": f"Bearer {token}"}
        found = httpx.get(f"{base}/api/findings", headers=h).json()["findings"]
        fid = found[0]["id"]
        party = next((f["subject_id"] for f in found if f["subject_type"] == "party"),
                     None)
        cert = next((f["subject_id"] for f in found if f["subject_type"] == "certificate"),
                    None)
        urls = [("dashboard", "/"), ("findings", "/findings"),
                ("findings?rule", f"/findings?rule={found[0]['rule']}"),
                ("finding", f"/findings/{fid}"), ("applications", "/applications"),
                ("api/findings", "/api/findings")]
        if party:
            urls.append(("party", f"/parties/{party}"))
        if cert:
            urls.append(("certificate", f"/certificates/{cert}"))
        for _name, url in urls:  # each page once: built on first use, as after a restart
            httpx.get(f"{base}{url}", headers=h, timeout=60)
        cpu0 = cpu_seconds(server.pid)
        base_out, base_err, _ = asyncio.run(load(base, token, [("static", "/static/style.css")],
                                                 args.clients, min(5.0, args.seconds)))
        cpu1 = cpu_seconds(server.pid)
        out, errors, took = asyncio.run(load(base, token, urls, args.clients, args.seconds))
        cpu2 = cpu_seconds(server.pid)
        allx = [x for xs in out.values() for x in xs]
        n = len(allx) + len(errors)
        print(f"\n{args.clients} clients, {took:.1f} s: {n} requests, {len(errors)} errors, "
              f"{len(allx) / took:.0f} pages/s")
        print(f"{'page':<16}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}")
        for name, xs in sorted(out.items()):
            print(f"{name:<16}{len(xs):>7}{ms(xs, 50):>10.1f}{ms(xs, 99):>10.1f}")
        print(f"{'all pages':<16}{len(allx):>7}{ms(allx, 50):>10.1f}{ms(allx, 99):>10.1f}")
        st = base_out.get("static", [])
        print(f"{'baseline static':<16}{len(st):>7}{ms(st, 50):>10.1f}{ms(st, 99):>10.1f}"
              f"   ({len(base_err)} errors)")
        print(f"ratio pages/static: p50 {ms(allx, 50) / ms(st, 50):.1f}, "
              f"p99 {ms(allx, 99) / ms(st, 99):.1f}")
        n_static = len(st) + len(base_err)
        print(f"server CPU per request: pages {(cpu2 - cpu1) / max(n, 1) * 1000:.2f} ms, "
              f"static {(cpu1 - cpu0) / max(n_static, 1) * 1000:.2f} ms")
        goal = ms(allx, 99) < 200 and not errors
        print(f"goal (p99 < 200 ms, no error): {'met' if goal else 'NOT met'}")
        for e in sorted(set(errors))[:10]:
            print("  error:", e)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
