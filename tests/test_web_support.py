"""Helpers of the web tests (tests/test_web*.py): the web application on a private copy of a
shared, already-built store, built once per test process and shared by the test files (a
module-level cache, as the fixtures of one file cannot be shared with another's), its users,
and logging in through the real login form (CSRF included). No test here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Built, copy_store

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install -e '.[dev]')")

import warnings  # noqa: E402

from fastapi import FastAPI  # noqa: E402

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from rareflow.web.app import create_app  # noqa: E402
from rareflow.web.auth import add_user  # noqa: E402

PASSWORD = "correct horse battery"
#: name: (role, party) of the users every web application of the tests has
USERS = {"olivia": ("officer", None), "ana": ("analyst", None), "adam": ("admin", None)}


@dataclass
class WebApp:
    app: FastAPI
    root: Path
    users: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def client(self, name: str | None = None) -> TestClient:
        """A client, logged in as `name` through the login form (None: anonymous)."""
        c = TestClient(self.app)
        if name is not None:
            login(c, name)
        return c


def login(c: TestClient, name: str, password: str = PASSWORD) -> None:
    r = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"name": name, "password": password, "csrf": csrf, "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


_CACHE: dict[str, WebApp] = {}


def web_app(key: str, built: Built, root: Path, importers: dict[str, str]) -> WebApp:
    """The web application on a private copy of `built`'s store (analysed once, on
    creation), with the officer, analyst and admin of `USERS` and `importers` (name: party).
    Built once per process under `key`."""
    if key not in _CACHE:
        store = copy_store(built.db, root / "store")
        app = create_app(store, root / "app.sqlite", uploads=root / "uploads")
        users = {**USERS, **{n: ("importer", p) for n, p in importers.items()}}
        with app.state.web.db() as db:
            for name, (role, party) in users.items():
                add_user(db, name, role, PASSWORD, party)
            db.commit()
        _CACHE[key] = WebApp(app, root, users)
    return _CACHE[key]


def example_web_app(root: Path) -> WebApp:
    """The web application on the contract example's parties, shipments and flows (an
    ingest and an analysis of three tables take a second; the whole example's, many), with
    the importer `ivy` of EX-IN-01. Built once per process."""
    if "example" not in _CACHE:
        from conftest import example_subset
        from rareflow.workspace import Workspace

        data = example_subset(root / "data", "flows")
        db = root / "built" / "rareflow.duckdb"
        db.parent.mkdir()
        w = Workspace.open(db)
        try:
            report = w.ingest(data)
        finally:
            w.close()
        web_app("example", Built(data, db, report), root, {"ivy": "EX-IN-01"})
    return _CACHE["example"]


def close_all() -> None:
    for w in _CACHE.values():
        w.app.state.web.service.close()
    _CACHE.clear()
