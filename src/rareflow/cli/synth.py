"""`rareflow synth`: write a demo world (see docs/demo-scenarios.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.errors import OutputError

out = cli_console.out
STORE_FILES = ("rareflow.duckdb", "rareflow.duckdb.wal")


def same_world(world: Path, seed: int, scenario: str) -> bool:
    """Whether `world` holds the world of this seed and scenario (rewriting it changes
    nothing: the same seed gives the same files, byte for byte)."""
    import json

    try:
        manifest = json.loads((world / "planted.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("seed") == seed
            and manifest.get("scenario") == scenario)


def refuse_non_empty(folder: Path, force: bool, command: str,
                     world: tuple[Path, int, str] | None = None) -> None:
    """Stop (OutputError, exit 2) when `folder` exists and holds anything, unless `force`
    or it holds the very world about to be written (`world` = its folder, seed, scenario):
    a second world written over another mixes them."""
    if force or not folder.exists() or (world is not None and same_world(*world)):
        return
    if not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder", file=str(folder))
    if any(folder.iterdir()):
        raise OutputError(f"{folder} is not empty: writing a world there would mix it with "
                          f"what is there; choose an empty folder, or add --force to "
                          f"replace it ({command} {folder} --force)", file=str(folder))


def clear_world(folder: Path) -> None:
    """Remove what a generated world consists of (its table files, certificates, planted.json
    and a store ingested from it); other files are left alone."""
    from rareflow.contract import load_contract

    if not folder.is_dir():
        return
    for name in load_contract():
        for suffix in (".csv", ".parquet"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)
    for name in ("planted.json", "certificates.jsonl", *STORE_FILES):
        (folder / name).unlink(missing_ok=True)
    certs = folder / "certificates"
    if certs.is_dir() and not certs.is_symlink():
        for p in certs.glob("*.json"):
            p.unlink()


def clear_demo(out_dir: Path) -> None:
    """Remove the demo in `out_dir`: its world, its outputs folder and its store."""
    clear_world(out_dir / "data")
    outputs = out_dir / "out"
    if outputs.is_dir() and not outputs.is_symlink():
        shutil.rmtree(outputs)
    for name in STORE_FILES:
        (out_dir / name).unlink(missing_ok=True)


def synth(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write the dataset into "
                                 "(created; it must be empty, or hold the world of the "
                                 "same seed and scenario, unless --force)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same "
                             "files, byte for byte."),
    scenario: str = typer.Option("demo", "--scenario", help="demo (honest noise + every "
                                 "planted case), clean (honest noise only), unverified37 "
                                 "(37% of VN's imports vanish), capacity137 (imports +137% "
                                 "against capacity +5%)."),
    force: bool = typer.Option(False, "--force", "--replace", help="Replace the world "
                               "already in OUT (its table files, certificates, planted.json "
                               "and store; other files are left alone)."),
) -> None:
    """Generate a small, realistic rare-earth world as a dataset folder.

    Exporters in China, importers, processors, manufacturers, final sales and recyclers in
    several countries over two years, with honest noise and (in the demo scenario) planted
    cases of every finding rule, listed beside the data in planted.json. Exit status: 0
    written; 2 unknown scenario, or OUT not empty without --force."""
    from rareflow.world import SCENARIOS, generate

    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"one of {', '.join(SCENARIOS)}", param_hint="--scenario")
    refuse_non_empty(out_dir, force, "rareflow synth --out", (out_dir, seed, scenario))
    if force:
        clear_world(out_dir)
    book = generate(out_dir, seed=seed, scenario=scenario)
    rows = sum(len(v) for v in book.rows.values())
    out.print(Text(f"{scenario} world (seed {seed}): {rows} rows in {len(book.rows)} tables, "
                   f"{len(book.planted)} planted cases -> {out_dir}"))


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
