"""Write everything `rareflow analyze` produces into the output folder."""

from __future__ import annotations

from pathlib import Path

from rareflow.outputs.files import (
    ATTRIBUTION_COLUMNS,
    BALANCE_COLUMNS,
    CHECK_COLUMNS,
    RECONCILIATION_COLUMNS,
    REJECT_FILE_COLUMNS,
    write_findings,
    write_frame,
)
from rareflow.outputs.html_report import write_report
from rareflow.workspace import AnalysisResult

LEDGER_COLUMNS = ["licence_id", "declaration_id", "date", "kg", "cumulative_kg", "max_kg",
                  "remaining_kg", "status"]


def write_outputs(result: AnalysisResult, out: Path, *, dataset: str,
                  generated_at: str) -> dict[str, Path]:
    """findings.jsonl, balances.csv, attribution.csv (the flow account per destination and
    year), attribution_cohort.csv (where each year's release was by the end of the data),
    attribution_checks.csv (attribution against the balances), rejects.csv,
    licence_ledger.csv, reconciliation.csv, decisions.csv (when the dataset has
    applications) and report.html in `out` (created if needed). Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in (
        "findings.jsonl", "balances.csv", "attribution.csv", "attribution_cohort.csv",
        "attribution_checks.csv", "rejects.csv", "licence_ledger.csv", "reconciliation.csv",
        "report.html")}
    write_findings(result.findings, paths["findings.jsonl"])
    write_frame(result.balances, BALANCE_COLUMNS, paths["balances.csv"])
    write_frame(result.attribution, ATTRIBUTION_COLUMNS, paths["attribution.csv"])
    write_frame(result.cohort, ATTRIBUTION_COLUMNS, paths["attribution_cohort.csv"])
    write_frame(result.checks, CHECK_COLUMNS, paths["attribution_checks.csv"])
    write_frame(result.rejects, REJECT_FILE_COLUMNS, paths["rejects.csv"])
    write_frame(result.licence_ledger, LEDGER_COLUMNS, paths["licence_ledger.csv"])
    write_frame(result.reconciliation, RECONCILIATION_COLUMNS, paths["reconciliation.csv"])
    if result.decisions is not None:
        paths["decisions.csv"] = out / "decisions.csv"
        result.decisions.to_csv(paths["decisions.csv"], index=False)
    write_report(result, paths["report.html"], dataset=dataset, generated_at=generated_at)
    return paths
