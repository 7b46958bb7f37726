"""The drawdown ledger of every licence (an output table; the rule is
`rules/licence_violation.py`)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.tables import Tables

RULE = "licence_violation"


def licence_ledger(t: Tables) -> ir.Table | None:
    """Per licence, each shipment drawn on it in date order: kg, cumulative kg, what is left."""
    if t.licences is None:
        return None
    s = t.shipments.filter(t.shipments.licence_id.notnull())
    lic = t.licences.select("licence_id", "max_kg", "valid_from", "valid_to")
    j = s.inner_join(lic, "licence_id")
    w = ibis.window(group_by=j.licence_id, order_by=[j.date, j.declaration_id],
                    preceding=None, following=0)
    cum = j.net_kg.sum().over(w)
    j = j.mutate(cumulative_kg=cum)
    return j.select(
        "licence_id", "declaration_id", "date", kg=j.net_kg, cumulative_kg=j.cumulative_kg,
        max_kg=j.max_kg, remaining_kg=j.max_kg - j.cumulative_kg,
        status=ibis.cases(
            (j.cumulative_kg - j.net_kg >= j.max_kg, "over (all of it)"),
            (j.cumulative_kg > j.max_kg, "over (in part)"),
            else_="within",
        ),
    )
