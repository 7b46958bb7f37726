"""`rareflow epcis validate`, `hash` and `export` (see docs/commands/epcis.md)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from rareflow.cli import console as cli_console
from rareflow.cli.errors import one_line
from rareflow.cli.progress import stage

epcis_app = typer.Typer(
    name="epcis",
    help="EPCIS 2.0 documents (JSON/JSON-LD or XML): validate them against the GS1 schemas, "
         "compute the CBV 2.0 Event Hash ID of each event, and export a dataset's flows, "
         "transformations and stocks as EPCIS (a dataset's epcis/ folder is read by ingest).",
    no_args_is_help=True,
)

SCHEMAS_HELP = ("Folder(s) holding the GS1 EPCIS schemas (epcis-json-schema.json, "
                "query-schema.json, EPCglobal-epcis-*2_0.xsd), several joined by the path "
                "separator (':' on Linux); looked up by file name, also in sub-folders. "
                "Default: $RAREFLOW_EPCIS_SCHEMAS. rareflow does not ship them (GS1 licence "
                "terms).")


def _err(message: str) -> None:
    """One `error:` line on standard error (for a file among several: the others are still
    read; an error that ends the command is raised instead, for `cli/errors.py`)."""
    cli_console.error(one_line(message, limit=10_000))


@epcis_app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="EPCIS documents (.json, .jsonld, .xml).",
                                       show_default=False),
    schemas: str | None = typer.Option(None, "--schemas", help=SCHEMAS_HELP,
                                       show_default=False),
    max_problems: int = typer.Option(20, "--max-problems", min=1,
                                     help="Reasons printed per invalid file."),
) -> None:
    """Validate EPCIS 2.0 documents against the GS1 schemas.

    JSON/JSON-LD is checked against the normative EPCIS 2.0.1 JSON schema (formats such as
    uri and date-time enforced), XML against the EPCIS 2.0 XSDs. Prints "valid" or the
    reasons: where (JSON path or XML line), the offending value and what was expected.
    Exit status: 0 all valid, 1 at least one invalid, 2 a file or the schemas could not be
    read.
    """
    from rareflow.epcis.validate import SchemasNotFound, load_schemas, validate_document
    from rareflow.errors import ConfigError, RareflowError

    try:
        schema_set = load_schemas(schemas.split(os.pathsep) if schemas else None)
    except SchemasNotFound as exc:
        raise ConfigError(str(exc)) from None
    invalid = unreadable = False
    results: list[tuple[Path, list]] = []
    with stage("checking", len(files), "files") as progress:
        for path in files:
            progress(path.name)
            try:
                results.append((path, validate_document(path, schemas=schema_set)))
            except IsADirectoryError:
                _err(f"cannot read {path}: it is a folder, not a file")
                unreadable = True
            except OSError as exc:
                _err(f"cannot read {path}: {exc.strerror or exc}")
                unreadable = True
            except SchemasNotFound as exc:
                raise ConfigError(f"{path}: {exc}") from None
            except RareflowError as exc:  # over the size or depth limit
                _err(exc.message)
                unreadable = True
    for path, problems in results:
        if not problems:
            typer.echo(f"{path}: valid")
            continue
        invalid = True
        count = len(problems)
        typer.echo(f"{path}: invalid ({count} problem{'s' if count != 1 else ''})")
        for problem in problems[:max_problems]:
            typer.echo(f"  - {problem}")
        if count > max_problems:
            typer.echo(f"  ... and {count - max_problems} more (--max-problems)")
    if unreadable:
        raise typer.Exit(2)
    if invalid:
        raise typer.Exit(1)


@epcis_app.command("hash")
def hash_ids(
    file: Path = typer.Argument(..., help="An EPCIS document (.json, .jsonld, .xml).",
                                show_default=False),
    algorithm: str = typer.Option("sha-256", "--algorithm",
                                  help="sha-256, sha-384, sha-512, sha3-256, sha3-384 or "
                                       "sha3-512 (named-information names)."),
    prehash: bool = typer.Option(False, "--prehash",
                                 help="Also print each event's canonical pre-hash string."),
    honour_ignore_fields: bool = typer.Option(
        False, "--honour-ignore-fields",
        help="Drop the fields a document-level `ignoreFields` list names before hashing, as "
             "the reference implementation does (not part of CBV 2.0; off by default)."),
) -> None:
    """Print the CBV 2.0 Event Hash ID of each event.

    One line per event, in document order: position, hash ID, the eventID the document
    gives (or -), tab-separated; with --prehash a fourth column holds the pre-hash string.
    Exit status: 0 done, 2 the file cannot be read or is not an EPCIS document.
    """
    from rareflow.epcis.event_hash import ALGORITHMS, EventHashError, hash_events
    from rareflow.errors import UnreadableFileError

    if algorithm not in ALGORITHMS:
        raise typer.BadParameter(f"one of {', '.join(ALGORITHMS)}", param_hint="--algorithm")
    # errors are raised for the one mapping (cli/errors.py): one line, exit status 2
    try:
        with stage("hashing", None, "events", status=False) as progress:
            events = hash_events(file, algorithm=algorithm,
                                 honour_ignore_fields=honour_ignore_fields)
            progress.advance(len(events))
    except IsADirectoryError:
        raise UnreadableFileError(str(file), "it is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFileError(str(file), exc.strerror or str(exc)) from None
    except EventHashError as exc:
        raise UnreadableFileError(str(file), one_line(exc, limit=10_000)) from None
    typer.echo("\n".join("\t".join([str(e.position), e.hash_id, e.event_id or "-",
                                    *([e.prehash] if prehash else [])]) for e in events)
               if events else "", nl=bool(events))


@epcis_app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Dataset folder (one file per table).",
                                     show_default=False),
    out: Path = typer.Option(..., "--out", help="The EPCIS 2.0 JSON-LD document to write "
                             "(.jsonld).", show_default=False),
    check: bool = typer.Option(False, "--validate",
                               help="Validate the written document against the GS1 JSON "
                                    "schema (needs --schemas or $RAREFLOW_EPCIS_SCHEMAS)."),
    schemas: str | None = typer.Option(None, "--schemas", help=SCHEMAS_HELP,
                                       show_default=False),
) -> None:
    """Write a dataset's flows, transformations and stocks as one EPCIS 2.0 JSON-LD document.

    The dataset is read (and checked) as `rareflow validate` does; rows it sets aside are not
    exported. Flows become shipping (or retail_selling) ObjectEvents, transformations
    TransformationEvents, stock reports stock_taking ObjectEvents; parties are PGLNs where
    the dataset's epcis_parties table gives one, else urn:rareflow:party: URIs described in
    the header's master data; lots (source_ref, input_ref) travel in the epcClass. Reading
    the document back (a dataset folder epcis/) gives the same rows: docs/epcis-mapping.md.
    Exit status: 0 written, 1 written but not valid (--validate), 2 the dataset, the output
    or the schemas could not be read or written.
    """
    from rareflow.epcis.writer import export_workspace
    from rareflow.errors import RareflowError
    from rareflow.workspace import Workspace

    try:
        ws = Workspace.open(None)
        report = ws.ingest(directory)
        counts = export_workspace(ws, out)
    except RareflowError as exc:
        _err(exc.message)
        raise typer.Exit(2) from None
    except OSError as exc:
        _err(f"cannot write {out}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    typer.echo(f"{out}: {counts.events} events ({counts.flows} flows, "
               f"{counts.transformations} transformations, {counts.stocks} stock reports), "
               f"{counts.parties} parties in the master data")
    if report.rejected:
        typer.echo(f"note: {report.rejected} row(s) of {directory} were set aside by the "
                   "contract checks and are not exported (rareflow validate DIR lists them)")
    if not check:
        return
    from rareflow.epcis.validate import SchemasNotFound, load_schemas, validate_document

    try:
        problems = validate_document(out, schemas=load_schemas(
            schemas.split(os.pathsep) if schemas else None))
    except SchemasNotFound as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    if problems:
        typer.echo(f"{out}: invalid ({len(problems)} problems)")
        for problem in problems[:20]:
            typer.echo(f"  - {problem}")
        raise typer.Exit(1)
    typer.echo(f"{out}: valid")


def register(app: typer.Typer) -> None:
    app.add_typer(epcis_app, name="epcis")
