"""Compiled SQL kept in files between processes (`store.compiled`'s second level).

Each command of the CLI is a new process: its first ingest and analysis compile about 120
expression shapes (about 3.5 CPU-seconds of the 11 that `rareflow analyze` takes on the
contract's example), the same shapes as in the last run. The SQL text of a shape is written
to a file named by the shape's key, and read back by the next process.

The key is a hash of the expression's structure: every node's class and arguments, in
order, down to the leaves (names, types, literal values), plus the versions of Ibis and
sqlglot that wrote the SQL. What the SQL text does not depend on is left out: the backend a
table belongs to (`source`) and an in-memory table's rows (the SQL names the table). A
value the key cannot spell exactly (anything but plain data, Ibis nodes, types and
schemas) makes the shape uncacheable: it is compiled, never looked up.

Where: `$RAREFLOW_SQL_CACHE` (a folder, or `off`), else `$XDG_CACHE_HOME/rareflow/sql`,
else `~/.cache/rareflow/sql`. Files are written whole under a temporary name and renamed,
so that concurrent processes never read half a file; a folder that cannot be written is
not used. The folder is kept to its 20,000 newest files."""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import hashlib
import os
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import ibis
import sqlglot
from ibis.common.collections import FrozenDict
from ibis.common.grounds import Annotable

ENV = "RAREFLOW_SQL_CACHE"
FORMAT = "rareflow-sql-1"
KEEP = 20_000  # files (a few KB each): an analysis of a dataset writes about 120
_PLAIN = (str, int, float, bool, bytes, type(None), _dt.date, _dt.time, _dt.datetime,
          _dt.timedelta, decimal.Decimal, uuid.UUID)


class Uncacheable(Exception):
    """A value the key cannot spell exactly."""


def folder() -> Path | None:
    """The cache folder, or None when switched off (`RAREFLOW_SQL_CACHE=off`)."""
    where = os.environ.get(ENV, "")
    if where.lower() in ("off", "0", "no", "false"):
        return None
    if where:
        return Path(where)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rareflow" / "sql"


def shape_key(op: Any, limit: Any) -> str | None:
    """The hash naming `op`'s SQL (with `limit`), or None if `op` is uncacheable."""
    memo: dict[int, str] = {}
    try:
        body = _token(op, memo)
    except Uncacheable:
        return None
    head = f"{FORMAT}|ibis {ibis.__version__}|sqlglot {sqlglot.__version__}|limit {limit!r}"
    return hashlib.sha256(f"{head}|{body}".encode()).hexdigest()


def _token(value: Any, memo: dict[int, str]) -> str:
    if isinstance(value, Annotable):  # nodes, types, schemas: shared subtrees hashed once
        known = memo.get(id(value))
        if known is not None:
            return known
        cls = type(value)
        parts = [f"{cls.__module__}.{cls.__qualname__}"]
        for name, arg in zip(value.__argnames__, value.__args__, strict=True):
            skip = name == "source" or (name == "data" and _is_memtable(value))
            parts.append(f"{name}=" + ("-" if skip else _token(arg, memo)))
        out = hashlib.sha256("(".join(parts).encode()).hexdigest()
        memo[id(value)] = out
        return out
    if isinstance(value, enum.Enum):
        return f"enum:{type(value).__qualname__}.{value.name}"
    if isinstance(value, _PLAIN):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, FrozenDict | dict):
        return "{" + ",".join(f"{_token(k, memo)}:{_token(v, memo)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "[" + ",".join(_token(v, memo) for v in value) + "]"
    if isinstance(value, frozenset | set):
        return "{" + ",".join(sorted(_token(v, memo) for v in value)) + "}"
    raise Uncacheable(type(value).__name__)


def _is_memtable(node: Any) -> bool:
    from ibis.expr.operations import InMemoryTable

    return isinstance(node, InMemoryTable)


def load(key: str) -> str | None:
    where = folder()
    if where is None:
        return None
    try:
        return (where / f"{key}.sql").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def save(key: str, sql: str) -> None:
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(sql)
        os.replace(tmp, where / f"{key}.sql")
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return
    if random.random() < 1 / 256:  # now and then: the folder kept to its newest files
        prune(where)


def prune(where: Path, keep: int = KEEP) -> None:
    """The `keep` newest files of the folder kept, the others removed."""
    try:
        files = sorted(where.glob("*.sql"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in files[keep:]:
            path.unlink(missing_ok=True)
    except OSError:
        pass
