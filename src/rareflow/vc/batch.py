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

The work goes by chunks of `CHUNK` items: each chunk's files are read and parsed (orjson
when it reads a text exactly as `json` would: `_loads_plain`), then its certificates are
verified together (`trust.verify_certificates`: the Ed25519 checks of the whole chunk run
one after another), with the garbage collector paused (`trust.gc_paused`).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import orjson

from rareflow import safejson
from rareflow.errors import RareflowError
from rareflow.vc import eddsa_jcs as jcs
from rareflow.vc.trust import (
    Verification,
    _verify_batch,
    gc_paused,
    index_keys,
    index_revocations,
)

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
    # what each keys-table row says, read once per job and process (trust._key_facts)
    key_facts: dict = field(default_factory=dict, compare=False)


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


def _read(path: str) -> bytes:
    """`safejson.read_bytes(path)` (the same bytes, the same errors), cheaper for the common
    case, a regular file within the size limit: one `os.read` of its size, where a buffered
    `read(MAX_BYTES + 1)` allocates (and gives back) the whole limit for each file. Anything
    else (a folder, a device, a file over the limit or growing) is left to safejson."""
    fd = os.open(path, _O_READ)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= safejson.MAX_BYTES:
            parts = []
            size = 0
            while size <= safejson.MAX_BYTES:
                part = os.read(fd, max(info.st_size + 1 - size, 65536))
                if not part:
                    return b"".join(parts)
                parts.append(part)
                size += len(part)
    finally:
        os.close(fd)
    return safejson.read_bytes(path, max_bytes=safejson.MAX_BYTES)


_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def _parse(item: Item, path: str | None = None) -> tuple[Mapping | Unreadable, bool]:
    """The certificate of an item, or why it cannot be read (worded as
    `safejson.load_file` words it for one file), and whether it is a JSON text parsed
    without floats (`jcs._prepare`'s `plain`). `path`: the item is the file of that name
    (`str` of its Path: how a worker receives it)."""
    if path is None:
        if isinstance(item, Mapping):
            return item, False
        if isinstance(item, Path):
            path = str(item)
    where = path if path is not None else "(certificate)"
    try:
        data = _read(path) if path is not None else item
    except FileNotFoundError:
        return Unreadable(f"cannot read {where}: certificate not found"), False
    except IsADirectoryError:
        return Unreadable(f"cannot read {where}: certificate is a folder, not a file"), False
    except OSError as exc:
        return Unreadable(f"cannot read {where}: certificate: {exc.strerror or exc}"), False
    except RareflowError as exc:  # over the size limit
        return Unreadable(exc.message), False
    if not isinstance(data, str | bytes):
        return Unreadable(f"cannot read {where}: certificate is not a JSON object"), False
    doc = _loads_plain(data)
    if doc is not None:
        return doc, True
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        return Unreadable(f"cannot read {where}: certificate is not UTF-8 text ({exc})"), False
    try:
        doc = _loads(text, where)
    except RareflowError as exc:  # over the depth limit
        return Unreadable(exc.message), False
    except ValueError as exc:  # JSONDecodeError
        return Unreadable(f"cannot read {where}: certificate is not JSON ({exc})"), False
    if not isinstance(doc, Mapping):
        return Unreadable(f"cannot read {where}: certificate is not a JSON object"), False
    return doc, False


def _loads_plain(data: str | bytes) -> dict | None:
    """The JSON object of `data` as `_loads(data.decode("utf-8-sig"))` reads it, when orjson
    (about twice as fast as `json`) can tell that it is the same, else None (then `_parse`
    takes the standard path, which also words the errors).

    The same: `data` within the limits that send `_loads` straight to `json.loads` (the
    brackets, which are ASCII, counted in the bytes), orjson parses it (it refuses what
    `json` refuses, and a BOM, invalid UTF-8, lone surrogates, NaN and infinities, which
    the standard path then reads or refuses itself), and the result is an object holding
    only objects, arrays, strings, booleans, null and integers: orjson reads an integer
    beyond 64 bits as a float, so a float anywhere (`jcs._orjson_safe` is False) sends
    the text to `json`, which alone decides how floats are read (tests/test_vc_parse.py)."""
    if len(data) > safejson.MAX_BYTES:
        return None
    if isinstance(data, bytes):
        if data.count(b"{") + data.count(b"[") > safejson.MAX_DEPTH:
            return None
    elif data.count("{") + data.count("[") > safejson.MAX_DEPTH:
        return None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return doc if type(doc) is dict and jcs._orjson_safe(doc) else None


# A chunk of work: (item, its date or None, the item's file name when it is a Path). Paths
# travel to the workers as their text (a Path costs several times as much to pickle and
# rebuild) and are opened by that name (str(Path(str(p))) == str(p)).
_Task = tuple[Item | None, When | None, str | None]


def _verify_chunk_with(job: _Job, chunk: list[_Task]) -> list[Verification | Unreadable]:
    """The results of a chunk: its items read and parsed, then the certificates verified
    together (`verify_certificates`: the same results as `verify_certificate` of each),
    with the collector paused throughout (see `gc_paused`)."""
    with gc_paused():
        parsed = [_parse(item, path) for item, _, path in chunk]
        docs, dates, plain = [], [], []
        for (doc, simple), (_, on, _) in zip(parsed, chunk, strict=True):
            if not isinstance(doc, Unreadable):
                docs.append(doc)
                dates.append(job.on_date if on is None else on)
                plain.append(simple)
        if not docs:
            return [doc for doc, _ in parsed]
        verified = iter(_verify_batch(docs, job.keys, job.revocations, dates,
                                      job.allowed_contexts, job.status_lists, job.key_facts,
                                      plain))
        return [doc if isinstance(doc, Unreadable) else next(verified) for doc, _ in parsed]


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job
    # what the worker inherits is never collected by it: the collector leaves it alone
    # (not traversed, so not copied page by page from the parent either)
    gc.freeze()


def _verify_chunk(chunk: list[_Task]) -> list[Verification | Unreadable]:
    assert _WORKER_JOB is not None, "worker not initialised"
    return _verify_chunk_with(_WORKER_JOB, chunk)


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
            size: int) -> Iterator[list[_Task]]:
    for start in range(0, len(items), size):
        part = items[start:start + size]
        days = dates[start:start + size] if dates is not None else [None] * len(part)
        yield [(None, day, str(item)) if isinstance(item, Path) else (item, day, None)
               for item, day in zip(part, days, strict=True)]


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
    out: list[Verification | Unreadable] = []
    # the collector paused for the whole run (see gc_paused), not chunk by chunk: the
    # results it keeps would otherwise be traversed again at each chunk's end
    with gc_paused():
        if context is None or len(items) < max(min_batch, 2):
            for chunk in _chunks(items, dates, CHUNK):
                out.extend(_verify_chunk_with(job, chunk))
                if progress is not None:
                    progress(len(chunk))
            return out
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context,
                                 initializer=_init_worker, initargs=(job,)) as pool:
            for result in pool.map(_verify_chunk, _chunks(items, dates, CHUNK)):
                out.extend(result)
                if progress is not None:
                    progress(len(result))
    return out

