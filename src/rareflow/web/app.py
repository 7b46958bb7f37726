"""The FastAPI application: pages rendered on the server (Jinja2, plain forms) and the JSON
API, over one store (`service.StoreService`) and the application database (`models`).

Every page and API answer is built by `views.py` for the user asking; the handlers only
check who asks and what role may do what, and render or return the result. Handlers are
plain functions: FastAPI runs them in its thread pool, so an upload being analysed does not
stop the pages from answering."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from rareflow.errors import ConfigError
from rareflow.settings import Settings
from rareflow.web import ROLES, views
from rareflow.web.auth import (
    COOKIE,
    SESSION_HOURS,
    Principal,
    add_user,
    check_password,
    check_role,
    close_session,
    close_sessions,
    csrf_ok,
    forget_principals,
    open_session,
    recall,
    remembered,
    session_principal,
    set_password,
    token_principal,
)
from rareflow.web.models import (
    Annotation,
    AuditEvent,
    Decision,
    Upload,
    User,
    audit,
    open_app_db,
)
from rareflow.web.service import StoreService
from rareflow.web.upload import MAX_BYTES, MAX_FILES, file_certificates, file_upload

HERE = Path(__file__).parent
LOGIN_CSRF = "rareflow_login_csrf"
DECISIONS = ("approve", "request_information", "deny")


@dataclass
class WebState:
    service: StoreService
    db: sessionmaker[Session]
    uploads: Path


def default_app_db(store: Path) -> Path:
    """The application database beside the store: STORE.web.sqlite."""
    return store.with_name(store.name + ".web.sqlite")


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


# --- who asks --------------------------------------------------------------------------------
def _state(request: Request) -> WebState:
    return request.app.state.web


def get_db(request: Request) -> Iterator[Session]:
    with _state(request).db() as db:
        yield db


async def who(request: Request) -> Principal:
    """The user: a bearer token (API) or the session cookie; else 401 / the login page.
    Who a token or cookie belongs to is remembered a few seconds (`auth.remembered`): then
    answered here, on the event loop, without a database query or a thread."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    cookie = request.cookies.get(COOKIE)
    p = (recall("token", token) if token else None) or (
        recall("session", cookie) if cookie else None)
    if p is None and (token or cookie):
        p = await run_in_threadpool(_look_up, _state(request), token, cookie)
    if p is None:
        raise LoginRequired()
    return p


def _look_up(state: WebState, token: str | None, cookie: str | None) -> Principal | None:
    with state.db() as db:
        p = remembered("token", token, lambda: token_principal(db, token)) if token else None
        if p is None and cookie:
            p = remembered("session", cookie, lambda: session_principal(db, cookie))
        return p


def need(p: Principal, what: str) -> None:
    if not p.can(what):
        raise Forbidden(what)


def check_csrf(request: Request, p: Principal, form_token: str | None) -> None:
    """Every POST made with the session cookie carries the session's CSRF token (a form
    field, or the X-CSRF-Token header); bearer-token calls are not cookie-borne."""
    if p.via_token:
        return
    if not csrf_ok(p, form_token or request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# --- the application -------------------------------------------------------------------------
def create_app(store: Path, app_db: str | Path | None = None, *,
               settings: Settings | None = None, uploads: Path | None = None,
               service: StoreService | None = None, warm: bool = True) -> FastAPI:
    """The application on `store` (a DuckDB file), with its state in `app_db` (a SQLAlchemy
    URL or a SQLite file; default STORE.web.sqlite). `warm`: analyse before the first
    request."""
    store = Path(store)
    service = service or StoreService(store, settings)
    state = WebState(service, open_app_db(app_db or default_app_db(store)),
                     uploads or store.with_name(store.name + ".uploads"))
    if warm:
        service.snapshot()

    app = FastAPI(title="rareflow", version="1", docs_url=None, redoc_url=None,
                  description="Casework API of rareflow: findings, evidence, parties, "
                  "licence applications and decisions, uploads. Authenticate with "
                  "`Authorization: Bearer TOKEN` (`rareflow users token NAME`) or the "
                  "session cookie of a login.")
    app.state.web = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["kg"] = _kg
    templates.env.filters["pct"] = _pct
    templates.env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, default=str)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, p: Principal | None, status: int = 200,
             **ctx: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"who": p, **ctx},
                                          status_code=status)

    def blocks(name: str, ctx: dict[str, Any]) -> dict[str, Markup]:
        """A page's title, main and scripts blocks, rendered without the user (they show
        only `ctx`)."""
        tmpl = templates.get_template(name)
        context = tmpl.new_context({"who": None, **ctx})
        return {b: Markup("".join(tmpl.blocks[b](context)))
                for b in ("title", "main", "scripts") if b in tmpl.blocks}

    def cached_page(request: Request, name: str, p: Principal, d: dict[str, Any],
                    **derived: Any) -> HTMLResponse:
        """A page whose content is the view answer `d` (cached per store state and scope,
        never mutated) and what is derived from it: its blocks are rendered once per
        answer; each request renders only the frame (the user's name, the CSRF token)."""
        b = _memo(d, name, lambda: blocks(name, {"d": d, **derived}))
        return templates.TemplateResponse(request, "_shell.html", {"who": p, "blocks": b})

    # errors: pages show a message, the API a JSON detail; never a traceback
    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired):  # noqa: ANN202
        if _api(request):
            return JSONResponse({"detail": "not logged in: send a bearer token"}, 401)
        return RedirectResponse(f"/login?next={request.url.path}", 303)

    @app.exception_handler(views.NotFound)
    def _not_found(request: Request, exc: views.NotFound):  # noqa: ANN202
        if _api(request):
            return JSONResponse({"detail": "not found"}, 404)
        return page(request, "error.html", None, 404, title="Not found",
                    message="There is no such record, or it is not yours to see.")

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden):  # noqa: ANN202
        msg = f"your role may not do this ({exc.what})"
        if _api(request):
            return JSONResponse({"detail": msg}, 403)
        return page(request, "error.html", None, 403, title="Not allowed", message=msg)

    # --- static assets served from the package (offline) ------------------------------
    @app.get("/static-vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="text/javascript")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="rareflow API",
                                   swagger_js_url="/static-vendor/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static-vendor/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    try:
        import swagger_ui_bundle

        app.mount("/static-vendor/swagger",
                  StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    except ImportError:  # /docs then says what to install; /openapi.json works regardless
        pass

    # --- login ------------------------------------------------------------------------
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", None, csrf=token, next=_safe_next(next))
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict")
        return resp

    @app.post("/login", include_in_schema=False)
    def login(request: Request, name: str = Form(...), password: str = Form(...),
              csrf: str = Form(""), next: str = Form("/"),
              db: Session = Depends(get_db)) -> Any:
        expected = request.cookies.get(LOGIN_CSRF, "")
        if not expected or not secrets.compare_digest(expected, csrf):
            return page(request, "login.html", None, 403, csrf=expected, next=next,
                        error="The form expired: please log in again.")
        user = check_password(db, name, password)
        if user is None:
            audit(db, name[:100], "login_failed", "wrong name or password")
            db.commit()
            return page(request, "login.html", None, 401, csrf=expected, next=next,
                        error="Wrong name or password.")
        token, _ = open_session(db, user)
        audit(db, user.name, "login", f"role {user.role}")
        db.commit()
        resp = RedirectResponse(_safe_next(next), 303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="lax",
                        max_age=SESSION_HOURS * 3600)
        resp.delete_cookie(LOGIN_CSRF)
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: str = Form(""), p: Principal = Depends(who),
               db: Session = Depends(get_db)) -> RedirectResponse:
        check_csrf(request, p, csrf)
        close_session(db, request.cookies.get(COOKIE, ""))
        db.commit()
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE)
        return resp

    def scope(p: Principal) -> views.Scope:
        return views.Scope(state.service.snapshot(), p)

    # --- pages ------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def dashboard_page(request: Request, p: Principal = Depends(who)) -> HTMLResponse:
        d = views.dashboard(scope(p))
        return cached_page(request, "dashboard.html", p, d,
                           charts=_memo(d, "charts", lambda: _charts(d)))

    @app.get("/findings", include_in_schema=False)
    def findings_page(request: Request, rule: str | None = None, severity: str | None = None,
                      subject_type: str | None = None, q: str | None = None,
                      p: Principal = Depends(who)) -> HTMLResponse:
        d = views.findings(scope(p), rule, severity, subject_type, q)
        return cached_page(request, "findings.html", p, d)

    @app.get("/findings/{fid}", include_in_schema=False)
    def finding_page(request: Request, fid: str, p: Principal = Depends(who),
                     db: Session = Depends(get_db)) -> HTMLResponse:
        d = views.finding(scope(p), fid)
        body = _memo(d, "finding", lambda: blocks("_finding.html", {"d": d}))
        return page(request, "finding.html", p, d=d, body=body,
                    notes=_notes(db, fid) if p.can("read_all") else [])

    @app.post("/findings/{fid}/notes", include_in_schema=False)
    def note_form(request: Request, fid: str, text: str = Form(...), csrf: str = Form(""),
                  p: Principal = Depends(who), db: Session = Depends(get_db)) -> Any:
        check_csrf(request, p, csrf)
        _annotate(p, db, fid, text)
        return RedirectResponse(f"/findings/{fid}#notes", 303)

    @app.get("/parties/{pid}", include_in_schema=False)
    def party_page(request: Request, pid: str, p: Principal = Depends(who)) -> HTMLResponse:
        d = views.party(scope(p), pid)
        return cached_page(request, "party.html", p, d,
                           chart=_memo(d, "chart", lambda: _balance_chart(d)))

    @app.get("/destinations/{country}", include_in_schema=False)
    def destination_page(request: Request, country: str,
                         p: Principal = Depends(who)) -> HTMLResponse:
        return cached_page(request, "destination.html", p,
                           views.destination(scope(p), country))

    @app.get("/api/destinations/{country}", tags=["analysis"])
    def api_destination(country: str, p: Principal = Depends(who)) -> dict[str, Any]:
        """A destination: attribution per period, exports, its parties and findings (not
        for importers)."""
        return views.destination(scope(p), country)

    for kind, prefix in (("certificate", "certificates"), ("shipment", "shipments"),
                         ("licence", "licences")):
        _record_routes(app, kind, prefix, cached_page, scope)

    @app.get("/applications", include_in_schema=False)
    def applications_page(request: Request, p: Principal = Depends(who),
                          db: Session = Depends(get_db)) -> HTMLResponse:
        need(p, "read_all")
        d = views.applications(scope(p), _recorded(db))
        return page(request, "applications.html", p, d=d, choices=DECISIONS)

    @app.post("/applications/{aid}/decision", include_in_schema=False)
    def decide_form(request: Request, aid: str, decision: str = Form(...),
                    reasons: str = Form(...), csrf: str = Form(""),
                    p: Principal = Depends(who),
                    db: Session = Depends(get_db)) -> Any:
        check_csrf(request, p, csrf)
        _decide(p, db, aid, decision, reasons)
        return RedirectResponse(f"/applications#{aid}", 303)

    @app.get("/audit", include_in_schema=False)
    def audit_page(request: Request, p: Principal = Depends(who),
                   db: Session = Depends(get_db)) -> HTMLResponse:
        need(p, "audit")
        return page(request, "audit.html", p, events=_audit(db))

    # --- users (admins) ---------------------------------------------------------------
    @app.get("/admin/users", include_in_schema=False)
    def users_page(request: Request, p: Principal = Depends(who),
                   db: Session = Depends(get_db)) -> HTMLResponse:
        need(p, "users")
        return page(request, "users.html", p, users=_users(db), roles=ROLES)

    @app.get("/api/users", tags=["users"])
    def api_users(p: Principal = Depends(who),
                  db: Session = Depends(get_db)) -> list[dict[str, Any]]:
        """The users: name, role, party, created, disabled (admins)."""
        need(p, "users")
        return _users(db)

    @app.post("/admin/users", include_in_schema=False)
    def users_add(request: Request, name: str = Form(...), role: str = Form(...),
                  party_id: str = Form(""), csrf: str = Form(""),
                  p: Principal = Depends(who), db: Session = Depends(get_db)) -> HTMLResponse:
        check_csrf(request, p, csrf)
        need(p, "users")
        name, party = name.strip(), party_id.strip() or None

        def act() -> tuple[str, str | None]:
            _check_party(role, party)
            password = secrets.token_urlsafe(12)
            add_user(db, name, role, password, party)
            audit(db, p.name, "user_added", f"{name}: {role}"
                  + (f" of {party}" if party else ""))
            return f"User {name} added as {role}.", password

        return _user_action(request, p, db, act)

    @app.post("/admin/users/{name}", include_in_schema=False)
    def users_change(request: Request, name: str, action: str = Form(...),
                     role: str = Form(""), party_id: str = Form(""), csrf: str = Form(""),
                     p: Principal = Depends(who), db: Session = Depends(get_db)
                     ) -> HTMLResponse:
        """`action`: role (with `role`, `party_id`), disable, enable, password (a new one,
        shown once)."""
        check_csrf(request, p, csrf)
        need(p, "users")
        user = db.scalar(select(User).where(User.name == name))
        if user is None:
            raise views.NotFound(name)

        def act() -> tuple[str, str | None]:
            if name == p.name and action in ("role", "disable"):
                raise ConfigError("an admin may not change their own role or disable "
                                  "themselves (ask another admin)")
            if action == "role":
                party = party_id.strip() or None
                _check_party(role, party)
                before = f"{user.role}" + (f" of {user.party_id}" if user.party_id else "")
                user.role, user.party_id = role, party
                close_sessions(db, user)
                audit(db, p.name, "user_role", f"{name}: {before} -> {role}"
                      + (f" of {party}" if party else ""))
                return f"{name} is now {role}" + (f" of {party}" if party else "") + ".", None
            if action in ("disable", "enable"):
                user.disabled = action == "disable"
                close_sessions(db, user)
                audit(db, p.name, f"user_{action}d", name)
                return f"{name} is {action}d.", None
            if action == "password":
                password = secrets.token_urlsafe(12)
                set_password(db, user, password)
                audit(db, p.name, "user_password", f"{name}: password reset")
                return f"New password for {name}.", password
            raise ConfigError(f"unknown action {action!r}")

        return _user_action(request, p, db, act)

    def _check_party(role: str, party: str | None) -> None:
        check_role(role, party)
        if party is not None:
            parties = state.service.snapshot().table("parties")
            if parties.empty or party not in set(parties.party_id.astype(str)):
                raise ConfigError(f"no party {party} in the store")

    def _user_action(request: Request, p: Principal, db: Session, act: Any) -> HTMLResponse:
        """Run an admin's change: the users page with what was done (and a new password,
        shown once), or with why it was refused (422), nothing changed."""
        try:
            message, password = act()
        except ConfigError as exc:
            db.rollback()
            return page(request, "users.html", p, 422, users=_users(db), roles=ROLES,
                        error=str(exc))
        db.commit()
        forget_principals()
        return page(request, "users.html", p, users=_users(db), roles=ROLES,
                    message=message, password=password)

    @app.get("/upload", include_in_schema=False)
    def upload_form(request: Request, p: Principal = Depends(who),
                    db: Session = Depends(get_db)) -> HTMLResponse:
        need(p, "upload")
        return page(request, "upload.html", p, uploads=_uploads(db, p))

    @app.post("/upload", include_in_schema=False)
    def upload_post(request: Request, dataset: UploadFile = File(...), csrf: str = Form(""),
                    p: Principal = Depends(who), db: Session = Depends(get_db)) -> Any:
        check_csrf(request, p, csrf)
        need(p, "upload")
        up = _file(p, db, dataset)
        return RedirectResponse(f"/uploads/{up['id']}", 303)

    @app.post("/upload/certificates", include_in_schema=False)
    def certificates_post(request: Request,
                          certificates: list[UploadFile] = File(...),
                          csrf: str = Form(""), p: Principal = Depends(who),
                          db: Session = Depends(get_db)) -> Any:
        check_csrf(request, p, csrf)
        need(p, "upload")
        up = _file_certs(p, db, certificates)
        return RedirectResponse(f"/uploads/{up['id']}", 303)

    @app.get("/uploads/{uid}", include_in_schema=False)
    def upload_page(request: Request, uid: int, p: Principal = Depends(who),
                    db: Session = Depends(get_db)) -> HTMLResponse:
        return page(request, "upload_result.html", p, up=_upload(db, p, uid))

    # --- the JSON API -----------------------------------------------------------------
    @app.get("/api/me", tags=["users"])
    def api_me(p: Principal = Depends(who)) -> dict[str, Any]:
        """Who the token or session belongs to."""
        return {"name": p.name, "role": p.role, "party_id": p.party_id}

    @app.get("/api/dashboard", tags=["analysis"])
    def api_dashboard(p: Principal = Depends(who)) -> dict[str, Any]:
        """Findings by rule and severity; attribution by destination and period (not for
        importers, who get their own balances instead)."""
        return views.dashboard(scope(p))

    @app.get("/api/findings", tags=["analysis"])
    def api_findings(rule: str | None = None, severity: str | None = None,
                     subject_type: str | None = None,
                     q: str | None = Query(None, description="text in the subject, id or "
                                           "message"),
                     p: Principal = Depends(who)) -> dict[str, Any]:
        """The findings this user may see, filtered."""
        return views.findings(scope(p), rule, severity, subject_type, q)

    @app.get("/api/findings/{fid}", tags=["analysis"])
    def api_finding(fid: str, p: Principal = Depends(who)) -> dict[str, Any]:
        """One finding and its evidence, each with the URL of its page."""
        return views.finding(scope(p), fid)

    @app.get("/api/findings/{fid}/notes", tags=["analysis"])
    def api_notes(fid: str, p: Principal = Depends(who),
                  db: Session = Depends(get_db)) -> list[dict[str, Any]]:
        """The notes on a finding (officers, analysts, admins)."""
        need(p, "read_all")
        views.finding(scope(p), fid)
        return _notes(db, fid)

    @app.post("/api/findings/{fid}/notes", tags=["analysis"])
    def api_annotate(request: Request, fid: str, body: NoteIn, p: Principal = Depends(who),
                     db: Session = Depends(get_db)) -> dict[str, Any]:
        """Add a note to a finding (analysts, officers)."""
        check_csrf(request, p, None)
        return _annotate(p, db, fid, body.text)

    @app.get("/api/parties/{pid}", tags=["records"])
    def api_party(pid: str, p: Principal = Depends(who)) -> dict[str, Any]:
        """A party: balances, certificates, shipments, findings."""
        return views.party(scope(p), pid)

    @app.get("/api/applications", tags=["applications"])
    def api_applications(p: Principal = Depends(who),
                         db: Session = Depends(get_db)) -> dict[str, Any]:
        """The applications queue: the assessment's proposal and the recorded decision."""
        need(p, "read_all")
        return views.applications(scope(p), _recorded(db))

    @app.post("/api/applications/{aid}/decision", tags=["applications"])
    def api_decide(request: Request, aid: str, body: DecisionIn, p: Principal = Depends(who),
                   db: Session = Depends(get_db)) -> dict[str, Any]:
        """Record an officer's decision (approve, request_information, deny) with reasons."""
        check_csrf(request, p, None)
        return _decide(p, db, aid, body.decision, body.reasons)

    @app.get("/api/audit", tags=["audit"])
    def api_audit(p: Principal = Depends(who), db: Session = Depends(get_db)) -> list[dict]:
        """The audit log, newest first (officers, admins)."""
        need(p, "audit")
        return _audit(db)

    @app.post("/api/uploads", tags=["uploads"])
    def api_upload(request: Request, dataset: UploadFile = File(...),
                   p: Principal = Depends(who), db: Session = Depends(get_db)) -> dict:
        """File a dataset (a zip of the contract's files): its rejects, what was stored."""
        check_csrf(request, p, None)
        need(p, "upload")
        return _file(p, db, dataset)

    @app.post("/api/uploads/certificates", tags=["uploads"])
    def api_upload_certificates(request: Request,
                                certificates: list[UploadFile] = File(
                                    ..., description="one W3C VC 2.0 certificate a .json "
                                    "file; repeat the field for several"),
                                p: Principal = Depends(who),
                                db: Session = Depends(get_db)) -> dict:
        """File end-user certificates: each verified and, unless set aside, stored with its
        provenance and the analysis brought up to date. An importer files only the
        certificates naming its party as importer or end user. The answer lists each
        document's outcome (stored, already stored, set aside) and verification, and the
        rejects."""
        check_csrf(request, p, None)
        need(p, "upload")
        return _file_certs(p, db, certificates)

    @app.get("/api/uploads/{uid}", tags=["uploads"])
    def api_upload_get(uid: int, p: Principal = Depends(who),
                       db: Session = Depends(get_db)) -> dict:
        """One upload: who, when, which file, what was stored and set aside."""
        return _upload(db, p, uid)

    # --- EPCIS 2.0 ----------------------------------------------------------------------
    @app.post("/capture", tags=["epcis"], status_code=202)
    async def epcis_capture(request: Request, p: Principal = Depends(who),
                            db: Session = Depends(get_db)) -> JSONResponse:
        """EPCIS 2.0 capture: the body is an EPCIS document (JSON-LD, or XML with an XML
        content type). Answers 202 with the capture id; `GET /capture/{id}` says how it
        went (this server finishes the job before answering)."""
        check_csrf(request, p, None)
        need(p, "upload")
        data = await request.body()
        xml = "xml" in request.headers.get("content-type", "")

        up = await run_in_threadpool(_capture, p, db, data, xml)
        return JSONResponse(_capture_dict(up), 202,
                            headers={"Location": f"/capture/{up.id}"})

    @app.get("/capture/{uid}", tags=["epcis"])
    def epcis_capture_job(uid: int, p: Principal = Depends(who),
                          db: Session = Depends(get_db)) -> dict[str, Any]:
        """A capture job: finished, whether it succeeded, its errors (event position as
        `line`)."""
        up = db.get(Upload, uid)
        if up is None or not up.filename.startswith("epcis/") or not (
                p.can("read_all") or up.user == p.name):
            raise views.NotFound(str(uid))
        return _capture_dict(up)

    @app.get("/events", tags=["epcis"])
    def epcis_events(request: Request, p: Principal = Depends(who)) -> JSONResponse:
        """The chain data (flows, transformations, stocks) as EPCIS 2.0 events, filtered
        by the query parameters eventType, GE_eventTime, LT_eventTime, EQ_bizStep,
        EQ_action, EQ_bizLocation, MATCH_anyEPCClass (lists pipe- or comma-separated) and
        paged as the EPCIS 2.0 REST binding says: `perPage` events a page (default 30, at
        most 1000), in the order of eventTime; while more follow, the `Link`
        header gives the next page's URL (`rel="next"`, with its `nextPageToken`); the last
        page has none. An importer gets the events of its own party, other parties'
        identifiers redacted."""
        from rareflow.web import epcis

        params = dict(request.query_params)
        bad = epcis.check_params(params)
        if bad:
            return JSONResponse({"type": "epcisException:QueryParameterException",
                                 "title": bad, "status": 400}, 400,
                                media_type="application/problem+json")
        sc = scope(p)
        page = epcis.query(sc.snap, sc.party, params)
        headers = {"GS1-EPCIS-Version": "2.0.0"}
        if page.next_token is not None:
            nxt = request.url.include_query_params(nextPageToken=page.next_token)
            headers["Link"] = f'<{nxt}>; rel="next"'
        return JSONResponse(sc.redact(page.document), headers=headers)

    def _capture(p: Principal, db: Session, data: bytes, xml: bool) -> Upload:
        from rareflow.web.epcis import capture

        up = capture(state.service, db, state.uploads, p, data, xml)
        db.commit()
        return up

    # --- actions shared by pages and API ----------------------------------------------
    def _decide(p: Principal, db: Session, aid: str, decision: str,
                reasons: str) -> dict[str, Any]:
        need(p, "decide")
        apps = views.applications(scope(p), {})["applications"]
        app_row = next((a for a in apps if a["application_id"] == aid), None)
        if app_row is None:
            raise views.NotFound(aid)
        if decision not in DECISIONS:
            raise HTTPException(422, f"decision must be one of {', '.join(DECISIONS)}")
        if not reasons.strip():
            raise HTTPException(422, "a decision needs its reasons")
        d = Decision(application_id=aid, decision=decision, proposed=app_row["decision"],
                     reasons=reasons.strip(), user=p.name)
        db.add(d)
        audit(db, p.name, "decision", f"{aid}: {decision} (proposed {app_row['decision']})")
        db.commit()
        return _decision_dict(d)

    def _annotate(p: Principal, db: Session, fid: str, text: str) -> dict[str, Any]:
        need(p, "annotate")
        views.finding(scope(p), fid)  # 404 for an unknown finding
        if not text.strip():
            raise HTTPException(422, "an empty note")
        n = Annotation(finding_id=fid, user=p.name, text=text.strip()[:5000])
        db.add(n)
        audit(db, p.name, "annotation", f"{fid}: {text.strip()[:80]}")
        db.commit()
        return _note_dict(n)

    def _file(p: Principal, db: Session, dataset: UploadFile) -> dict[str, Any]:
        data = dataset.file.read(50 * 1024 * 1024 + 1)
        up = file_upload(state.service, db, state.uploads, p, dataset.filename or "upload.zip",
                         data)
        db.commit()
        return _upload_dict(up)

    def _file_certs(p: Principal, db: Session, files: list[UploadFile]) -> dict[str, Any]:
        data, total = [], 0
        for f in files[:MAX_FILES + 1]:
            data.append((f.filename or "certificate.json", f.file.read(MAX_BYTES + 1 - total)))
            total += len(data[-1][1])
            if total > MAX_BYTES:
                break
        up = file_certificates(state.service, db, state.uploads, p, data)
        db.commit()
        return _upload_dict(up)

    return app


class NoteIn(BaseModel):
    text: str


def _note_dict(n: Annotation) -> dict[str, Any]:
    return {"id": n.id, "finding_id": n.finding_id, "user": n.user, "text": n.text,
            "at": n.at.isoformat(timespec="seconds")}


def _notes(db: Session, fid: str) -> list[dict[str, Any]]:
    return [_note_dict(n) for n in db.scalars(
        select(Annotation).where(Annotation.finding_id == fid).order_by(Annotation.id))]


class DecisionIn(BaseModel):
    decision: str
    reasons: str


def _record_routes(app: FastAPI, kind: str, prefix: str, page, scope) -> None:  # noqa: ANN001
    def html(request: Request, rid: str, p: Principal = Depends(who)) -> HTMLResponse:
        return page(request, "record.html", p, views.record(scope(p), kind, rid))

    def api(rid: str, p: Principal = Depends(who)) -> dict[str, Any]:
        return views.record(scope(p), kind, rid)

    api.__doc__ = f"A {kind}: its rows, the shipments drawing on it, the findings citing it."
    app.get(f"/{prefix}/{{rid}}", include_in_schema=False, name=f"{kind}_page")(html)
    app.get(f"/api/{prefix}/{{rid}}", tags=["records"], name=f"api_{kind}")(api)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _decision_dict(d: Decision) -> dict[str, Any]:
    return {"application_id": d.application_id, "decision": d.decision,
            "proposed": d.proposed, "reasons": d.reasons, "user": d.user,
            "at": d.at.isoformat(timespec="seconds")}


def _recorded(db: Session) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for d in db.scalars(select(Decision).order_by(Decision.id)):
        out[d.application_id] = _decision_dict(d)  # the latest is in force
    return out


def _users(db: Session) -> list[dict[str, Any]]:
    return [{"name": u.name, "role": u.role, "party_id": u.party_id,
             "created": u.created.isoformat(timespec="seconds") if u.created else None,
             "disabled": bool(u.disabled)}
            for u in db.scalars(select(User).order_by(User.name))]


def _audit(db: Session) -> list[dict[str, Any]]:
    return [{"id": e.id, "at": e.at.isoformat(timespec="seconds"), "user": e.user,
             "action": e.action, "detail": e.detail}
            for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(500))]


def _upload_dict(up: Upload) -> dict[str, Any]:
    return {"id": up.id, "user": up.user, "party_id": up.party_id, "filename": up.filename,
            "at": up.at.isoformat(timespec="seconds") if up.at else None,
            "status": up.status, "message": up.message, "loaded": up.loaded,
            "rejected": up.rejected, "rejects": up.rejects or [],
            "certificates": up.certificates or []}


def _capture_dict(up: Upload) -> dict[str, Any]:
    return {"captureID": str(up.id), "running": False, "success": up.status == "stored",
            "captureErrorBehaviour": "rollback" if up.status != "stored" else "proceed",
            "message": up.message, "loaded": up.loaded, "errors": up.rejects or []}


def _uploads(db: Session, p: Principal) -> list[dict[str, Any]]:
    q = select(Upload).order_by(Upload.id.desc()).limit(50)
    if not p.can("read_all"):
        q = q.where(Upload.user == p.name)
    return [_upload_dict(u) for u in db.scalars(q)]


def _upload(db: Session, p: Principal, uid: int) -> dict[str, Any]:
    up = db.get(Upload, uid)
    if up is None or not (p.can("read_all") or up.user == p.name):
        raise views.NotFound(str(uid))
    return _upload_dict(up)


def _kg(v: Any) -> str:
    if v is None or v != v:
        return "–"
    try:
        return f"{float(v):,.1f}"
    except (TypeError, ValueError):
        return str(v)


def _pct(v: Any) -> str:
    if v is None or v != v:
        return "–"
    return f"{float(v) * 100:.1f}%"


SEVERITY_COLOURS = {"high": "#c62828", "medium": "#ef6c00", "low": "#1565c0"}
ATTRIBUTION = (("verified_use", "#2e7d32"), ("in_stock", "#1565c0"),
               ("reexported", "#ef6c00"), ("prohibited_use", "#c62828"),
               ("unaccounted", "#6d4c41"))


_MEMO: dict[tuple[int, str], tuple[Any, Any]] = {}


def _memo(d: dict[str, Any], what: str, fn: Any) -> Any:
    """`fn()`, computed once per view answer `d` (the answers are cached per store state
    and scope, and never mutated): a page's blocks are rendered once, then reused."""
    key = (id(d), what)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is d:
        return hit[1]
    if len(_MEMO) > 1024:
        _MEMO.clear()
    out = fn()
    _MEMO[key] = (d, out)
    return out


def _balance_chart(d: dict[str, Any]) -> str | None:
    """A party's balances over time: the unaccounted kg per period with error bars of
    two standard deviations (the balance's uncertainty, `unaccounted_sd_kg`); a bar
    whose error bar does not reach zero is a gap the data's uncertainty does not explain."""
    bal = [b for b in d.get("balances") or [] if b.get("unaccounted_kg") is not None]
    if not bal:
        return None
    periods = [str(b["period"]) for b in bal]
    two_sd = [2 * (b.get("unaccounted_sd_kg") or 0.0) for b in bal]
    colours = ["#c62828" if abs(b["unaccounted_kg"]) > e else "#90a4ae"
               for b, e in zip(bal, two_sd, strict=True)]
    return json.dumps({"data": [
        {"type": "bar", "name": "unaccounted kg", "x": periods,
         "y": [b["unaccounted_kg"] for b in bal], "marker": {"color": colours},
         "error_y": {"type": "data", "array": two_sd, "visible": True, "thickness": 1.5,
                     "width": 8, "color": "#37474f"},
         "customdata": [[b.get("received_kg"), b.get("unaccounted_sd_kg")] for b in bal],
         "hovertemplate": "%{x}: %{y:,.1f} kg unaccounted, sd %{customdata[1]:,.1f} kg "
                          "(received %{customdata[0]:,.1f} kg)<extra></extra>"}],
        "layout": {"height": 300, "bargap": 0.5,
                   "xaxis": {"type": "category", "title": {"text": "period"}},
                   "yaxis": {"title": {"text": "unaccounted kg (± 2 sd)"}, "zeroline": True},
                   "margin": {"l": 70, "r": 10, "t": 10, "b": 50}, "showlegend": False}},
        allow_nan=False).replace("</", "<\\/")


def _charts(d: dict[str, Any]) -> dict[str, str]:
    """Plotly figures (JSON) for the dashboard: drawn by /static/app.js with the plotly.js
    the package ships."""
    out = {}
    rules = [r["rule"] for r in d["by_rule"]]
    if rules:
        out["by_rule"] = json.dumps({"data": [
            {"type": "bar", "orientation": "h", "name": s, "y": rules,
             "x": [r[s] for r in d["by_rule"]], "marker": {"color": SEVERITY_COLOURS[s]}}
            for s in views.SEVERITIES], "layout": {"barmode": "stack", "height": 320,
                                                   "margin": {"l": 170, "r": 10, "t": 10,
                                                              "b": 30}}})
    att = d.get("attribution") or []
    if att:
        labels = [f"{r['destination']} {r['period']}" for r in att]
        out["attribution"] = json.dumps({"data": [
            {"type": "bar", "name": name.replace("_", " "), "x": labels,
             "y": [r.get(f"{name}_kg") for r in att], "marker": {"color": colour}}
            for name, colour in ATTRIBUTION], "layout": {
                "barmode": "relative", "height": 340,
                "yaxis": {"title": {"text": "kg of rare earths"}},
                "margin": {"l": 60, "r": 10, "t": 10, "b": 60}}})
    return out
