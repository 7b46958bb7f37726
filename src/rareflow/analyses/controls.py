"""Which shipments carry a controlled item on their date, per the dated policy."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import ibis.expr.types as ir

from rareflow.memtables import named_memtable
from rareflow.policy import Policy

FAR_FUTURE = date(9999, 12, 31)


def control_intervals(policy: Policy) -> ir.Table:
    """(product, heavy_only, control_id, start, end) for every period a control is in force."""
    rows = []
    for c in policy.controls:
        starts = [c.effective_from]
        ends = []
        for s_from, s_until in sorted(c.suspended):
            ends.append(s_from)
            starts.append(s_until)
        ends.append(FAR_FUTURE)
        spans = [(a, b) for a, b in zip(starts, ends, strict=True) if a < b]
        for product, heavy in [(p, False) for p in c.products] + [(p, True)
                                                                   for p in c.heavy_only]:
            rows += [(product, heavy, c.id, a, b) for a, b in spans]
    return _intervals(tuple(rows))


@lru_cache(maxsize=32)
def _intervals(rows: tuple[tuple[str, bool, str, date, date], ...]) -> ir.Table:
    """One in-memory table per set of intervals: the same policy gives the same table, so
    the expressions over it, and their compiled SQL (`store.compiled`), are the same from
    one analysis and one process to the next (a new memtable gets a new random name: this
    one is named by its content)."""
    schema = {"product": "string", "heavy_only": "boolean", "control_id": "string",
              "start": "date", "end": "date"}
    return named_memtable("rf_controls", {k: [r[i] for r in rows]
                                          for i, k in enumerate(schema)}, schema=schema)


def mark_controlled(content: ir.Table, policy: Policy, *, key: str = "declaration_id",
                    date_col: str = "date") -> ir.Table:
    """`content` (with `product`, `heavy_kg`, a date and a unique `key`) plus `controlled`
    and `control_id` (the first control in force that covers the row).

    Whether a control covers a row depends only on its product, its day and whether it holds
    heavy rare earths: the interval test runs on those distinct combinations (products x
    days: thousands), and the rows get the answer through one equality join (millions of
    rows never meet the range join)."""
    iv = control_intervals(policy)
    c = content.mutate(_day=content[date_col].cast("date"),
                       _heavy=content.heavy_kg.fill_null(0) > 0)
    combos = c.select(_p=c["product"], _d=c._day, _h=c._heavy).distinct()
    j = combos.inner_join(iv, [combos._p == iv["product"], combos._d >= iv.start,
                               combos._d < iv.end])
    j = j.filter(~j.heavy_only | j._h)
    hits = j.group_by(["_p", "_d", "_h"]).aggregate(control_id=j.control_id.min())
    out = c.left_join(hits, [c["product"] == hits._p, c._day == hits._d,
                             c._heavy == hits._h])
    return out.select(content, controlled=hits.control_id.notnull(),
                      control_id=hits.control_id)
