"""`rareflow rules`: every finding rule, as its detector states it; `--docs` writes the
generated part of the rule pages."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from rareflow.analyses.registry import RULES
from rareflow.cli import console as cli_console

out = cli_console.out

HELP = ("List the finding rules (one detector each), their severity policy, the tables they "
        "need and their parameters.\n\n" + "\n\n".join(f"{d.name}: {d.summary}" for d in RULES))


def rules_cmd(
    docs: Path | None = typer.Option(None, "--docs", help="Update the generated part of each "
                                     "rule's page in this folder (docs/rules) and its index."),
) -> None:
    if docs is not None:
        from rareflow.outputs.rule_docs import write_docs

        if not docs.is_dir():
            cli_console.error(Text(f"--docs: no such folder: {docs}"))
            raise typer.Exit(2)
        changed = write_docs(docs, RULES)
        out.print(Text(f"{len(changed)} page(s) updated in {docs}"))
        return
    table = Table(title=f"Rules ({len(RULES)})", box=box.SIMPLE_HEAD, show_lines=True)
    for col in ("rule", "severity", "needs", "parameters"):
        table.add_column(col, overflow="fold")
    for d in RULES:
        params = "\n".join(f"{s}.{n} = {v}" for s, n, _, v in d.parameters())
        table.add_row(Text(d.name), Text(d.severity), Text(", ".join(d.needs) or "-"),
                      Text(params or "-"))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("rules", help=HELP)(rules_cmd)
