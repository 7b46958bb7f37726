"""Helpers of the web tests (tests/test_web*.py): the web application on a private copy of a
shared, already-built store, built once per test process and shared by the test files (a
module-level cache, as the fixtures of one file cannot be shared with another's), its users,
and logging in through the real login form (CSRF included). No test here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import EXAMPLE, Built, copy_store

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

        data = example_subset(root / "data", "flows")
        web_app("example", _stored(data, root), root, {"ivy": "EX-IN-01"})
    return _CACHE["example"]


def _stored(data: Path, root: Path) -> Built:
    """`data` ingested into a new store file under `root/built`."""
    from rareflow.workspace import Workspace

    db = root / "built" / "rareflow.duckdb"
    db.parent.mkdir()
    w = Workspace.open(db)
    try:
        report = w.ingest(data)
    finally:
        w.close()
    return Built(data, db, report)


def screening_web_app(root: Path) -> WebApp:
    """The web application on the contract example's parties, shipments and restricted list
    (MEU-EX-1 'Example Defence Drones Pvt Ltd', IN) with two parties close to the listed
    name (tests/test_screening_decisions.py explains their scores): X-IN-8 'Example Defense
    Drone Pvt Ltd', a `match`, and X-IN-7 'Example Defence Drone Systems Pvt Ltd', a
    `possible`; and the analysts' judgements of both: X-IN-8 confirmed the same, X-IN-7
    judged not the same. Importers: `xavier` of X-IN-8, `xena` of X-IN-7. Built once per
    process."""
    if "screening" not in _CACHE:
        from conftest import append_rows, example_subset

        data = example_subset(root / "data", "restricted_parties")
        append_rows(data / "parties.csv",
                    "X-IN-8,Example Defense Drone Pvt Ltd,IN,manufacturer,,,,,,,",
                    "X-IN-7,Example Defence Drone Systems Pvt Ltd,IN,manufacturer,,,,,,,")
        (data / "screening_decisions.csv").write_text(
            "party_id,entity_id,decision,by,date,note\n"
            "X-IN-8,MEU-EX-1,same,ana,2025-09-01,registry extract: same company number\n"
            "X-IN-7,MEU-EX-1,not_same,ana,2025-09-02,different founders and address\n",
            encoding="utf-8")
        web_app("screening", _stored(data, root), root,
                {"xavier": "X-IN-8", "xena": "X-IN-7"})
    return _CACHE["screening"]


SECRETS = dict(line.split() for line in (EXAMPLE / "EXAMPLE-SECRET-KEYS.txt").read_text()
               .splitlines() if line.strip() and not line.startswith("#"))


def certificate(cid: str, party: str = "EX-IN-01",
                signers: tuple[str, ...] = ("EX-IN-01", "EX-IN-GOV")) -> dict:
    """The contract example's certificate (EX-EUC-01: end user and importer EX-IN-01,
    endorsed by EX-IN-GOV) numbered `cid`, for `party`, signed as `rareflow certificate
    sign` signs (eddsa-jcs-2022) with the example's keys of `signers`."""
    import json

    from rareflow.vc import KeyPair, sign_credential

    doc = json.loads((EXAMPLE / "certificates" / "EX-EUC-01.json").read_text())
    doc.pop("proof")
    doc["credentialSubject"].update(certificate_id=cid, importer_id=party, end_user_id=party)
    for n, who in enumerate(signers):
        doc = sign_credential(doc, KeyPair.from_secret_multibase(SECRETS[who]),
                              f"2025-03-0{n + 1}T09:00:00Z")
    return doc


def close_all() -> None:
    for w in _CACHE.values():
        w.app.state.web.service.close()
    _CACHE.clear()
