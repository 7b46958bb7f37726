"""In-memory tables named by their content.

`ibis.memtable` names each table afresh (a random name), so two expressions over the same
constant rows differ, in one process and from one process to the next, and their SQL is
compiled anew each time (`store.compiled`). A table named by a hash of its rows is the same
node wherever it is made: its expressions find their SQL compiled."""

from __future__ import annotations

import hashlib
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir


def named_memtable(stem: str, data: Any, schema: Any = None) -> ir.Table:
    """`ibis.memtable(data, schema=schema)` named `<stem>_<hash of its rows and schema>`."""
    table = ibis.memtable(data, schema=schema)
    op = table.op()
    frame = op.data.to_frame()
    digest = hashlib.sha256()
    digest.update(repr(op.schema).encode())
    digest.update(frame.to_csv(index=False).encode())
    return ops.InMemoryTable(name=f"{stem}_{digest.hexdigest()[:16]}", schema=op.schema,
                             data=op.data).to_expr()
