"""`rareflow trace`: the tree of records and parties behind or after one id (an adapter over
`rareflow.trace`, shown by `rareflow.outputs.trace_view`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from rareflow.cli import console as cli_console

console = cli_console.err
out = cli_console.out


def _literal_tree(tree: Tree) -> Tree:
    """`render_tree` writes its labels as markup with every record value escaped: parse
    that markup here, once, so the literal console prints the styles and the values as
    they are."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node.label, str):
            node.label = cli_console.from_markup(node.label)
        stack.extend(node.children)
    return tree


def trace_cmd(
    record_id: str = typer.Argument(..., metavar="ID", help="A lot or record id: declaration_id, "
                                    "flow_id, transformation_id, obs_id, certificate_id, "
                                    "licence_id; or a finding id (with --findings)."),
    forward: bool = typer.Option(False, "--forward", help="Only what was made of it: down "
                                 "to final sales, exports and teardowns."),
    backward: bool = typer.Option(False, "--backward", help="Only where it came from: up to "
                                  "the export declarations, certificates and licences."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB store to trace in (as written "
                                   "by rareflow ingest)."),
    data: Path | None = typer.Option(None, "--data", help="Dataset folder: ingested first into "
                                     "--db or DIR/rareflow.duckdb (idempotent)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (a tree) or json."),
    depth: int | None = typer.Option(None, "--depth", min=0, help="At most N links from the "
                                     "id \\[default: no limit]."),
    max_nodes: int = typer.Option(2000, "--max-nodes", min=1, help="At most N records per "
                                  "direction; the output says when it was cut."),
    findings: Path | None = typer.Option(None, "--findings", help="findings.jsonl (from "
                                         "rareflow analyze) to look a finding id up in; the "
                                         "trace starts from the finding's evidence ids."),
) -> None:
    """Trace a lot, shipment, flow, transformation or finding through the lot links.

    Backward follows flow source_ref and transformation input_ref to the records the goods
    came from, up to the export declarations and their certificates and licences; forward
    follows them the other way down to final sales, exports and teardown observations.
    Without --forward or --backward, both. Every record shows its parties, quantity and
    rare-earth content. The links are read once per store into an index saved beside the
    DuckDB file (DB.trace.npz, DB.trace.arrow) and rebuilt only when the data changed.
    Exit status: 0 traced, 1 unknown id, 2 no store or unreadable data, 3 the store is in
    use by another process."""
    from rareflow.cli.dataset import _ingest, open_workspace
    from rareflow.outputs.trace_view import render_tree, summary_lines
    from rareflow.settings import Settings
    from rareflow.trace import trace_store

    if fmt not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--format")
    direction = "both" if forward == backward else ("forward" if forward else "backward")
    if db is None and data is None:
        raise typer.BadParameter("give the store with --db PATH or a dataset with --data DIR",
                                 param_hint="--db / --data")
    if data is None and db is not None and not db.exists():
        cli_console.error(f"no store at {db}: run rareflow ingest DIR --db {db} first, or "
                          "pass --data DIR")
        raise typer.Exit(2)
    path = db or data / "rareflow.duckdb"  # type: ignore[operator]
    ws = open_workspace(Settings.load(), path)  # errors: mapped once, cli/errors.py
    try:
        if data is not None:
            _ingest(ws, data)
        result = trace_store(ws.store, record_id, direction, depth, max_nodes, findings)
    finally:
        ws.close()
    if fmt == "json":
        typer.echo(result.to_json())
        return
    out.print(_literal_tree(render_tree(result)))
    for line in summary_lines(result):
        out.print(line, soft_wrap=True)
    if result.parties:
        table = Table(title="Parties")
        for col in ("party", "name", "country"):
            table.add_column(col)
        for pid, p in result.parties.items():
            table.add_row(Text(str(pid)), Text(str(p["name"] or "")),
                          Text(str(p["country"] or "")))
        out.print(table)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace_cmd)
