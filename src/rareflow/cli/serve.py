"""`rareflow serve`: the casework web application and API over a store (docs/serve.md).

Needs the `web` extra; the modules are imported only when the command runs, so the rest of
the command line works without it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.errors import ConfigError

WEB_EXTRA = ("the web application needs the `web` extra: pip install 'rareflow[web]' "
             "(in this checkout: .venv/bin/pip install -e '.[web]')")


def need_web() -> None:
    """ConfigError (exit 2) with how to install the extra, when it is missing."""
    import importlib

    missing = []
    for m in ("fastapi", "uvicorn", "jinja2", "sqlalchemy", "argon2", "python_multipart"):
        try:
            importlib.import_module(m)
        except ImportError:
            missing.append(m)
    if missing:
        raise ConfigError(f"{WEB_EXTRA}; missing: {', '.join(missing)}")


def store_path(db: Path | None) -> Path:
    from rareflow.settings import Settings

    db = db or Settings.load().db
    if db is None:
        raise ConfigError("--db: which store? (a DuckDB file written by rareflow ingest, "
                          "analyze or demo; or $RAREFLOW_DB)")
    if not db.is_file():
        raise ConfigError(f"--db: no such store: {db} (make one with rareflow ingest DATASET "
                          f"--db {db}, or rareflow demo)")
    return db


def serve(
    db: Path | None = typer.Option(None, "--db", help="The store (DuckDB file) "
                                   "\\[default: $RAREFLOW_DB]."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    app_db: str | None = typer.Option(None, "--app-db", help="Users, decisions, uploads and "
                                      "the audit log: a SQLite file or a SQLAlchemy URL "
                                      "(postgresql://...) \\[default: STORE.web.sqlite]."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML \\[default: "
                                       "$RAREFLOW_POLICY, else the one rareflow ships]."),
) -> None:
    """Serve the casework web application and its JSON API over a store.

    Pages: dashboard, findings with their evidence, parties, certificates, shipments,
    licences, the applications queue (officers decide), uploads, the audit log; the API's
    documentation is at /docs. Users: rareflow users add. The server holds the store for
    its lifetime (other commands on the same file wait or exit 3). Exit status 2 when the
    store, a setting or the web extra is missing."""
    need_web()
    from rareflow.settings import Settings

    settings = Settings.load(db=db, policy=policy)
    store = store_path(settings.db)
    import uvicorn

    from rareflow.web.app import create_app, default_app_db

    cli_console.err.print(Text(f"analysing {store} ..."))
    app = create_app(store, app_db, settings=settings)
    cli_console.out.print(Text(f"rareflow serve: http://{host}:{port}/ (store {store}; "
                               f"users and audit: {app_db or default_app_db(store)}; "
                               "Ctrl-C stops)"))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
