"""Affiliates (contract 1.1 §5): parties owned `threshold` or more, either way, per the
`ownership` table. The threshold is the policy's `analysis.responsibility.ownership_threshold`
(`ResponsibilitySettings`)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

OWNERSHIP_THRESHOLD = 0.25


def affiliates(ownership: pd.DataFrame | None,
               threshold: float = OWNERSHIP_THRESHOLD) -> dict[str, set[str]]:
    """Party -> parties it owns or is owned by at `threshold` or more."""
    out: dict[str, set[str]] = defaultdict(set)
    if ownership is None or ownership.empty:
        return out
    for o in ownership.itertuples(index=False):
        try:
            share = float(o.share)
        except (TypeError, ValueError):
            continue
        if share == share and share >= threshold:
            out[str(o.owner_id)].add(str(o.owned_id))
            out[str(o.owned_id)].add(str(o.owner_id))
    return out
