"""The `rareflow` command: one Typer app; each area registers its commands from its module.

Every command runs inside one error mapping (`cli/errors.py`, the root group's `invoke`):
commands raise, the mapping prints one line and exits with the documented status
(docs/commands/exit-codes.md)."""

from __future__ import annotations

import importlib

import typer

from rareflow.cli.errors import RareflowGroup

app = typer.Typer(
    name="rareflow",
    cls=RareflowGroup,
    help=(
        "Export-control flow management for rare earths: read a dataset of shipments, "
        "licences, end-user certificates and full-chain flows, and find where the material "
        "went, which books do not close, and which certificates or licences were broken. "
        "Settings: command options, else RAREFLOW_* environment variables; exit statuses: "
        "docs/commands/exit-codes.md."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines `register(app: typer.Typer) -> None`. Order = order in `--help`.
COMMAND_MODULES = (
    "rareflow.cli.dataset",  # validate, ingest, analyze, demo
    "rareflow.cli.synth",  # synth
    "rareflow.cli.epcis",  # epcis
    "rareflow.cli.reconcile",  # reconcile
    "rareflow.cli.certificates",  # keys, certificate
    "rareflow.cli.assess",  # assess
    "rareflow.cli.screen",  # screen
    "rareflow.cli.trace",  # trace
    "rareflow.cli.rules",  # rules
    "rareflow.cli.serve",  # serve (the web application; needs the `web` extra)
    "rareflow.cli.users",  # users (of the web application)
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _version() -> str:
    """The installed distribution's version; the source tree's when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rareflow")
    except PackageNotFoundError:
        from rareflow import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rareflow {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 expose_value=True,
                                 help="Print the version and exit (status 0)."),
) -> None:
    """Export-control flow management for rare earths."""
