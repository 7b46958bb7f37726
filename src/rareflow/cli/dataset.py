"""`rareflow validate`, `ingest`, `analyze` and `demo`: adapters over `Workspace`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.cli import progress
from rareflow.ingest import IngestReport
from rareflow.settings import Settings
from rareflow.workspace import Workspace

# literal consoles: values from the data are never read as markup (see cli/console.py)
console = cli_console.err
out = cli_console.out


@contextmanager
def steps(total: int | None, what: str, unit: str = "steps", *,
          status: bool = False) -> Iterator:
    """A progress bar over named steps (tables, rules) on a terminal; with `status`, one
    line on standard error when the steps are done elsewhere (`cli/progress.py`)."""
    with progress.stage(what, total, unit, status=status) as advance:
        yield advance


EXIT_REJECTS = 1  # rows set aside: validate, ingest and analyze alike (errors exit 2)
NOT_REJECTS = ("warning", "info")


def count_rejects(rejects: pd.DataFrame | None) -> int:
    """Rows set aside: every row of the rejects table except those whose `level` is a
    warning or info (a row kept, with a remark)."""
    if rejects is None or not len(rejects):
        return 0
    if "level" not in rejects.columns:
        return len(rejects)
    return int((~rejects["level"].astype(str).str.lower().isin(NOT_REJECTS)).sum())


def open_workspace(settings: Settings, path: Path | None) -> Workspace:
    """A workspace on the store at `path` (None: in memory), in the settings' engine (a
    store file another process holds is waited for `settings.lock_wait` seconds), with the
    settings' policy (read first: a bad policy opens no store)."""
    policy = settings.load_policy()
    return Workspace(settings.open_store(path), policy, settings)


def show_ingest(report: IngestReport, rejects_preview: int = 20,
                rejects=None) -> None:
    """The per-table counts and the first rejects and warnings of this run (values printed
    literally, never as markup)."""
    replace = report.replace or any(t.replaced for t in report.tables.values())
    table = Table(title=Text(f"Dataset {report.root}"))
    cols = ["table", "rows read", "loaded", "unchanged", *(["replaced"] if replace else []),
            "rejected", "warnings"]
    for col in cols:
        table.add_column(col, justify="left" if col == "table" else "right")
    for t in report.tables.values():
        table.add_row(t.table, str(t.read), str(t.loaded), str(t.unchanged),
                      *([str(t.replaced)] if replace else []), str(t.rejected),
                      str(t.warnings))
    out.print(table)
    if report.unknown_files:
        out.print(Text(f"Files not in the contract (left alone): "
                       f"{', '.join(report.unknown_files)}"))
    if rejects is None:
        rejects = report.rejects
    total = report.n_reject_rows + report.n_warning_rows
    if rejects is not None and len(rejects):
        total = max(total, len(rejects))
        rt = Table(title=f"Rejects and warnings of this run ({total})")
        for col in ("file", "line", "column", "reason", "value", "level"):
            rt.add_column(col)
        for r in rejects.head(rejects_preview).itertuples():
            rt.add_row(*(Text("" if pd.isna(v) else str(v)) for v in
                         (r.file, r.line, r.column, r.reason, r.value, r.level)))
        out.print(rt)
        if total > rejects_preview:
            out.print(f"... {total - rejects_preview} more (rareflow analyze writes "
                      "them all to rejects.csv)")


def _ingest(ws: Workspace, directory: Path, replace: bool = False, *,
            status: bool = False) -> IngestReport:
    from rareflow.ingest import ingest

    with steps(None, "reading", "tables", status=status) as advance:
        return ingest(ws.store, directory, progress=advance, replace=replace)


def validate(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
) -> None:
    """Check a dataset against the contract without keeping anything.

    Every row that breaks the contract is listed with its file, line, column and reason;
    warnings (a row kept, a header remark, an empty table) are listed too but do not count.
    Exit status: 0 clean, 1 rejects found, 2 a file or folder could not be read."""
    ws = open_workspace(Settings.load(), None)  # in memory: nothing is kept
    report = _ingest(ws, directory, status=True)
    show_ingest(report)
    if report.rejected or report.n_reject_rows:
        n = max(report.rejected, report.n_reject_rows)
        out.print(f"{n} row problem(s) set aside", style="yellow")
        raise typer.Exit(EXIT_REJECTS)
    warn = f" ({report.n_warning_rows} warning(s))" if report.n_warning_rows else ""
    out.print(f"clean: every row follows the contract{warn}", style="green")


def ingest_cmd(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB file to load into "
                                   "\\[default: $RAREFLOW_DB, else DIR/rareflow.duckdb]."),
    replace: bool = typer.Option(False, "--replace", help="A row whose key is already "
                                 "stored with other content replaces the stored row (kept, "
                                 "with its provenance, in replaced_TABLE)."),
) -> None:
    """Load a dataset into the store (a DuckDB file), after checking it.

    Running it twice changes nothing; a second folder (say, next month's rows) adds to the
    first. A row whose key is already stored with other content is set aside, unless
    --replace is given. One ingest is one transaction: all of the dataset or none of it.
    Exit status: 0 clean, 1 rejects, 2 unreadable (nothing stored), 3 the store is in use by
    another process."""
    settings = Settings.load(db=db)
    db = settings.db or directory / "rareflow.duckdb"
    ws = open_workspace(settings, db)
    report = _ingest(ws, directory, replace=replace, status=True)
    show_ingest(report)
    n_replaced = sum(t.replaced for t in report.tables.values())
    rows = sum(t.loaded for t in report.tables.values())
    out.print(Text(f"stored: all of {directory} in one transaction ({rows} new row(s)"
                   + (f", {n_replaced} replacing stored rows" if n_replaced else "")
                   + f"); store: {db}"), soft_wrap=True)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTS)


def run_analyze(directory: Path, out_dir: Path, settings: Settings,
                replace: bool = False) -> tuple[dict[str, Path], int]:
    """Ingest, analyse, write every output; return the paths written and the number of rows
    set aside (`count_rejects` of the store's rejects table, as written to rejects.csv).
    The store: `settings.db`, else DIR/rareflow.duckdb; the policy: `settings.policy`."""
    from rareflow.outputs.writer import write_outputs

    ws = open_workspace(settings, settings.db or directory / "rareflow.duckdb")
    try:
        report = _ingest(ws, directory, replace=replace, status=True)
        with steps(None, "analysing", "steps", status=True) as advance:
            result = ws.analyze(progress=advance)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with steps(None, "writing", "files", status=True) as done:
            paths = write_outputs(result, out_dir, dataset=str(directory), generated_at=stamp)
            done.advance(len(paths))
    finally:
        ws.close()
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    n_rej = count_rejects(result.rejects)
    out.print(f"{sum(t.loaded for t in report.tables.values())} rows loaded, "
              f"{n_rej} rejects, {len(result.rejects) - n_rej} warnings, "
              f"{len(result.findings)} findings "
              f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) or 'none'})")
    for note in result.notes:  # e.g. a restricted-list candidate judged not_same
        out.print(Text(f"note: {note}"), soft_wrap=True)
    _print_self_check(result.checks)
    return paths, n_rej


def _print_self_check(checks) -> None:
    """Attribution against the balances (docs/attribution.md): a failure is a bug."""
    if checks is None or checks.empty:
        return
    bad = checks[~checks.ok.astype(bool)]
    if bad.empty:
        out.print(f"self-check passed: attribution's unaccounted kg agrees with the balances "
                  f"for all {len(checks)} destination-years")
        return
    console.print(f"SELF-CHECK FAILED for {len(bad)} destination-year(s): attribution's "
                  "unaccounted kg exceeds the parties' balances plus 3 sd. This is a bug in "
                  "rareflow, not a finding: do not rely on attribution.csv; see "
                  "attribution_checks.csv and report it.", style="bold red")
    for r in bad.itertuples(index=False):
        console.print(f"  {r.destination} {r.period}: attribution "
                      f"{r.attribution_unaccounted_kg:,.1f} kg, balances "
                      f"{r.balances_unaccounted_kg:,.1f} ± {r.balances_sd_kg:,.1f} kg",
                      style="red")


def analyze(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table)."),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for the outputs."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB file \\[default: "
                                   "$RAREFLOW_DB, else DIR/rareflow.duckdb]."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML \\[default: "
                                       "$RAREFLOW_POLICY, else the one rareflow ships]."),
    replace: bool = typer.Option(False, "--replace", help="As for ingest: a row whose key "
                                 "is already stored with other content replaces the stored "
                                 "row (kept, with its provenance, in replaced_TABLE)."),
) -> None:
    """Ingest a dataset, run every finding rule and write the outputs to OUT.

    findings.jsonl, balances.csv, attribution.csv (a flow account per destination and year),
    attribution_cohort.csv, attribution_checks.csv (the self-check), reconciliation.csv,
    rejects.csv, licence_ledger.csv, decisions.csv (when the dataset has applications) and
    report.html (one offline page). Exit status: 0 done, no row set aside; 1 done, but rows were set
    aside (see rejects.csv; warnings do not count); 2 a file, folder or setting could not
    be read, or OUT is not a folder that can be written (checked before any work); 3 the
    store is in use by another process. Findings never change the exit status."""
    settings = Settings.load(db=db, policy=policy)
    cli_console.check_out_dir(out_dir)
    paths, n_rej = run_analyze(directory, out_dir, settings, replace)
    out.print(f"report: {paths['report.html']}")
    if n_rej:
        out.print(f"{n_rej} row(s) set aside: see {paths['rejects.csv']}", style="yellow")
        raise typer.Exit(EXIT_REJECTS)


def demo(
    out_dir: Path = typer.Option(Path("demo"), "--out", "-o",
                                 help="Folder for the demo dataset and its outputs."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the demo world."),
    force: bool = typer.Option(False, "--force", "--replace", help="Replace the demo "
                               "already in OUT (its data, outputs and store)."),
) -> None:
    """Generate the demo world (rareflow synth), analyse it, and print where the report is.

    OUT must be empty or absent, or hold the demo of the same seed (which is rewritten
    identically), unless --force replaces what is there. Exit
    status 0 when the world was generated and analysed (rows the world sets aside are part
    of the show: they are in rejects.csv and the report); 2 on an error or a non-empty
    OUT without --force."""
    from rareflow.cli.synth import clear_demo, refuse_non_empty
    from rareflow.world import generate

    refuse_non_empty(out_dir, force, "rareflow demo --out", (out_dir / "data", seed, "demo"))
    if force:
        clear_demo(out_dir)
    settings = Settings.load(db=out_dir / "rareflow.duckdb")
    data = out_dir / "data"
    generate(data, seed=seed, scenario="demo")
    paths, n_rej = run_analyze(data, out_dir / "out", settings)
    out.print(f"report: {paths['report.html'].resolve()}")
    if n_rej:
        out.print(f"{n_rej} row(s) of the demo world set aside: see {paths['rejects.csv']}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("ingest")(ingest_cmd)
    app.command("analyze")(analyze)
    app.command("demo")(demo)


