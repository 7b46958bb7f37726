"""`rareflow serve`: the web application and its API, through FastAPI's TestClient (httpx)
on a real DuckDB store (a copy of the demo world's) and a real SQLite application database.

The demo world's planted cases (docs/demo-scenarios.md) give the expected values: the
revoked certificate EUC-JP-2024 presented for shipment CN-JP-D-00012; the four licence
applications APP-0001..4 that `rareflow assess` decides; VN-IMP-01, whose books do not
close (an unaccounted_material finding)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import Built
from rareflow.web.views import REDACTED
from test_web_support import (
    PASSWORD,
    WebApp,
    close_all,
    csrf_of,
    login,
    screening_web_app,
    web_app,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

IMPORTER_PARTY = "VN-IMP-01"  # unaccounted_material, certificate EUC-VN-2025
SECOND_IMPORTER = "IN-EDD-01"  # a certificate number shared with IN-MOT-01's (forged)


@pytest.fixture(scope="session")
def demo_web(demo_world: Built, tmp_path_factory: pytest.TempPathFactory) -> WebApp:
    yield web_app("demo", demo_world, tmp_path_factory.mktemp("web_demo"),
                  {"ivan": IMPORTER_PARTY, "indra": SECOND_IMPORTER})
    close_all()


@pytest.fixture(scope="session")
def officer(demo_web: WebApp):
    return demo_web.client("olivia")


# --- logging in -------------------------------------------------------------------------------
def test_pages_need_a_login_and_the_api_a_token(demo_web: WebApp) -> None:
    c = demo_web.client()
    r = c.get("/findings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/findings"
    assert c.get("/api/findings").status_code == 401
    assert c.get("/api/findings", headers={"Authorization": "Bearer rf_nonsense"}
                 ).status_code == 401


def test_wrong_password_and_missing_csrf_are_refused_and_audited(demo_web: WebApp,
                                                                 officer) -> None:
    c = demo_web.client()
    csrf = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"name": "olivia", "password": "wrong password", "csrf": csrf})
    assert r.status_code == 401 and "Wrong name or password." in r.text
    r = c.post("/login", data={"name": "olivia", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403 and "rareflow_session" not in c.cookies
    events = officer.get("/api/audit").json()
    assert any(e["action"] == "login_failed" and e["user"] == "olivia" for e in events)
    assert any(e["action"] == "login" and e["user"] == "olivia" for e in events)


def test_passwords_and_tokens_are_stored_hashed(demo_web: WebApp) -> None:
    from sqlalchemy import select

    from rareflow.web.auth import new_token
    from rareflow.web.models import ApiToken, User

    with demo_web.app.state.web.db() as db:
        user = db.scalar(select(User).where(User.name == "ana"))
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        token = new_token(db, user, "test")
        db.commit()
        stored = [t.token_hash for t in db.scalars(select(ApiToken))]
    assert token not in stored and len(stored[-1]) == 64
    c = demo_web.client()
    me = c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"name": "ana", "role": "analyst", "party_id": None}


def test_the_audit_log_is_append_only(demo_web: WebApp, officer) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    with demo_web.app.state.web.db() as db:
        for stmt in ("UPDATE audit SET detail = 'changed'", "DELETE FROM audit"):
            with pytest.raises(DatabaseError, match="append-only"):
                db.execute(text(stmt))
            db.rollback()
    assert officer.get("/api/audit").json()  # still there


# --- what the pages show ----------------------------------------------------------------------
def test_dashboard_counts_are_the_cli_analysis(officer, demo_world: Built) -> None:
    """The same analyses as the command line: the dashboard's counts by rule and severity
    are those of `Workspace.analyze` on the same data."""
    d = officer.get("/api/dashboard").json()
    expected = Counter((f.rule, f.severity) for f in demo_world.result.findings)
    got = {(r["rule"], s): r[s] for r in d["by_rule"] for s in ("high", "medium", "low")
           if r[s]}
    assert got == dict(expected)
    assert d["findings"] == len(demo_world.result.findings)
    assert {(a["destination"], a["period"]) for a in d["attribution"]} == {
        (r.destination, r.period) for r in demo_world.result.attribution.itertuples()}
    page = officer.get("/").text
    assert "Findings by rule and severity" in page and 'href="/findings?rule=' in page
    assert "/static-vendor/plotly.min.js" in page
    assert officer.get("/static-vendor/plotly.min.js").status_code == 200


def test_findings_filters(officer, demo_world: Built) -> None:
    expected = sorted(f.id for f in demo_world.result.findings
                      if f.rule == "certificate_forged" and f.severity == "high")
    assert expected  # the demo plants forged certificates
    d = officer.get("/api/findings", params={"rule": "certificate_forged",
                                             "severity": "high"}).json()
    assert sorted(f["id"] for f in d["findings"]) == expected
    html = officer.get("/findings?rule=certificate_forged&severity=high").text
    assert f"{len(expected)} of {len(demo_world.result.findings)} finding(s)" in html
    d = officer.get("/api/findings", params={"q": "EUC-JP-2024"}).json()
    assert d["findings"] and all("EUC-JP-2024" in f["message"] or f["subject_id"] ==
                                 "EUC-JP-2024" for f in d["findings"])


def _revoked(demo_world: Built):
    return next(f for f in demo_world.result.findings if f.rule == "certificate_forged"
                and f.subject_id == "EUC-JP-2024" and "CN-JP-D-00012" in f.evidence)


def test_a_findings_evidence_links_to_its_records(officer, demo_world: Built) -> None:
    f = _revoked(demo_world)
    d = officer.get(f"/api/findings/{f.id}").json()
    links = {e["id"]: e["url"] for e in d["evidence"]}
    assert links == {"EUC-JP-2024": "/certificates/EUC-JP-2024",
                     "CN-JP-D-00012": "/shipments/CN-JP-D-00012"}
    html = officer.get(f"/findings/{f.id}").text
    assert 'href="/shipments/CN-JP-D-00012"' in html
    ship = officer.get("/api/shipments/CN-JP-D-00012").json()
    assert ship["rows"][0]["certificate_id"] == "EUC-JP-2024"
    assert f.id in {x["id"] for x in ship["findings"]}
    assert ship["rows"][0]["_file"].endswith("shipments.csv")  # provenance, for officers
    cert = officer.get("/certificates/EUC-JP-2024")
    assert cert.status_code == 200 and f.id in cert.text
    assert "CN-JP-D-00012" in cert.text  # the shipments drawing on it


def test_a_findings_lot_trace_is_a_sankey(officer, demo_world: Built) -> None:
    """EUC-VN-2025's finding traces both ways from the certificate: the 12 shipments
    CN-VN-D-00001..12 drawn on it, the 12 transformations VN-IMP-01 made of them, its 12
    sales, and the observation PL-O-UNRESP: 38 records, 37 links (each shipment to the
    certificate, each transformation to its shipment, each sale to its transformation, the
    observation to its lot)."""
    f = next(f for f in demo_world.result.findings if f.rule == "certificate_incomplete"
             and f.subject_id == "EUC-VN-2025")
    tr = officer.get(f"/api/findings/{f.id}").json()["trace"]
    assert (tr["records"], tr["links"], tr["partial"]) == (38, 37, False)
    sankey = tr["figure"]["data"][0]
    assert sankey["type"] == "sankey" and len(sankey["node"]["label"]) == 38
    assert any(line.startswith("final sales (12,") for line in tr["summary"])
    html = officer.get(f"/findings/{f.id}").text
    assert 'data-figure="fig-trace"' in html and "/static-vendor/plotly.min.js" in html
    # a finding whose evidence is a party only: no trace, said so
    books = next(f for f in demo_world.result.findings if f.rule == "unaccounted_material")
    tr = officer.get(f"/api/findings/{books.id}").json()["trace"]
    assert tr["figure"] is None and "names no record the store can trace" in tr["message"]


def _steps(v: dict) -> dict[str, bool]:
    return {s["step"]: s["ok"] for s in v["steps"]}


def test_certificate_verification_steps(officer, demo_web: WebApp) -> None:
    """The planted certificates (docs/demo-scenarios.md), step by step. EUC-JP-2024: signed
    by JP-MOT-01 and JP-GOV (both hold, both keys trusted), revoked on 2024-11-15 and valid
    until 2024-12-31: valid for its 11 shipments of 2024 up to November, revoked for
    CN-JP-D-00012 (2024-12-14), revoked and expired for PL-D-EXPIRED (2025-01-20), its
    latest use. EUC-KRS-2025: KR-SEMI-01's key revoked on 2025-03-01, the proof made on
    2025-04-01: the signature holds, the issuer is not trusted. EUC-KR-2025: altered, both
    signatures fail."""
    [v] = officer.get("/api/certificates/EUC-JP-2024").json()["verification"]
    assert (v["as_of"], v["as_of_shipment"], v["status"]) == ("2025-01-20", "PL-D-EXPIRED",
                                                              "invalid")
    assert _steps(v) == {"context": True, "signatures": True, "issuer_trust": True,
                         "revocation": False, "validity": False}
    trust = next(s for s in v["steps"] if s["step"] == "issuer_trust")["detail"]
    assert trust == ["proof 0: key of JP-MOT-01 (end user), trusted",
                     "proof 1: key of JP-GOV (authority), trusted"]
    uses = {u["declaration_id"]: u["codes"] for u in v["uses"]}
    assert len(uses) == 13 and sum(not c for c in uses.values()) == 11
    assert uses["CN-JP-D-00012"] == ["certificate_revoked"]
    assert sorted(uses["PL-D-EXPIRED"]) == ["certificate_revoked", "expired"]
    [v] = officer.get("/api/certificates/EUC-KRS-2025").json()["verification"]
    assert _steps(v)["signatures"] and not _steps(v)["issuer_trust"]
    assert "key revoked on 2025-03-01" in " ".join(
        next(s for s in v["steps"] if s["step"] == "issuer_trust")["reasons"])
    [v] = officer.get("/api/certificates/EUC-KR-2025").json()["verification"]
    assert not _steps(v)["signatures"] and v["codes"] == ["bad_proof"]
    html = officer.get("/certificates/EUC-JP-2024").text
    assert "Revocation (revocations table, status list)" in html
    assert "revoked on 2024-11-15" in html
    # the importer of the second EUC-IN-2025 document: its own document only, verified
    indra = demo_web.client("indra").get("/api/certificates/EUC-IN-2025").json()
    assert [v["status"] for v in indra["verification"]] == ["valid"]
    assert len(officer.get("/api/certificates/EUC-IN-2025").json()["verification"]) == 2


def test_party_page(officer, demo_world: Built) -> None:
    d = officer.get(f"/api/parties/{IMPORTER_PARTY}").json()
    assert d["party"]["name"] == "Hai Phong Motor Components JSC"
    own = {f.id for f in demo_world.result.findings if f.subject_id == IMPORTER_PARTY}
    assert own and own <= {f["id"] for f in d["findings"]}
    assert {b["period"] for b in d["balances"]} == set(
        demo_world.result.balances.query("party_id == @IMPORTER_PARTY").period)
    assert "EUC-VN-2025" in {c["certificate_id"] for c in d["certificates"]}
    assert officer.get("/parties/NO-SUCH-PARTY").status_code == 404


SEVERITY_OF = {"match": "high", "possible": "low"}


def test_party_page_shows_its_screening_candidates(officer, demo_web: WebApp) -> None:
    """Each party's restricted-party candidates on its page, from the analysis's own
    screening: the same pairs, decisions and scores as the restricted_party findings (one
    finding a candidate, high for a match, low for a possible). The demo plants
    IN-EDD-01, whose name is a variant of the listed MEU-0001 (docs/demo-scenarios.md)."""
    snap = demo_web.app.state.web.service.snapshot()
    found = [f for f in snap.findings if f.rule == "restricted_party"]
    assert ("IN-EDD-01", "MEU-0001") in {(f.subject_id, f.evidence[1]) for f in found}
    got = set()
    for pid in sorted({f.subject_id for f in found}):
        sc = officer.get(f"/api/parties/{pid}").json()["screening"]
        assert sc["screened"] and sc["not_same"] == []  # the demo has no judgement
        for c in sc["candidates"]:
            assert 0 < c["score"] <= 1 and c["explanation"] and c["judgement"] is None
            got.add((pid, c["entity_id"], SEVERITY_OF[c["decision"]],
                     f"score {c['score']:.2f}"))
    assert got == {(f.subject_id, f.evidence[1], f.severity,
                    re.search(r"score \d\.\d\d", f.message).group(0)) for f in found}
    html = officer.get("/parties/IN-EDD-01").text
    row = re.search(r'<table class="screening">.*?</table>', html, re.S).group(0)
    assert "MEU-0001" in row and "demo-military-end-users" in row
    # the importer of IN-EDD-01 sees its own candidates, those of no other party
    mine = demo_web.client("indra").get("/api/parties/IN-EDD-01").json()["screening"]
    assert [(c["entity_id"], c["score"], c["decision"]) for c in mine["candidates"]] == [
        (c["entity_id"], c["score"], c["decision"]) for c in officer.get(
            "/api/parties/IN-EDD-01").json()["screening"]["candidates"]]
    ivan = demo_web.client("ivan")
    assert ivan.get(f"/api/parties/{IMPORTER_PARTY}").json()["screening"]["candidates"] == []
    assert "No candidate: no listed name comes close." in ivan.get(
        f"/parties/{IMPORTER_PARTY}").text


@pytest.fixture(scope="session")
def screening_web(tmp_path_factory: pytest.TempPathFactory) -> WebApp:
    yield screening_web_app(tmp_path_factory.mktemp("web_screening"))
    close_all()


def test_screening_judgements_on_the_party_page(screening_web: WebApp) -> None:
    """The analysts' judgements (screening_decisions): X-IN-8's match confirmed the same
    (still a candidate, with who judged, when and why), X-IN-7's possible judged not the
    same (no longer a candidate, no finding; listed apart). Each importer sees its own."""
    officer = screening_web.client("olivia")
    x8 = officer.get("/api/parties/X-IN-8").json()["screening"]
    [c] = x8["candidates"]
    assert (c["entity_id"], c["decision"]) == ("MEU-EX-1", "match")
    assert c["judgement"] == {"decision": "same", "by": "ana", "date": "2025-09-01",
                              "note": "registry extract: same company number"}
    assert c["explanation"].endswith("confirmed the same by ana on 2025-09-01: registry "
                                     "extract: same company number")
    x7 = officer.get("/api/parties/X-IN-7").json()["screening"]
    assert x7["candidates"] == []
    [n] = x7["not_same"]
    assert (n["entity_id"], n["by"], n["date"], n["note"]) == (
        "MEU-EX-1", "ana", "2025-09-02", "different founders and address")
    assert 0.8 < n["score"] < 0.9  # it was a possible
    findings = officer.get("/api/findings", params={"rule": "restricted_party"}).json()
    assert [(f["subject_id"], f["severity"]) for f in findings["findings"]] == [
        ("X-IN-8", "high")]
    html = officer.get("/parties/X-IN-7").text
    assert "Judged not the same (1)" in html and "different founders and address" in html
    assert "same by ana on 2025-09-01" in officer.get("/parties/X-IN-8").text
    # each importer: its own party's candidates and judgements, nothing of the other's
    xavier, xena = screening_web.client("xavier"), screening_web.client("xena")
    assert xavier.get("/api/parties/X-IN-8").json()["screening"] == x8
    assert xena.get("/api/parties/X-IN-7").json()["screening"] == x7
    for c, other, words in ((xavier, "X-IN-7", ("different founders", "0.86")),
                            (xena, "X-IN-8", ("registry extract", "0.97"))):
        assert c.get(f"/parties/{other}").status_code == 404
        assert c.get(f"/api/parties/{other}").status_code == 404
        for url in ("/", "/api/dashboard", "/findings", "/api/findings", "/events"):
            body = c.get(url).text
            assert other not in body and not [w for w in words if w in body], url


def _figure(html: str, name: str) -> dict:
    import json

    return json.loads(re.search(rf'id="{name}">(.*?)</script>', html, re.S).group(1))


def test_party_balances_over_time_chart(officer) -> None:
    """VN-IMP-01's books for 2025 (docs/demo-scenarios.md): 2,945.3 kg received, 1,765.1 kg
    sold, 1,180.1 ± 17.5 kg unaccounted: one bar of 1,180.1 kg with an error bar of 2 sd =
    35.0 kg, red (far beyond it). DE-ASM-01's books close in both years: two grey bars of
    0 kg, over 2024 and 2025."""
    bar = _figure(officer.get("/parties/VN-IMP-01").text, "fig-balances")["data"][0]
    assert bar["x"] == ["2025"] and bar["y"] == [pytest.approx(1180.1, abs=0.05)]
    assert bar["error_y"]["array"] == [pytest.approx(35.0, abs=0.05)]
    assert bar["marker"]["color"] == ["#c62828"]
    bar = _figure(officer.get("/parties/DE-ASM-01").text, "fig-balances")["data"][0]
    assert bar["x"] == ["2024", "2025"] and bar["y"] == [0.0, 0.0]
    assert all(e > 0 for e in bar["error_y"]["array"]) and set(bar["marker"]["color"]) == {
        "#90a4ae"}


def test_licence_page_shows_its_ledger(officer, demo_world: Built) -> None:
    import csv

    with (demo_world.data / "shipments.csv").open() as f:
        on = [r for r in csv.DictReader(f) if r["licence_id"] == "L-VN-2025"]
    d = officer.get("/api/licences/L-VN-2025").json()
    ledger = d["ledger"]
    assert [r["declaration_id"] for r in ledger] == [r["declaration_id"] for r in
                                                     sorted(on, key=lambda r: r["date"])]
    assert ledger[-1]["cumulative_kg"] == pytest.approx(sum(r["kg"] for r in ledger))
    assert ledger[0]["url"] == f"/shipments/{ledger[0]['declaration_id']}"
    assert "Ledger (12 shipment(s)" in officer.get("/licences/L-VN-2025").text


def test_analyst_annotates_a_finding_importer_sees_no_note(demo_web: WebApp,
                                                          demo_world: Built) -> None:
    own = next(f for f in demo_world.result.findings if f.subject_id == IMPORTER_PARTY)
    analyst = demo_web.client("ana")
    page = analyst.get(f"/findings/{own.id}").text
    r = analyst.post(f"/findings/{own.id}/notes",
                     data={"text": "Compare with JP-MOT-01's 2025 intake.",
                           "csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    notes = analyst.get(f"/api/findings/{own.id}/notes").json()
    assert [(n["user"], n["text"]) for n in notes][-1] == (
        "ana", "Compare with JP-MOT-01's 2025 intake.")
    assert "Compare with JP-MOT-01" in analyst.get(f"/findings/{own.id}").text
    assert analyst.post(f"/findings/{own.id}/notes",
                        data={"text": "x", "csrf": "forged"}).status_code == 403
    importer = demo_web.client("ivan")
    page = importer.get(f"/findings/{own.id}")
    assert page.status_code == 200 and "Compare with" not in page.text
    assert importer.get(f"/api/findings/{own.id}/notes").status_code == 403
    events = demo_web.client("olivia").get("/api/audit").json()
    assert any(e["action"] == "annotation" and e["user"] == "ana" for e in events)


def test_destination_page(officer, demo_world: Built) -> None:
    """VN 2025: the release whose 40% is unaccounted for (VN-IMP-01's books)."""
    d = officer.get("/api/destinations/VN").json()
    att = demo_world.result.attribution
    vn = att[att.destination == "VN"]
    assert [r["period"] for r in d["attribution"]] == list(vn.period)
    assert d["attribution"][0]["unaccounted_kg"] == pytest.approx(float(
        vn.unaccounted_kg.iloc[0]))
    assert {f["subject_id"] for f in d["findings"]} >= {IMPORTER_PARTY}
    assert 'href="/destinations/VN"' in officer.get("/").text
    assert officer.get("/destinations/XX").status_code == 404


# --- the applications queue -------------------------------------------------------------------
def test_officer_records_a_decision_with_edited_reasons(demo_web: WebApp, officer,
                                                        demo_world: Built) -> None:
    proposed = demo_world.result.decisions.set_index("application_id").decision.to_dict()
    q = officer.get("/api/applications").json()
    assert {a["application_id"]: a["decision"] for a in q["applications"]} == proposed
    page = officer.get("/applications").text
    assert "Proposed: deny" in page  # APP-0001, the revoked certificate
    r = officer.post("/applications/APP-0002/decision",
                     data={"decision": "deny", "reasons": "No answer to the end-use check.",
                           "csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    rec = {a["application_id"]: a["recorded"] for a in
           officer.get("/api/applications").json()["applications"]}["APP-0002"]
    assert (rec["decision"], rec["proposed"], rec["reasons"], rec["user"]) == (
        "deny", proposed["APP-0002"], "No answer to the end-use check.", "olivia")
    assert any(e["action"] == "decision" and e["detail"].startswith("APP-0002: deny")
               for e in officer.get("/api/audit").json())


def test_decisions_need_csrf_and_the_officer_role(demo_web: WebApp, officer) -> None:
    before = len(officer.get("/api/audit").json())
    r = officer.post("/applications/APP-0003/decision",
                     data={"decision": "approve", "reasons": "x", "csrf": "wrong"})
    assert r.status_code == 403
    analyst = demo_web.client("ana")
    page = analyst.get("/applications")
    assert page.status_code == 200 and "Record the decision" not in page.text
    r = analyst.post("/applications/APP-0003/decision",
                     data={"decision": "approve", "reasons": "x", "csrf": csrf_of(page.text)})
    assert r.status_code == 403
    r = officer.post("/api/applications/APP-0003/decision",
                     json={"decision": "maybe", "reasons": "x"},
                     headers={"X-CSRF-Token": csrf_of(officer.get("/").text)})
    assert r.status_code == 422
    after = officer.get("/api/audit").json()
    assert not any(e["detail"].startswith("APP-0003") for e in after)
    assert len(after) == before + 1  # the analyst's login only


def test_api_docs_are_served_from_the_package(officer) -> None:
    html = officer.get("/docs").text
    assert "/static-vendor/swagger/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert officer.get("/static-vendor/swagger/swagger-ui-bundle.js").status_code == 200
    spec = officer.get("/openapi.json").json()
    assert {"/api/findings", "/api/findings/{fid}", "/api/parties/{pid}",
            "/api/applications", "/api/uploads"} <= set(spec["paths"])


# --- EPCIS 2.0 events, paged -------------------------------------------------------------------
def _event_list(r) -> list[dict]:  # noqa: ANN001
    assert r.status_code == 200, r.text
    return r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def _next(r) -> str | None:  # noqa: ANN001
    """The next page's URL from the `Link` header (EPCIS 2.0 REST binding), or None."""
    link = r.headers.get("link")
    if link is None:
        return None
    m = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert m, link
    return m.group(1)


def event_pages(c, **params) -> list[list[dict]]:  # noqa: ANN001
    """Every page of `GET /events?params`, following the Link headers as a client does."""
    pages, r = [], c.get("/events", params=params)
    while True:
        pages.append(_event_list(r))
        url = _next(r)
        if url is None:
            return pages
        assert "nextPageToken=" in url
        r = c.get(url)


def test_events_page_through_every_event_exactly_once(demo_web: WebApp, officer) -> None:
    """`GET /events` pages as the EPCIS 2.0 REST binding has it: `perPage` events a page,
    a `Link: <...>; rel="next"` header while more follow (its URL keeps the query and adds
    `nextPageToken`), none on the last page. Paged through, every chain row of the store
    (each flow, transformation and stock report) comes once, in the order of eventTime."""
    snap = demo_web.app.state.web.service.snapshot()
    n = {t: len(snap.table(t)) for t in ("flows", "transformations", "stocks")}
    assert min(n.values()) > 0 and sum(n.values()) > 500
    pages = event_pages(officer, perPage="100")
    assert [len(p) for p in pages[:-1]] == [100] * (len(pages) - 1) and len(pages[-1]) > 0
    ids = [e["eventID"] for p in pages for e in p]
    assert len(ids) == len(set(ids)) == sum(n.values())
    assert sum(e["type"] == "TransformationEvent" for p in pages for e in p) == n[
        "transformations"]
    assert sum(e["eventID"].startswith("urn:rareflow:flow:") for p in pages
               for e in p) == n["flows"]
    times = [e["eventTime"] for p in pages for e in p]
    assert times == sorted(times)
    # the binding's default: 30 a page; one page of all when perPage covers them
    r = officer.get("/events")
    assert len(_event_list(r)) == 30 and _next(r)
    whole = officer.get("/events", params={"perPage": "1000"})
    assert [e["eventID"] for e in _event_list(whole)] == ids and _next(whole) is None
    # a filtered query pages the same way (lists pipe-delimited, as the binding has them)
    both = event_pages(officer, eventType="ObjectEvent|TransformationEvent", perPage="70")
    assert sorted(e["eventID"] for p in both for e in p) == sorted(ids)
    made = event_pages(officer, eventType="TransformationEvent", perPage="60")
    assert len({e["eventID"] for p in made for e in p}) == n["transformations"]
    # a token belongs to its query; one this server did not give is a QueryParameterException
    token = re.search(r"nextPageToken=([^&>]+)", r.headers["link"]).group(1)
    for params, what in (({"nextPageToken": token, "eventType": "ObjectEvent"},
                          "belongs to another query"),
                         ({"nextPageToken": "not-a-token"}, "not a token this server gave"),
                         ({"perPage": "0"}, "perPage")):
        bad = officer.get("/events", params=params)
        assert bad.status_code == 400 and what in bad.json()["title"], params
        assert bad.json()["type"] == "epcisException:QueryParameterException"
    # an importer pages through the events of its own party, each once
    own = event_pages(demo_web.client("ivan"), perPage="7")
    assert len(own) > 2
    mine = [e["eventID"] for p in own for e in p]
    flows, trans, stocks = (snap.table(t) for t in ("flows", "transformations", "stocks"))
    expected = (((flows.from_id == IMPORTER_PARTY) | (flows.to_id == IMPORTER_PARTY)).sum()
                + (trans.party_id == IMPORTER_PARTY).sum()
                + (stocks.party_id == IMPORTER_PARTY).sum())
    assert len(mine) == len(set(mine)) == expected > 20


# --- importer isolation -----------------------------------------------------------------------
def _fill(path: str, ids: dict[str, list[str]]) -> list[str]:
    """Every URL of a route: its path parameter filled with every id of its kind (a record
    route: of its record kind, `ids[prefix]`)."""
    params = re.findall(r"{(\w+)}", path)
    if not params:
        return [path]
    assert len(params) == 1, path
    key = params[0] if params[0] != "rid" else path.strip("/").split("/")[-2]
    return [path.replace("{" + params[0] + "}", i) for i in ids[key]]


@pytest.mark.parametrize("user,party", [("ivan", IMPORTER_PARTY),
                                        ("indra", SECOND_IMPORTER)])
def test_an_importer_sees_nothing_of_other_parties_on_any_route(
        demo_web: WebApp, demo_world: Built, user: str, party: str) -> None:
    """Walk every GET route of the application (`app.routes`) with every id of every kind as
    the importer: another party's page is 404, and no answer holds another party's id, name
    or a balance figure, nor a finding about another party."""
    from fastapi.routing import APIRoute

    snap = demo_web.app.state.web.service.snapshot()
    parties = snap.table("parties")
    others = parties[parties.party_id != party]
    words = set(others.party_id) | {n for n in others.name if isinstance(n, str)}
    ids = {"pid": list(parties.party_id), "fid": [f.id for f in snap.findings],
           "certificates": sorted(set(snap.table("certificates").certificate_id)),
           "shipments": list(snap.table("shipments").declaration_id),
           "licences": list(snap.table("licences").licence_id), "uid": ["1", "2"],
           "country": sorted(set(snap.attribution.destination))}
    bal = snap.balances
    own = bal[bal.party_id == party]
    figures = {f"{v:,.1f}" for v in bal[bal.party_id != party].received_kg if v > 100} - {
        f"{v:,.1f}" for v in own.received_kg}
    mine = {f.id for f in snap.findings if f.subject_type == "party" and f.subject_id == party}
    theirs = {f.id for f in snap.findings if f.subject_type == "party" and f.subject_id != party}
    # other parties' restricted-party candidates (the listed entities), but for those that
    # are candidates of the importer's party too
    cand = snap.screening
    listed = (set(cand[cand.party_id != party].entity_id)
              | set(cand[cand.party_id != party].entity_name)) - (
        set(cand[cand.party_id == party].entity_id)
        | set(cand[cand.party_id == party].entity_name))
    c = demo_web.client(user)
    # other parties' chain records (a finding's lot trace walks through them): none reaches
    # the importer, but for the ids its own findings cite
    flows, trans = snap.table("flows"), snap.table("transformations")
    ships = snap.table("shipments")
    foreign = (set(flows[(flows.from_id != party) & (flows.to_id != party)].flow_id)
               | set(trans[trans.party_id != party].transformation_id)
               | set(ships[(ships.consignee_id != party) & (ships.end_user_id != party)]
                     .declaration_id))
    cited = c.get("/api/findings").text
    foreign = {x for x in foreign if x not in cited}
    assert len(foreign) > 100
    assert len(ids["shipments"]) > 100  # every shipment's page, the importer's and others'
    seen: set[str] = set()
    gets = [r for r in demo_web.app.routes if isinstance(r, APIRoute) and "GET" in r.methods
            and not r.path.startswith("/static")]
    assert len(gets) >= 15
    for route in gets:
        for url in _fill(route.path, ids):
            r = c.get(url)
            pages = [r]
            while route.path == "/events" and _next(pages[-1]):  # every page of the events
                pages.append(c.get(_next(pages[-1])))
            for r in pages:
                assert r.status_code in (200, 403, 404), (url, r.status_code)
                body = r.text + " " + " ".join(r.headers.values())
                leaked = sorted(w for w in words if w in body)
                assert not leaked, (url, leaked[:5])
                assert not [x for x in figures if x in body], url
                assert not [f for f in theirs if f in body], url
                assert not [x for x in listed if x in body], url
                assert not foreign & set(re.findall(r"[\w:.-]+", body)), url
            if pages[0].status_code == 200:
                seen.add(url)
    assert any(u == "/events" for u in seen)
    assert f"/parties/{party}" in seen and f"/api/parties/{party}" in seen
    for other in others.party_id:
        assert c.get(f"/parties/{other}").status_code == 404
        assert c.get(f"/api/parties/{other}").status_code == 404
    assert "/applications" not in seen and "/audit" not in seen
    if party == IMPORTER_PARTY:  # its own finding, and its certificate, are there
        assert mine and all(f"/findings/{f}" in seen for f in mine)
        # the lot trace of its certificate's finding: its own shipments, made into its own
        # products and sold (12 of each, docs/demo-scenarios.md), no other party's record
        incomplete = next(f for f in snap.findings if f.rule == "certificate_incomplete"
                          and f.subject_id == "EUC-VN-2025")
        tr = c.get(f"/api/findings/{incomplete.id}").json()["trace"]
        assert tr["figure"] and not tr["partial"]
        nodes = tr["figure"]["data"][0]["node"]
        assert sum(n.startswith("shipment CN-VN-D-") for n in nodes["label"]) == 12
        # each shipment's exporter, another party, is [other party] in the Sankey's hover
        # text, and the page carries the figure to draw (tests/test_web_browser.py draws it)
        shipped = [x for x in nodes["customdata"] if x.startswith("shipment CN-VN-D-")]
        assert len(shipped) == 12 and all(f"<br>{REDACTED} -> {party}<br>" in x
                                          for x in shipped)
        page = c.get(f"/findings/{incomplete.id}").text
        assert 'data-figure="fig-trace"' in page  # the figure as JSON, `>` as \u003e
        assert f"{REDACTED} -\\u003e {party}" in page
        assert "/certificates/EUC-VN-2025" in seen
        events = sum(event_pages(c, perPage="1000"), [])
        assert events  # its transformations, as EPCIS events
        assert len(events) < sum(len(p) for p in event_pages(demo_web.client("olivia"),
                                                             perPage="1000"))
    else:  # the forged certificate number it shares: shown, the other end user redacted
        forged = next(f for f in snap.findings if f.subject_id == "EUC-IN-2025")
        d = c.get(f"/api/findings/{forged.id}").json()
        assert party in d["finding"]["message"] and REDACTED in d["finding"]["message"]
        # of the two documents carrying the number, only its own
        rows = c.get("/api/certificates/EUC-IN-2025").json()["rows"]
        assert len(rows) == 1 and rows[0]["end_user_id"] == party
        assert len(demo_web.client("olivia").get("/api/certificates/EUC-IN-2025")
                   .json()["rows"]) == 2
        # its restricted-party finding traces through IN-MOT-01's records: it gets only the
        # records of its own (the flow it received, the certificate it holds)
        restricted = next(f for f in snap.findings if f.rule == "prohibited_end_use"
                          and f.subject_id == party)
        tr = c.get(f"/api/findings/{restricted.id}").json()["trace"]
        assert tr["partial"] and tr["records"] == 2
        assert demo_web.client("olivia").get(f"/api/findings/{restricted.id}").json()[
            "trace"]["records"] > 50
        # no link between its two records: no Sankey, said so
        assert tr["figure"] is None and tr["message"] == ("The trace reached no link "
                                                          "between records of yours.")
        assert "The trace reached no link between records of yours." in c.get(
            f"/findings/{restricted.id}").text
        # its restricted-party candidate is on its party page
        sc = c.get(f"/api/parties/{party}").json()["screening"]
        assert "MEU-0001" in {x["entity_id"] for x in sc["candidates"]}


def test_importer_dashboard_holds_its_own_findings_only(demo_web: WebApp) -> None:
    snap = demo_web.app.state.web.service.snapshot()
    d = demo_web.client("ivan").get("/api/dashboard").json()
    assert "attribution" not in d and d["party"] == IMPORTER_PARTY
    assert {b["party_id"] for b in d["balances"]} == {IMPORTER_PARTY}
    own = [f for f in snap.findings if f.subject_id == IMPORTER_PARTY]
    assert d["findings"] >= len(own) >= 1
    assert d["findings"] < len(snap.findings)


# --- users, for admins -----------------------------------------------------------------------
def _password_shown(html: str) -> str:
    return re.search(r'<code class="password">([^<]+)</code>', html).group(1)


def test_admin_manages_users_audited_and_csrf_protected(demo_web: WebApp, officer) -> None:
    """An admin adds a user (the password made and shown once), changes its role, resets its
    password, disables it; each change is in the audit log; a POST without the session's
    CSRF token changes nothing; no other role may see or use the page."""
    admin = demo_web.client("adam")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and {"olivia", "ivan", "adam"} <= set(
        re.findall(r'<tr id="user-([^"]+)"', page.text))
    csrf = csrf_of(page.text)
    r = admin.post("/admin/users", data={"name": "zoe", "role": "analyst", "csrf": csrf})
    assert r.status_code == 200 and "User zoe added as analyst." in r.text
    first = _password_shown(r.text)
    zoe = demo_web.client()
    login(zoe, "zoe", first)
    assert zoe.get("/api/me").json()["role"] == "analyst"
    # refused, nothing changed: an importer without a party, an unknown party, no CSRF
    for data in ({"action": "role", "role": "importer"},
                 {"action": "role", "role": "importer", "party_id": "NO-SUCH"}):
        r = admin.post("/admin/users/zoe", data={**data, "csrf": csrf})
        assert r.status_code == 422 and 'class="error"' in r.text
    assert admin.post("/admin/users/zoe", data={"action": "disable"}).status_code == 403
    assert admin.post("/admin/users", data={"name": "eve", "role": "officer",
                                            "csrf": "forged"}).status_code == 403
    assert zoe.get("/api/me").json()["role"] == "analyst"  # still in, still an analyst
    # the role: her session is closed, her next login is an importer of VN-IMP-01
    r = admin.post("/admin/users/zoe", data={"action": "role", "role": "importer",
                                             "party_id": IMPORTER_PARTY, "csrf": csrf})
    assert r.status_code == 200 and f"zoe is now importer of {IMPORTER_PARTY}." in r.text
    assert zoe.get("/api/me").status_code == 401
    login(zoe, "zoe", first)
    assert zoe.get("/api/me").json() == {"name": "zoe", "role": "importer",
                                         "party_id": IMPORTER_PARTY}
    # a new password: the old one no longer opens a session
    second = _password_shown(admin.post("/admin/users/zoe", data={
        "action": "password", "csrf": csrf}).text)
    assert second != first
    c = demo_web.client()
    csrf_login = csrf_of(c.get("/login").text)
    assert c.post("/login", data={"name": "zoe", "password": first,
                                  "csrf": csrf_login}).status_code == 401
    login(c, "zoe", second)
    # disabled: logged out, no login, no API token; then enabled again
    from sqlalchemy import select

    from rareflow.web.auth import new_token
    from rareflow.web.models import User

    with demo_web.app.state.web.db() as db:
        token = new_token(db, db.scalar(select(User).where(User.name == "zoe")))
        db.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/me", headers=bearer).status_code == 200
    r = admin.post("/admin/users/zoe", data={"action": "disable", "csrf": csrf})
    assert r.status_code == 200 and "zoe is disabled." in r.text
    assert c.get("/api/me").status_code == 401
    assert c.get("/api/me", headers=bearer).status_code == 401
    assert c.post("/login", data={"name": "zoe", "password": second,
                                  "csrf": csrf_of(c.get("/login").text)}).status_code == 401
    assert [u["disabled"] for u in admin.get("/api/users").json() if u["name"] == "zoe"] == [
        True]
    assert admin.post("/admin/users/adam", data={"action": "disable", "csrf": csrf}
                      ).status_code == 422  # not oneself
    admin.post("/admin/users/zoe", data={"action": "enable", "csrf": csrf})
    assert c.get("/api/me", headers=bearer).status_code == 200
    events = [(e["user"], e["action"], e["detail"]) for e in officer.get("/api/audit").json()]
    assert [e for e in events if e[0] == "adam" and e[1].startswith("user_")][::-1] == [
        ("adam", "user_added", "zoe: analyst"),
        ("adam", "user_role", f"zoe: analyst -> importer of {IMPORTER_PARTY}"),
        ("adam", "user_password", "zoe: password reset"),
        ("adam", "user_disabled", "zoe"), ("adam", "user_enabled", "zoe")]
    # no other role may see the users or change one (the officer with its session and
    # CSRF token; the analyst and the importer with API tokens: no CSRF to pass)
    assert officer.get("/admin/users").status_code == 403
    r = officer.post("/admin/users/zoe", data={"action": "disable",
                                               "csrf": csrf_of(officer.get("/").text)})
    assert r.status_code == 403
    with demo_web.app.state.web.db() as db:
        tokens = [new_token(db, db.scalar(select(User).where(User.name == n)))
                  for n in ("ana", "ivan")]
        db.commit()
    for t in tokens:
        other = demo_web.client()
        other.headers["Authorization"] = f"Bearer {t}"
        assert other.get("/admin/users").status_code == 403
        assert other.get("/api/users").status_code == 403
        assert other.post("/admin/users/zoe", data={"action": "disable"}).status_code == 403
    assert [u["disabled"] for u in admin.get("/api/users").json() if u["name"] == "zoe"] == [
        False]


# --- the command line -------------------------------------------------------------------------
def test_users_add_on_the_command_line(tmp_path: Path, demo_world: Built) -> None:
    from typer.testing import CliRunner

    from rareflow.cli.main import app

    runner = CliRunner()
    store = demo_world.db  # the ingested store (closed; only read here)
    app_db = tmp_path / "users.sqlite"
    r = runner.invoke(app, ["users", "add", "eve", "--role", "importer", "--party",
                            "VN-IMP-01", "--db", str(store), "--app-db", str(app_db),
                            "--generate"])
    assert r.exit_code == 0, r.output
    password = re.search(r"password: (\S+)", r.output).group(1)
    r = runner.invoke(app, ["users", "add", "mallory", "--role", "importer", "--party",
                            "NO-SUCH", "--db", str(store), "--app-db", str(app_db),
                            "--generate"])
    assert r.exit_code == 2 and "no party NO-SUCH" in r.output
    r = runner.invoke(app, ["users", "add", "bob", "--role", "boss", "--app-db",
                            str(app_db)], input="longenough\n")
    assert r.exit_code == 2 and "role 'boss' unknown" in r.output
    r = runner.invoke(app, ["users", "add", "eve", "--role", "officer", "--app-db",
                            str(app_db)], input="longenough\n")
    assert r.exit_code == 2 and "exists already" in r.output
    from rareflow.web.auth import check_password
    from rareflow.web.models import open_app_db

    with open_app_db(app_db)() as db:
        user = check_password(db, "eve", password)
        assert (user.role, user.party_id) == ("importer", "VN-IMP-01")
    r = runner.invoke(app, ["users", "token", "eve", "--app-db", str(app_db)])
    assert r.exit_code == 0 and r.output.strip().startswith("rf_")


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rareflow.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 2 and "no such store" in r.output


def test_without_the_web_extra_serve_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    from typer.testing import CliRunner

    from rareflow.cli.main import app

    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "argon2", None)
    r = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 2
    assert "pip install 'rareflow[web]'" in r.output and "fastapi, argon2" in r.output
    r = CliRunner().invoke(app, ["users", "list", "--app-db", str(tmp_path / "u.sqlite")])
    assert r.exit_code == 2 and "web" in r.output


def test_login_redirect_stays_on_this_site(demo_web: WebApp) -> None:
    c = demo_web.client()
    csrf = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"name": "olivia", "password": PASSWORD, "csrf": csrf,
                               "next": "//evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    login(c, "olivia")
