"""`rareflow assess`: a decision for every licence application, with every reason."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.cli.dataset import console, open_workspace, out, steps
from rareflow.errors import UnreadableFileError
from rareflow.settings import Settings

STYLE = {"approve": "green", "request_information": "yellow", "deny": "red"}


def run_assess(directory: Path, out_dir: Path, settings: Settings,
               as_of: datetime | None) -> tuple[pd.DataFrame | None, Path]:
    """Ingest DIR, analyse it, decide its applications; write OUT/decisions.csv. The store:
    `settings.db`, else DIR/rareflow.duckdb; the policy: `settings.policy`."""
    from rareflow.analyses.assess import OUTPUT_COLUMNS
    from rareflow.assessment import applications_frame, decide_applications

    if not directory.is_dir():
        raise UnreadableFileError(str(directory), "no such folder")
    ws = open_workspace(settings, settings.db or directory / "rareflow.duckdb")
    try:
        with steps(17, "reading") as advance:
            ws.ingest(directory, progress=advance)
        apps = applications_frame(ws.model())
        if apps is None:
            decisions = None
        else:
            with steps(5, "analysing") as advance:
                result = ws.analyze(progress=advance)
                advance("assessing applications")
                decisions = (decide_applications(ws.model(), result.findings, as_of.date())
                             if as_of else result.decisions)
    finally:
        ws.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "decisions.csv"
    frame = decisions if decisions is not None else pd.DataFrame(columns=list(OUTPUT_COLUMNS))
    frame.to_csv(path, index=False)
    return decisions, path


def show_decisions(decisions: pd.DataFrame) -> None:
    """A table of the decisions; each reason coloured by the decision it calls for."""
    from rareflow.analyses.assess import REASON_DECISIONS

    table = Table(title=f"Decisions ({len(decisions)} applications)", show_lines=True,
                  box=box.SIMPLE_HEAD)
    table.add_column("application")
    table.add_column("kg", justify="right", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    table.add_column("reasons", min_width=24, overflow="fold")
    for r in decisions.itertuples(index=False):
        style = STYLE.get(r.decision, "")
        reasons = Text("\n").join(
            Text(code, style=STYLE.get(REASON_DECISIONS.get(code, ""), ""))
            for code in str(r.reasons).split("; ") if code)
        table.add_row(Text(f"{r.application_id}\n{r.date}\n{r.end_user_id or ''}\n"
                           f"{r.product}"),
                      f"{r.kg:,.0f}", Text(str(r.decision), style=style), reasons)
    out.print(table)
    counts = decisions["decision"].value_counts()
    out.print(", ".join(f"{k}: {counts.get(k, 0)}" for k in STYLE)
              + " (reasons in red deny, in yellow request information)")


def assess_cmd(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table), with "
                                     "an applications table."),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for decisions.csv."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB file (default: "
                                   "$RAREFLOW_DB, else DIR/rareflow.duckdb)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML (default: "
                                       "$RAREFLOW_POLICY, else the one rareflow ships)."),
    as_of: datetime | None = typer.Option(None, "--date", formats=["%Y-%m-%d"],
                                          help="Judge every application as of this day "
                                          "(YYYY-MM-DD); default: each application's own "
                                          "date."),
) -> None:
    """Decide every licence application of DIR: approve, request_information or deny.

    Each application is checked against its end-user certificate (found, verified, valid,
    covering the product and the quantity still open on it), the policy in force on its
    date (controlled item, what the certificate must carry), the parties' history
    (findings, the 60-day watch list, site visits) and the end user's declared capacity.
    Every reason is listed with the ids it rests on in OUT/decisions.csv.
    Exit status: 0 done, 2 unreadable input or an OUT that is not a writable folder
    (checked before any work), 3 the store is in use by another process."""
    settings = Settings.load(db=db, policy=policy)
    cli_console.check_out_dir(out_dir)
    decisions, path = run_assess(directory, out_dir, settings, as_of)
    if decisions is None:
        console.print(f"{directory} has no applications table: nothing to assess",
                      style="yellow", soft_wrap=True)
    else:
        show_decisions(decisions)
    out.print(f"decisions: {path}")


def register(app: typer.Typer) -> None:
    app.command("assess")(assess_cmd)
