"""`rareflow synth`: write a demo world (see docs/demo-scenarios.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

out = Console()


def synth(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write the dataset into "
                                 "(created; existing table files are replaced)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same "
                             "files, byte for byte."),
    scenario: str = typer.Option("demo", "--scenario", help="demo (honest noise + every "
                                 "planted case), clean (honest noise only), unverified37 "
                                 "(37% of VN's imports vanish), capacity137 (imports +137% "
                                 "against capacity +5%)."),
) -> None:
    """Generate a small, realistic rare-earth world as a dataset folder.

    Exporters in China, importers, processors, manufacturers, final sales and recyclers in
    several countries over two years, with honest noise and (in the demo scenario) planted
    cases of every finding rule, listed beside the data in planted.json."""
    from rareflow.world import SCENARIOS, generate

    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"one of {', '.join(SCENARIOS)}", param_hint="--scenario")
    book = generate(out_dir, seed=seed, scenario=scenario)
    rows = sum(len(v) for v in book.rows.values())
    out.print(f"{scenario} world (seed {seed}): {rows} rows in {len(book.rows)} tables, "
              f"{len(book.planted)} planted cases -> {out_dir}")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
