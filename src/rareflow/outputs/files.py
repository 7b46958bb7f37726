"""The files `rareflow analyze` writes, as the dataset contract fixes them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from rareflow.findings import FINDING_COLUMNS, Finding
from rareflow.store.deferred import Deferred

BALANCE_COLUMNS = ["party_id", "period", "received_kg", "produced_kg", "sent_kg", "used_kg",
                   "scrap_kg", "stock_change_kg", "unaccounted_kg", "unaccounted_sd_kg",
                   "nodal_z", "nodal_p"]
RECONCILIATION_COLUMNS = ["period", "statistic", "dof", "p_value", "gross_error", "nodes",
                          "streams"]
ATTRIBUTION_COLUMNS = ["destination", "period", "released_kg", "verified_use_kg",
                       "in_stock_kg", "reexported_kg", "prohibited_use_kg", "unaccounted_kg",
                       "verified_use_share", "in_stock_share", "reexported_share",
                       "prohibited_use_share", "unaccounted_share", "unaccounted_sd_kg"]
CHECK_COLUMNS = ["destination", "period", "attribution_unaccounted_kg",
                 "balances_unaccounted_kg", "balances_sd_kg", "ok"]
REJECT_FILE_COLUMNS = ["file", "line", "column", "reason", "value", "level", "table"]


def write_findings(findings: list[Finding], path: Path) -> None:
    with path.open("wb") as f:
        for finding in findings:
            row = finding.model_dump()
            f.write(orjson.dumps({k: row[k] for k in FINDING_COLUMNS}) + b"\n")


def read_findings(path: Path) -> list[Finding]:
    return [Finding(**orjson.loads(line)) for line in path.read_bytes().splitlines() if line]


def write_frame(df: pd.DataFrame | Deferred | None, columns: list[str], path: Path) -> None:
    """A CSV with the contract's columns first (empty with a header when not computed). A
    result kept in the engine is written by the engine."""
    if isinstance(df, Deferred):
        if df.columns[:len(columns)] == list(columns):
            df.to_csv(path)
            return
        df = df.frame()
    if df is None:
        df = pd.DataFrame(columns=columns)
    extra = [c for c in df.columns if c not in columns]
    df.reindex(columns=[*columns, *extra]).to_csv(path, index=False)
