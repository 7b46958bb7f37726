"""Verifying many certificates at once: in this process for a small batch, over a pool of
worker processes (one per core) for a large one.

Ed25519 verification holds the GIL, so threads do not help; processes do. Starting them
costs a fixed time (a fresh interpreter per worker, the tables sent once to each), which a
batch pays back only above `PARALLEL_MIN` certificates (measured with
`benchmarks/certificates.py`). The results do not depend on the number of workers: each
certificate is checked by the same pure function (`verify_certificate`) and the results
come back in the order of the input.

An item is a certificate as parsed JSON (a dict), as JSON text (str or bytes), or a path to
read; a text or a file that cannot be read gives an `Unreadable` in its place, never an
exception.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from rareflow import safejson
from rareflow.errors import RareflowError
from rareflow.vc.trust import Verification, index_keys, index_revocations, verify_certificate

__all__ = ["PARALLEL_MIN", "Unreadable", "default_workers", "verify_many"]

# Below this many certificates one process is faster. Measured on the 2-core development
# machine (batches of 200 to 2,000 certificates, one process against two): a
# pool of two forked workers costs about 0.1 s to start and feed, the time one core needs
# for about 300 two-proof certificates at 0.3 ms each, so two cores pay from about 700; a
# forkserver pool (when this process has DuckDB loaded, as `analyze` does) costs about
# 0.45 s the first time, paid back from about 3,000.
PARALLEL_MIN = 1_000  # forked workers
PARALLEL_MIN_FORKSERVER = 3_000
CHUNK = 256  # certificates per task sent to a worker
ENGINES = ("duckdb", "pyspark")  # modules whose threads rule out forking the workers

Item = Mapping | str | bytes | Path
When = date | datetime | str
Progress = Callable[[int], None]  # called with the number of certificates just finished


@dataclass(frozen=True)
class Unreadable:
    """An item that could not be read as a certificate: `message` names it and says why."""

    message: str


@dataclass(frozen=True)
class _Job:
    keys: Mapping | None
    revocations: Mapping | None
    on_date: When
    allowed_contexts: tuple[str, ...] | None
    status_lists: Mapping[str, Mapping] | None


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _loads(text: str, source: str) -> object:
    """`safejson.loads`, without measuring the depth of a text that cannot be that deep
    (no more brackets than the limit: the common case, counted at C speed)."""
    if text.count("{") + text.count("[") <= safejson.MAX_DEPTH \
            and len(text) <= safejson.MAX_BYTES:
        return json.loads(text)
    return safejson.loads(text, source=source)


def _parse(item: Item) -> Mapping | Unreadable:
    """The certificate of an item, or why it cannot be read (worded as
    `safejson.load_file` words it for one file)."""
    if isinstance(item, Mapping):
        return item
    where = str(item) if isinstance(item, Path) else "(certificate)"
    try:
        data = safejson.read_bytes(item) if isinstance(item, Path) else item
    except FileNotFoundError:
        return Unreadable(f"cannot read {where}: certificate not found")
    except IsADirectoryError:
        return Unreadable(f"cannot read {where}: certificate is a folder, not a file")
    except OSError as exc:
        return Unreadable(f"cannot read {where}: certificate: {exc.strerror or exc}")
    except RareflowError as exc:  # over the size limit
        return Unreadable(exc.message)
    if not isinstance(data, str | bytes):
        return Unreadable(f"cannot read {where}: certificate is not a JSON object")
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        return Unreadable(f"cannot read {where}: certificate is not UTF-8 text ({exc})")
    try:
        doc = _loads(text, where)
    except RareflowError as exc:  # over the depth limit
        return Unreadable(exc.message)
    except ValueError as exc:  # JSONDecodeError
        return Unreadable(f"cannot read {where}: certificate is not JSON ({exc})")
    if not isinstance(doc, Mapping):
        return Unreadable(f"cannot read {where}: certificate is not a JSON object")
    return doc


def _verify_one(item: Item, on_date: When | None, job: _Job) -> Verification | Unreadable:
    doc = _parse(item)
    if isinstance(doc, Unreadable):
        return doc
    return verify_certificate(doc, job.keys, job.revocations,
                              on_date=job.on_date if on_date is None else on_date,
                              allowed_contexts=job.allowed_contexts,
                              status_lists=job.status_lists)


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _verify_chunk(chunk: list[tuple[Item, When | None]]) -> list[Verification | Unreadable]:
    assert _WORKER_JOB is not None, "worker not initialised"
    return [_verify_one(item, on, _WORKER_JOB) for item, on in chunk]


def _context(start_method: str | None = None) -> multiprocessing.context.BaseContext:
    """`start_method`, else fork, cheapest (nothing to import again), unless this process
    has loaded an engine whose worker threads may hold locks at the fork (DuckDB's, in
    `analyze`; Spark's gateway): then a fork server, which forks the workers from a clean
    process. (The idle thread pools of numpy's BLAS and of pyarrow's allocator are forked
    over safely: they register fork handlers.) A caller that knows it runs no engine (the
    `certificate verify` command) asks for fork."""
    if start_method is not None:
        return multiprocessing.get_context(start_method)
    if "fork" in multiprocessing.get_all_start_methods() and not any(
            engine in sys.modules for engine in ENGINES):
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rareflow.vc.batch"])
    return context


def _chunks(items: Sequence[Item], dates: Sequence[When] | None,
            size: int) -> Iterator[list[tuple[Item, When | None]]]:
    for start in range(0, len(items), size):
        part = items[start:start + size]
        days = dates[start:start + size] if dates is not None else [None] * len(part)
        yield list(zip(part, days, strict=True))


def verify_many(items: Sequence[Item], keys: Iterable[Mapping] | Mapping | None,
                revocations: Iterable[Mapping] | Mapping | None, *,
                on_date: When | Sequence[When],
                allowed_contexts: Iterable[str] | None = None,
                status_lists: Mapping[str, Mapping] | None = None,
                workers: int | None = None,
                progress: Progress | None = None,
                min_batch: int | None = None,
                start_method: str | None = None) -> list[Verification | Unreadable]:
    """`verify_certificate` of each item, in the order given (see the module).

    `keys` and `revocations` are rows or their indexes (`index_keys`,
    `index_revocations`); they are indexed once here. `workers`: processes to use (default:
    the cores available); a batch smaller than `min_batch` (default `PARALLEL_MIN`, or
    `PARALLEL_MIN_FORKSERVER` when the workers cannot be forked) is verified in this
    process whatever `workers` says. `start_method`: how the workers start (see
    `_context`). `on_date`: one date for all, or one
    per item. `progress(n)` is called as certificates are done."""
    dates: Sequence[When] | None = None
    if not isinstance(on_date, date | datetime | str):
        dates = list(on_date)
        if len(dates) != len(items):
            raise ValueError(f"{len(dates)} dates for {len(items)} certificates")
        on_date = "1970-01-01"  # unused: each item has its own
    key_index = keys if keys is None or isinstance(keys, Mapping) else index_keys(keys)
    rev_index = (revocations if revocations is None or isinstance(revocations, Mapping)
                 else index_revocations(revocations))
    job = _Job(key_index, rev_index, on_date,
               tuple(allowed_contexts) if allowed_contexts is not None else None,
               status_lists)
    n_workers = default_workers() if workers is None else max(1, workers)
    context = _context(start_method) if n_workers > 1 else None
    if min_batch is None:
        min_batch = (PARALLEL_MIN if context is not None
                     and context.get_start_method() == "fork" else PARALLEL_MIN_FORKSERVER)
    if context is None or len(items) < max(min_batch, 2):
        out: list[Verification | Unreadable] = []
        for chunk in _chunks(items, dates, CHUNK):
            out.extend(_verify_one(item, on, job) for item, on in chunk)
            if progress is not None:
                progress(len(chunk))
        return out
    out = []
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context,
                             initializer=_init_worker, initargs=(job,)) as pool:
        for result in pool.map(_verify_chunk, _chunks(items, dates, CHUNK)):
            out.extend(result)
            if progress is not None:
                progress(len(result))
    return out

