"""`rareflow validate`, `ingest`, `analyze` and `demo`: adapters over `Workspace`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rareflow.errors import RareflowError
from rareflow.store.loader import IngestReport
from rareflow.workspace import Workspace

console = Console(stderr=True)
out = Console()


@contextmanager
def steps(total: int, what: str) -> Iterator:
    """A progress bar over named steps (tables, rules)."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(what, total=total)

        def advance(name: str) -> None:
            bar.update(task, advance=1, description=f"{what}: {name}")

        yield advance


def fail(exc: RareflowError) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(exc.exit_code)


def show_ingest(report: IngestReport, rejects_preview: int = 20,
                rejects=None) -> None:
    table = Table(title=f"Dataset {report.root}")
    for col in ("table", "rows read", "loaded", "unchanged", "rejected", "warnings"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for t in report.tables.values():
        table.add_row(t.table, str(t.read), str(t.loaded), str(t.unchanged),
                      str(t.rejected), str(t.warnings))
    out.print(table)
    if report.unknown_files:
        out.print(f"Files not in the contract (left alone): {', '.join(report.unknown_files)}")
    if rejects is not None and len(rejects):
        rt = Table(title=f"Rejects and warnings ({len(rejects)})")
        for col in ("file", "line", "column", "reason", "value", "level"):
            rt.add_column(col)
        for r in rejects.head(rejects_preview).itertuples():
            rt.add_row(str(r.file), str(r.line), str(r.column), str(r.reason),
                       "" if pd.isna(r.value) else str(r.value), str(r.level))
        out.print(rt)
        if len(rejects) > rejects_preview:
            out.print(f"... {len(rejects) - rejects_preview} more (rareflow analyze writes "
                      "them all to rejects.csv)")


def _ingest(ws: Workspace, directory: Path) -> IngestReport:
    with steps(17, "reading") as advance:
        return ws.ingest(directory, progress=advance)


def validate(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
) -> None:
    """Check a dataset against the contract without keeping anything.

    Every row that breaks the contract is listed with its file, line, column and reason.
    Exit status: 0 clean, 1 rejects found, 2 a file or folder could not be read."""
    try:
        ws = Workspace.open(None)
        report = _ingest(ws, directory)
        rejects = ws.rejects()
    except RareflowError as exc:
        raise fail(exc) from exc
    show_ingest(report, rejects=rejects)
    n_rej = int((rejects["level"] == "reject").sum()) if len(rejects) else 0
    if n_rej:
        out.print(f"[yellow]{n_rej} row problem(s) set aside[/yellow]")
        raise typer.Exit(1)
    out.print("[green]clean: every row follows the contract[/green]")


def ingest_cmd(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB file to load into "
                                   "\\[default: DIR/rareflow.duckdb]."),
) -> None:
    """Load a dataset into the store (a DuckDB file), after checking it.

    Running it twice changes nothing; a second folder (say, next month's rows) adds to the
    first. A row whose key is already stored with other content is set aside, never
    overwritten. Exit status: 0 clean, 1 rejects, 2 unreadable."""
    db = db or directory / "rareflow.duckdb"
    try:
        ws = Workspace.open(db)
        before = len(ws.rejects())
        report = _ingest(ws, directory)
        rejects = ws.rejects()
    except RareflowError as exc:
        raise fail(exc) from exc
    show_ingest(report, rejects=rejects.iloc[before:] if before else rejects)
    out.print(f"store: {db}")
    if report.rejected:
        raise typer.Exit(1)


def run_analyze(directory: Path, out_dir: Path, db: Path | None,
                policy: Path | None) -> dict[str, Path]:
    from rareflow.outputs.writer import write_outputs

    ws = Workspace.open(db or directory / "rareflow.duckdb", policy=policy)
    report = _ingest(ws, directory)
    with steps(4, "analysing") as advance:
        result = ws.analyze(progress=advance)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    paths = write_outputs(result, out_dir, dataset=str(directory), generated_at=stamp)
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    out.print(f"{sum(t.loaded for t in report.tables.values())} rows loaded, "
              f"{len(result.rejects)} rejects/warnings, {len(result.findings)} findings "
              f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) or 'none'})")
    ws.close()
    return paths


def analyze(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for the outputs."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB file \\[default: "
                                   "DIR/rareflow.duckdb]."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML \\[default: the "
                                       "one rareflow ships]."),
) -> None:
    """Ingest a dataset, run every finding rule and write the outputs to OUT.

    findings.jsonl, balances.csv, attribution.csv, reconciliation.csv, rejects.csv,
    licence_ledger.csv, decisions.csv (when the dataset has applications) and report.html
    (one offline page)."""
    try:
        paths = run_analyze(directory, out_dir, db, policy)
    except RareflowError as exc:
        raise fail(exc) from exc
    out.print(f"report: {paths['report.html']}")


def demo(
    out_dir: Path = typer.Option(Path("demo"), "--out", "-o",
                                 help="Folder for the demo dataset and its outputs."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the demo world."),
) -> None:
    """Generate the demo world (rareflow synth), analyse it, and print where the report is."""
    from rareflow.world import generate

    data = out_dir / "data"
    generate(data, seed=seed, scenario="demo")
    try:
        paths = run_analyze(data, out_dir / "out", out_dir / "rareflow.duckdb", None)
    except RareflowError as exc:
        raise fail(exc) from exc
    out.print(f"report: {paths['report.html'].resolve()}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("ingest")(ingest_cmd)
    app.command("analyze")(analyze)
    app.command("demo")(demo)


