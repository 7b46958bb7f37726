"""Which shipments carry a controlled item on their date, per the dated policy."""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

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
            rows += [{"product": product, "heavy_only": heavy, "control_id": c.id,
                      "start": a, "end": b} for a, b in spans]
    schema = {"product": "string", "heavy_only": "boolean", "control_id": "string",
              "start": "date", "end": "date"}
    return ibis.memtable(rows, schema=schema) if rows else ibis.memtable(
        {k: [] for k in schema}, schema=schema)


def mark_controlled(content: ir.Table, policy: Policy, *, key: str = "declaration_id",
                    date_col: str = "date") -> ir.Table:
    """`content` (with `product`, `heavy_kg`, a date and a unique `key`) plus `controlled`
    and `control_id` (the first control in force that covers the row)."""
    iv = control_intervals(policy)
    d = content[date_col].cast("date")
    j = content.inner_join(iv, [content.product == iv.product, d >= iv.start, d < iv.end])
    j = j.filter(~j.heavy_only | (j.heavy_kg > 0))
    hits = j.group_by(_hit=j[key]).aggregate(control_id=j.control_id.min())
    out = content.left_join(hits, content[key] == hits._hit)
    return out.select(content, controlled=hits.control_id.notnull(),
                      control_id=hits.control_id)
