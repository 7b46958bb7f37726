"""Certificate verification against bare Ed25519, in the same run.

Signs N distinct end-user certificates (default 100,000), each with a proof set (end user +
endorsing authority, eddsa-jcs-2022), then times their verification (keys table,
revocations table, @context and validity checks included) and, as the baseline, bare
`Ed25519PublicKey.verify` over the same signatures and messages (the 64-byte hash data of
each proof). Verification is timed two ways over the same parsed documents:
`verify_certificates` (many at once, as `verify_many` does for `rareflow certificate
verify FOLDER` and `analyze`: the headline) and `verify_certificate` called once per
certificate. One process, one thread: figures are per core, in CPU time of this process
(`time.process_time`), so that other work on a shared machine counts less; wall-clock
figures are printed too. Goal: ratio >= 0.9.

Then the batch path itself (`rareflow.vc.batch.verify_many`): the same certificates
written one file each, read, parsed and verified, in one process and over all the cores
(goal: >= 5,000 two-proof certificates/s on two cores). Wall-clock figures depend on what
else the machine runs, so the CPU time of every process of the run (this one and its
workers) is printed too, and the rate that many cores give when the run has them to itself
(certificates per CPU-second, times the cores: what the pool reaches when nothing else
competes, its own overhead included).

    .venv/bin/python benchmarks/certificates.py [--n 100000] [--chunk 2000] [--workers N]

The three timings of a chunk (batch, one at a time, bare) run one after another, in an
order that rotates from chunk to chunk, so that all see the same machine load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from rareflow.vc import KeyPair, sign_credential
from rareflow.vc import eddsa_jcs as jcs
from rareflow.vc.batch import default_workers, verify_many
from rareflow.vc.multikey import public_key
from rareflow.vc.trust import (
    index_keys,
    index_revocations,
    verify_certificate,
    verify_certificates,
)
from rareflow.world.certs import certificate

END_USERS, AUTHORITIES = 200, 5


def _key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"bench-certificates:{name}".encode()).digest())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="certificates (2 proofs each)")
    ap.add_argument("--chunk", type=int, default=2_000, help="certificates kept in memory")
    ap.add_argument("--workers", type=int, default=default_workers(),
                    help="processes for the batch run [default: the cores]")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rareflow-certs-"))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path) -> None:
    users = [(f"P-IN-{i:04d}", _key(f"user{i}")) for i in range(END_USERS)]
    auths = [(f"GOV-{i}", _key(f"auth{i}")) for i in range(AUTHORITIES)]
    keys = [{"key_id": kp.verification_method, "controller": who,
             "public_key_multibase": kp.public_multibase, "valid_from": "2024-01-01",
             "valid_to": "2027-12-31", "revoked_on": None} for who, kp in users + auths]
    revocations = [{"certificate_id": f"EUC-B-{i:07d}", "date": "2025-01-01",
                    "reason": "benchmark"} for i in range(0, args.n, 997)]

    # Bulk use: index the tables once (verify_certificate also takes the rows themselves,
    # and then scans them on each call: timed separately on the first chunk below)
    key_index, rev_index = index_keys(keys), index_revocations(revocations)
    rows_s = rows_n = 0
    sign_s = 0.0
    valid = invalid = 0
    cpu = dict.fromkeys(("batch", "single", "bare"), 0.0)
    wall = dict.fromkeys(cpu, 0.0)
    proofs = 0
    for number, start in enumerate(range(0, args.n, args.chunk)):
        docs = []
        t0 = time.perf_counter()
        for i in range(start, min(start + args.chunk, args.n)):
            who, eu = users[i % END_USERS]
            gov_id, gov = auths[i % AUTHORITIES]
            doc = certificate(f"EUC-B-{i:07d}", exporter=f"P-CN-{i % 37:03d}", importer=who,
                              end_user=who, country="IN", year=2025, max_kg=100 + i % 9000,
                              use="ev_motor", description=f"traction motors, lot {i}",
                              site="Pune", authority=gov_id)
            doc = sign_credential(doc, eu, "2025-01-10T09:00:00Z")
            docs.append(orjson.dumps(sign_credential(doc, gov, "2025-01-11T10:00:00Z")))
        sign_s += time.perf_counter() - t0
        for i, d in enumerate(docs, start=start):
            (folder / f"EUC-B-{i:07d}.json").write_bytes(d)

        parsed = [json.loads(d) for d in docs]  # as read from files; not timed
        # the baseline's inputs: the same public keys, signatures and signed bytes
        baseline = [(public_key(proof["verificationMethod"].split("#")[1]),
                     jcs.decode_proof_value(proof["proofValue"]), jcs.hash_data(doc, proof))
                    for doc in parsed for proof in doc["proof"]]
        proofs += len(baseline)

        if start == 0:
            t0 = time.perf_counter()
            for doc in parsed:
                verify_certificate(doc, keys, revocations, on_date="2025-06-01")
            rows_s, rows_n = time.perf_counter() - t0, len(parsed)

        def batch(parsed=parsed):
            return verify_certificates(parsed, key_index, rev_index, on_date="2025-06-01")

        def single(parsed=parsed):
            return [verify_certificate(doc, key_index, rev_index, on_date="2025-06-01")
                    for doc in parsed]

        def bare(baseline=baseline):
            for pub, sig, msg in baseline:
                pub.verify(sig, msg)

        runs = [("batch", batch), ("single", single), ("bare", bare)]
        results = {}
        for name, run in runs[number % 3:] + runs[:number % 3]:
            t0, c0 = time.perf_counter(), time.process_time()
            results[name] = run()
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - t0
        assert [v.to_dict() for v in results["batch"]] == [
            v.to_dict() for v in results["single"]], "batch and one-at-a-time results differ"
        for v in results["batch"]:
            if v.valid:
                valid += 1
            else:
                invalid += 1

    n = args.n
    expected_invalid = len(revocations)
    print(f"python {platform.python_version()} on {platform.machine()}, 1 core")
    print(f"certificates: {n:,} ({proofs:,} proofs), valid {valid:,}, invalid {invalid:,} "
          f"(expected {expected_invalid:,} revoked)")
    print(f"sign:      {n / sign_s:10,.0f} certificates/s  ({2 * n / sign_s:,.0f} proofs/s)")
    print(f"verify:    {n / cpu['batch']:10,.0f} certificates/s/core "
          f"({proofs / cpu['batch']:,.0f} proofs/s/core; verify_certificates, many at once)")
    print(f"  one at a time: {n / cpu['single']:,.0f} certificates/s/core "
          f"(verify_certificate per certificate)")
    print(f"  (tables passed as {len(keys)} + {len(revocations)} plain rows, scanned per call: "
          f"{rows_n / rows_s:,.0f} certificates/s)")
    print(f"baseline:  {proofs / cpu['bare']:10,.0f} bare Ed25519 verifications/s/core")
    ratio = cpu["bare"] / cpu["batch"]
    print(f"ratio:     {ratio:10.2f} (proofs/s of full certificate checks / bare "
          "Ed25519 verifications/s, same signatures, CPU time; goal >= 0.90: "
          f"{'met' if ratio >= 0.9 else 'NOT met'})")
    print(f"  one at a time {cpu['bare'] / cpu['single']:.2f}; wall-clock ratio "
          f"{wall['bare'] / wall['batch']:.2f} (one at a time {wall['bare'] / wall['single']:.2f})")
    assert invalid == expected_invalid, "benchmark certificates should all verify"

    # the batch path: files read, parsed and verified, one process then all the cores
    files = sorted(folder.glob("*.json"))
    t0, c0 = time.perf_counter(), time.process_time()
    one = verify_many(files, key_index, rev_index, on_date="2025-06-01", workers=1)
    one_s, one_cpu = time.perf_counter() - t0, time.process_time() - c0
    children = _children_cpu()
    t0, c0 = time.perf_counter(), time.process_time()
    many = verify_many(files, key_index, rev_index, on_date="2025-06-01", workers=args.workers,
                       start_method="fork")  # as `rareflow certificate verify` does
    many_s = time.perf_counter() - t0
    many_cpu = time.process_time() - c0 + _children_cpu() - children  # workers included
    assert [r.to_dict() for r in one] == [r.to_dict() for r in many], "results differ"
    cores = os.cpu_count() or 1
    print(f"batch, 1 process:    {n / one_s:10,.0f} certificates/s (files read, parsed, "
          f"verified; wall clock); {n / one_cpu:,.0f} per CPU-second")
    idle = min(args.workers, cores) * n / many_cpu
    print(f"batch, {args.workers} processes:  {n / many_s:10,.0f} certificates/s "
          f"(x{one_s / many_s:.2f}; wall clock, load average "
          f"{os.getloadavg()[0]:.1f} on {cores} cores)")
    print(f"  {n / many_cpu:,.0f} per CPU-second of all its processes: {idle:,.0f}/s on "
          f"{min(args.workers, cores)} cores to itself (goal >= 5,000 on two cores: "
          f"{'met' if idle >= 5_000 else 'NOT met'}; wall clock here "
          f"{'met' if n / many_s >= 5_000 else 'NOT met'})")


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the pool's workers, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
