"""Application state in SQLAlchemy: users, sessions, API tokens, decisions, uploads and the
append-only audit log. SQLite file by default, PostgreSQL (or any SQLAlchemy URL) by URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    # a disabled user cannot log in, and its sessions and API tokens stop working
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))


class WebSession(Base):
    """A login: the cookie holds a random token, the table its SHA-256 only."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for the API, stored as its SHA-256 (shown once, when made)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=now)


class Decision(Base):
    """An officer's decision on a licence application; the latest one per application is in
    force, the earlier ones stay."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(String(100), index=True)
    decision: Mapped[str] = mapped_column(String(30))
    proposed: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[str] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Annotation(Base):
    """An analyst's or officer's note on a finding (not shown to importers)."""

    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(100), index=True)
    user: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Upload(Base):
    """A dataset filed through the web: who, when, which file, what was kept and set aside."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    party_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    filename: Mapped[str] = mapped_column(String(300))
    folder: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=now)
    status: Mapped[str] = mapped_column(String(20))  # stored | refused | error
    message: Mapped[str] = mapped_column(Text, default="")
    loaded: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejects: Mapped[list] = mapped_column(JSON, default=list)  # file, line, column, reason...
    # each certificate document filed: file, line, certificate_id, document_hash, outcome
    # (stored, already stored, set aside) and its verification (status, codes, as_of)
    certificates: Mapped[list | None] = mapped_column(JSON, default=list, nullable=True)


class AuditEvent(Base):
    """Append-only (triggers refuse UPDATE and DELETE on SQLite and PostgreSQL)."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=now)
    user: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))  # login, login_failed, decision, upload
    detail: Mapped[str] = mapped_column(Text, default="")


_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)
_PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
)


def database_url(value: str | Path) -> str:
    """A SQLAlchemy URL: given as one, or a file path for SQLite."""
    s = str(value)
    return s if "://" in s else f"sqlite:///{Path(s).expanduser().resolve()}"


def open_app_db(url: str | Path) -> sessionmaker[Session]:
    """The application database at `url` (created if need be), as a session factory."""
    url = database_url(url)
    sqlite = url.startswith("sqlite")
    engine: Engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {})
    if sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # noqa: ANN001
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        # a database made before users could be disabled, or before certificates were
        # filed through the web: add the column
        if "disabled" not in {c["name"] for c in inspect(conn).get_columns("users")}:
            conn.execute(text("ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL "
                              "DEFAULT FALSE"))
        if "certificates" not in {c["name"] for c in inspect(conn).get_columns("uploads")}:
            conn.execute(text("ALTER TABLE uploads ADD COLUMN certificates JSON"))
        for stmt in (_SQLITE_TRIGGERS if sqlite else
                     _PG_TRIGGERS if engine.dialect.name == "postgresql" else ()):
            conn.execute(text(stmt))
    return sessionmaker(engine, expire_on_commit=False)


def audit(db: Session, user: str, action: str, detail: str = "") -> None:
    db.add(AuditEvent(user=user, action=action, detail=detail))
