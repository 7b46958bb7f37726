"""`rareflow users`: the web application's users (docs/commands/users.md)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.cli.serve import need_web
from rareflow.errors import ConfigError, StoreBusyError

out = cli_console.out
users_app = typer.Typer(help="Users of the web application (rareflow serve): add one, "
                        "list them, give one an API token.", no_args_is_help=True)

DB_HELP = "The store (DuckDB file) the server runs on \\[default: $RAREFLOW_DB]."
APP_DB_HELP = ("The application database: a SQLite file or a SQLAlchemy URL "
               "\\[default: STORE.web.sqlite].")


def _app_db(db: Path | None, app_db: str | None):  # noqa: ANN202
    need_web()
    from rareflow.web.app import default_app_db
    from rareflow.web.models import open_app_db

    if app_db:
        return open_app_db(app_db)
    from rareflow.settings import Settings

    store = db or Settings.load().db
    if store is None:
        raise ConfigError("--db or --app-db: whose users? (the store the server runs on)")
    return open_app_db(default_app_db(Path(store)))


def _check_party(db: Path | None, party: str) -> None:
    """The party must be in the store, when the store can be read now."""
    if db is None or not Path(db).is_file():
        return
    from rareflow.settings import Settings

    try:
        store = Settings.load().open_store(db)
    except StoreBusyError:
        cli_console.err.print(Text(f"note: {db} is in use (a running server?): party "
                                   f"{party} not checked against the store"))
        return
    try:
        if "parties" not in store.names():
            return
        t = store.table("parties")
        n = int(store.scalar(t.filter(t.party_id == party).count()))
    finally:
        store.close()
    if not n:
        raise ConfigError(f"--party: no party {party} in {db}")


def _password(generate: bool) -> str:
    if generate:
        return secrets.token_urlsafe(12)
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError("no password on standard input (or use --generate)")
        return line
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="The user's login name."),
    role: str = typer.Option(..., "--role", help="officer, analyst, importer or admin."),
    party: str | None = typer.Option(None, "--party", help="The importer's party_id."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    app_db: str | None = typer.Option(None, "--app-db", help=APP_DB_HELP),
    generate: bool = typer.Option(False, "--generate", help="Make up a password and print "
                                  "it (else: prompted, or the first line of standard input)."),
    replace: bool = typer.Option(False, "--replace", help="A user of that name exists "
                                 "already: give it this role, party and password."),
) -> None:
    """Add a user. An importer is bound to its party (--party) and sees only its data.

    The password is stored hashed (argon2id). Exit status 2 on a bad role, a missing or
    unknown party, an existing name."""
    sessions = _app_db(db, app_db)
    from rareflow.web.auth import add_user

    if role == "importer" and party:
        from rareflow.settings import Settings

        _check_party(db or Settings.load().db, party)
    password = _password(generate)
    with sessions() as s:
        if replace:
            from sqlalchemy import delete, select

            from rareflow.web.models import ApiToken, User, WebSession

            old = s.scalar(select(User).where(User.name == name))
            if old is not None:  # its sessions and tokens go with it
                s.execute(delete(WebSession).where(WebSession.user_id == old.id))
                s.execute(delete(ApiToken).where(ApiToken.user_id == old.id))
                s.delete(old)
                s.flush()
        add_user(s, name, role, password, party)
        s.commit()
    out.print(Text(f"user {name} added ({role}{f', party {party}' if party else ''})"))
    if generate:
        out.print(Text(f"password: {password}"))


@users_app.command("list")
def list_cmd(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    app_db: str | None = typer.Option(None, "--app-db", help=APP_DB_HELP),
) -> None:
    """The users: name, role, party."""
    sessions = _app_db(db, app_db)
    from sqlalchemy import select

    from rareflow.web.models import User

    table = Table(title="Users")
    for col in ("name", "role", "party", "created"):
        table.add_column(col)
    with sessions() as s:
        for u in s.scalars(select(User).order_by(User.name)):
            table.add_row(Text(u.name), u.role, Text(u.party_id or ""),
                          u.created.isoformat(timespec="seconds"))
    out.print(table)


@users_app.command("token")
def token(
    name: str = typer.Argument(..., help="The user's login name."),
    label: str = typer.Option("", "--label", help="What the token is for."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    app_db: str | None = typer.Option(None, "--app-db", help=APP_DB_HELP),
) -> None:
    """Make an API token for a user and print it (once: only its hash is kept). Use it as
    `Authorization: Bearer TOKEN`."""
    sessions = _app_db(db, app_db)
    from sqlalchemy import select

    from rareflow.web.auth import new_token
    from rareflow.web.models import User

    with sessions() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise ConfigError(f"no user {name}")
        tok = new_token(s, user, label)
        s.commit()
    out.print(Text(tok))


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
