"""Passwords (argon2id, memory-hard), sessions with CSRF tokens, API tokens (stored as their
SHA-256), and the roles' permissions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareflow.errors import ConfigError
from rareflow.web import ROLES
from rareflow.web.models import ApiToken, User, WebSession, now

HASHER = PasswordHasher()  # argon2id, the library's defaults (64 MiB, 3 passes)
SESSION_HOURS = 12
COOKIE = "rareflow_session"

#: what each role may do besides reading what it may see
CAN = {
    "officer": {"read_all", "decide", "audit", "upload", "annotate"},
    "analyst": {"read_all", "annotate"},
    "importer": {"upload"},
    "admin": {"read_all", "audit", "users"},
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user's name, role and (importers) party; and the session's CSRF."""

    name: str
    role: str
    party_id: str | None = None
    csrf: str = ""
    via_token: bool = False

    def can(self, what: str) -> bool:
        return what in CAN.get(self.role, set())

    @property
    def importer(self) -> bool:
        return self.role == "importer"


#: who a session cookie or API token belongs to, remembered for a few seconds (a page then
#: needs no database query to know who asks); forgotten at once by every change of a user,
#: a session or a password made in this process
REMEMBER_SECONDS = 2.0
_PRINCIPALS: dict[tuple[str, str], tuple[float, Principal]] = {}


def remembered(kind: str, token: str, lookup: Callable[[], Principal | None]
               ) -> Principal | None:
    """`lookup()` (a session's or a token's principal), remembered REMEMBER_SECONDS."""
    key = (kind, sha256(token))
    hit = _PRINCIPALS.get(key)
    t = time.monotonic()
    if hit is not None and hit[0] > t:
        return hit[1]
    p = lookup()
    if p is not None:
        if len(_PRINCIPALS) > 10_000:
            _PRINCIPALS.clear()
        _PRINCIPALS[key] = (t + REMEMBER_SECONDS, p)
    return p


def recall(kind: str, token: str) -> Principal | None:
    """The principal remembered for `token`, if still fresh (no lookup)."""
    hit = _PRINCIPALS.get((kind, sha256(token)))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def forget_principals() -> None:
    """After a change of users, sessions or passwords: the next request looks again."""
    _PRINCIPALS.clear()


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(db: Session, name: str, role: str, password: str,
             party_id: str | None = None) -> User:
    """A new user; an importer must be bound to a party, no other role may be."""
    check_role(role, party_id)
    if not name.strip():
        raise ConfigError("a user needs a name")
    if len(password) < 8:
        raise ConfigError("a password needs at least 8 characters")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise ConfigError(f"user '{name}' exists already")
    user = User(name=name, role=role, party_id=party_id, password_hash=HASHER.hash(password))
    db.add(user)
    db.flush()
    return user


def check_role(role: str, party_id: str | None) -> None:
    """A role known, and a party for an importer only."""
    if role not in ROLES:
        raise ConfigError(f"role '{role}' unknown: one of {', '.join(ROLES)}")
    if role == "importer" and not party_id:
        raise ConfigError("an importer must be bound to a party: --party PARTY_ID")
    if role != "importer" and party_id:
        raise ConfigError(f"only importers are bound to a party, not a {role}")


def set_password(db: Session, user: User, password: str) -> None:
    """A new password for `user`; every session of theirs is closed."""
    if len(password) < 8:
        raise ConfigError("a password needs at least 8 characters")
    user.password_hash = HASHER.hash(password)
    close_sessions(db, user)
    forget_principals()


def close_sessions(db: Session, user: User) -> None:
    """Log `user` out everywhere."""
    for s in db.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        db.delete(s)
    forget_principals()


def check_password(db: Session, name: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        HASHER.hash(password)  # the same time whether or not the user exists
        return None
    try:
        HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user.disabled:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


def open_session(db: Session, user: User) -> tuple[str, str]:
    """A new session: (the cookie's token, the CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    db.add(WebSession(token_hash=sha256(token), user_id=user.id, csrf=csrf,
                      expires=now() + timedelta(hours=SESSION_HOURS)))
    return token, csrf


def close_session(db: Session, token: str) -> None:
    s = db.get(WebSession, sha256(token))
    if s is not None:
        db.delete(s)
    forget_principals()


def session_principal(db: Session, token: str | None) -> Principal | None:
    if not token:
        return None
    s = db.get(WebSession, sha256(token))
    if s is None or s.expires < now():
        return None
    user = db.get(User, s.user_id)
    if user is None or user.disabled:
        return None
    return Principal(user.name, user.role, user.party_id, s.csrf)


def new_token(db: Session, user: User, label: str = "") -> str:
    """A new API token for `user`: returned once, stored as its hash."""
    token = "rf_" + secrets.token_urlsafe(32)
    db.add(ApiToken(user_id=user.id, token_hash=sha256(token), label=label))
    return token


def token_principal(db: Session, token: str) -> Principal | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == sha256(token)))
    if row is None:
        return None
    user = db.get(User, row.user_id)
    return None if user is None or user.disabled else Principal(
        user.name, user.role, user.party_id, via_token=True)


def csrf_ok(principal: Principal, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(principal.csrf, given or "")
