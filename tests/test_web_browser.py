"""`rareflow serve` in a real browser: the Debian `chromium` (never a downloaded one),
headless, driven by playwright, against the server (uvicorn) on localhost.

A person's path: log in, filter the findings, open a finding's evidence, decide an
application, upload a dataset with a bad row and see its reject. Screenshots go to a
temporary folder, or to $RAREFLOW_SCREENSHOTS (docs/serve/ for docs/serve.md:
`RAREFLOW_SCREENSHOTS=docs/serve pytest tests/test_web_browser.py`)."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLE, Built
from test_web_support import PASSWORD, WebApp, certificate, close_all, example_web_app, web_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api",
                                 reason="playwright is not installed (pip install -e '.[dev]')")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                 "(apt-get install chromium; .ci/run installs it)"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


class Server:
    """uvicorn serving `app` on a free localhost port, in a thread."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def demo_app(demo_world: Built, tmp_path_factory: pytest.TempPathFactory) -> WebApp:
    return web_app("demo", demo_world, tmp_path_factory.mktemp("web_demo"),
                   {"ivan": "VN-IMP-01", "indra": "IN-EDD-01"})


@pytest.fixture(scope="module")
def demo_server(demo_app: WebApp) -> Iterator[str]:
    s = Server(demo_app.app)
    yield s.url
    s.stop()


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    s = Server(example_web_app(tmp_path_factory.mktemp("web_example")).app)
    yield s.url
    s.stop()
    close_all()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(os.environ.get("RAREFLOW_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _page(browser, base: str):  # noqa: ANN001, ANN202
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    return page


def _login(page, name: str, shots: Path | None = None) -> None:  # noqa: ANN001
    page.goto("/")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    if shots is not None:
        page.screenshot(path=str(shots / "login.png"))
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_officer_filters_findings_opens_evidence_and_decides(browser, demo_server: str,
                                                             shots: Path) -> None:
    page = _page(browser, demo_server)
    _login(page, "olivia", shots)
    assert page.locator("h1").inner_text() == "Dashboard"
    page.wait_for_selector(".chart .main-svg")  # plotly drew the chart, offline
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    page.click("nav >> text=Findings")
    total = page.locator("table.findings tbody tr").count()
    page.select_option("select[name=rule]", "certificate_forged")
    page.select_option("select[name=severity]", "high")
    page.click("form.filters button")
    page.wait_for_url("**rule=certificate_forged**")
    rows = page.locator("table.findings tbody tr")
    assert 0 < rows.count() < total
    assert all(t == "certificate_forged" for t in
               page.locator("table.findings tbody tr td:nth-child(2)").all_inner_texts())
    page.screenshot(path=str(shots / "findings.png"), full_page=True)

    page.fill("input[name=q]", "CN-JP-D-00012")
    page.click("form.filters button")
    page.click("table.findings tbody tr >> nth=0 >> a")
    page.wait_for_url("**/findings/F-**")
    assert "revoked" in page.locator("p.message").inner_text()
    page.wait_for_selector(".chart.trace g.sankey-node")  # the lot trace, drawn offline
    assert page.locator(".chart.trace g.sankey-node").count() > 10
    page.screenshot(path=str(shots / "finding.png"), full_page=True)
    page.click("ul.evidence a[href='/shipments/CN-JP-D-00012']")
    page.wait_for_url("**/shipments/CN-JP-D-00012")
    assert "EUC-JP-2024" in page.content()
    page.click("a[href='/certificates/EUC-JP-2024'] >> nth=0") if page.locator(
        "a[href='/certificates/EUC-JP-2024']").count() else page.goto(
        "/certificates/EUC-JP-2024")
    assert page.locator("h1").inner_text() == "Certificate EUC-JP-2024"
    failed = page.locator("table.steps tr.fail td:first-child").all_inner_texts()
    assert [t.split(" (")[0] for t in failed] == ["Revocation", "Validity period"]
    page.screenshot(path=str(shots / "certificate.png"), full_page=True)
    page.goto("/parties/VN-IMP-01")
    page.wait_for_selector(".chart .main-svg .errorbar")  # unaccounted kg, +-2 sd
    page.screenshot(path=str(shots / "party.png"), full_page=True)
    # a party with a restricted-party candidate: the list, entity, score and decision, why
    page.goto("/parties/IN-EDD-01")
    row = page.locator("table.screening tbody tr").filter(has_text="MEU-0001")
    assert row.locator("td:nth-child(5)").inner_text() == "match"
    assert "demo-military-end-users" in row.inner_text()
    page.locator("section#screening").screenshot(path=str(shots / "party-screening.png"))

    page.goto("/")
    page.click("a[href='/destinations/VN']")
    page.wait_for_url("**/destinations/VN")
    assert "VN-IMP-01" in page.locator("table.findings").inner_text()
    page.screenshot(path=str(shots / "destination.png"), full_page=True)
    page.goto("/licences/L-VN-2025")
    assert page.locator("table.ledger tbody tr").count() == 12
    page.screenshot(path=str(shots / "licence.png"), full_page=True)

    page.goto("/applications")
    app = page.locator("article#APP-0004")
    app.locator("input[value=request_information]").check()
    app.locator("textarea[name=reasons]").fill("Ask the end user for its site visit report.")
    page.screenshot(path=str(shots / "applications.png"), full_page=True)
    app.locator("button[type=submit]").click()
    page.wait_for_url("**/applications*")
    recorded = page.locator("article#APP-0004 p.recorded").inner_text()
    assert "request_information" in recorded and "olivia" in recorded
    assert "site visit report" in page.locator("article#APP-0004 pre.reasons").inner_text()
    page.goto("/audit")
    assert "APP-0004: request_information" in page.locator("table.audit").inner_text()
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    page.context.close()


def test_importer_sees_its_party_and_not_another(browser, demo_server: str,
                                                 shots: Path) -> None:
    page = _page(browser, demo_server)
    _login(page, "ivan")
    assert page.locator("nav >> text=Applications").count() == 0
    page.click("nav >> text=My party")
    page.wait_for_url("**/parties/VN-IMP-01")
    assert "Hai Phong Motor Components JSC" in page.locator("h1").inner_text()
    page.screenshot(path=str(shots / "party-importer.png"), full_page=True)
    r = page.goto("/parties/JP-MOT-01")
    assert r.status == 404 and "Hamamatsu" not in page.content()
    outside: list[str] = []  # the API documentation loads nothing from another host
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith(demo_server) else None)
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "rareflow" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path[data-path='/events']").count() == 1
    assert outside == []
    page.screenshot(path=str(shots / "api.png"))
    page.context.close()


def test_importer_trace_shows_other_parties_as_redacted(browser, demo_server: str,
                                                        demo_app: WebApp, shots: Path) -> None:
    """VN-IMP-01's importer opens the finding on its certificate: the lot trace is drawn
    (its 12 shipments, what it made of them and sold), each shipment's exporter shows as
    [other party] in the hover text, and nothing of another party is on the page."""
    snap = demo_app.app.state.web.service.snapshot()
    parties = snap.table("parties")
    others = parties[parties.party_id != "VN-IMP-01"]
    words = set(others.party_id) | {n for n in others.name if isinstance(n, str)}
    page = _page(browser, demo_server)
    _login(page, "ivan")
    page.goto("/findings?rule=certificate_incomplete")
    page.click("table.findings tbody tr >> nth=0 >> a")
    page.wait_for_url("**/findings/F-**")
    page.wait_for_selector(".chart.trace g.sankey-node")  # drawn, offline
    nodes = page.locator(".chart.trace g.sankey-node")
    assert nodes.count() == 38
    shipment = nodes.filter(has_text="shipment CN-VN-D-00001")
    shipment.locator("rect").hover()
    hover = page.locator(".hoverlayer .hovertext")
    hover.wait_for()
    assert "[other party] -> VN-IMP-01" in hover.text_content()  # an SVG text
    page.screenshot(path=str(shots / "finding-importer.png"), full_page=True)
    text = page.locator("body").inner_text() + page.content()
    assert not [w for w in words if w in text]
    page.context.close()


def test_admin_adds_a_user(browser, demo_server: str, shots: Path) -> None:
    page = _page(browser, demo_server)
    _login(page, "adam")
    page.click("nav >> text=Users")
    page.wait_for_url("**/admin/users")
    page.fill("form.decide input[name=name]", "uma")
    page.select_option("form.decide select[name=role]", "importer")
    page.fill("form.decide input[name=party_id]", "VN-IMP-01")
    page.click("form.decide button")
    assert "User uma added as importer." in page.locator("p.notice").inner_text()
    assert len(page.locator("code.password").inner_text()) >= 12
    assert page.locator("tr#user-uma td:nth-child(3)").inner_text() == "VN-IMP-01"
    page.screenshot(path=str(shots / "users.png"), full_page=True)
    page.context.close()


def test_upload_with_a_bad_row_shows_its_reject(browser, example_server: str,
                                                shots: Path, tmp_path: Path) -> None:
    flows = ("flow_id,date,from_id,to_id,to_country,product,net_kg,units,re_kg,source_ref,use\n"
             "EX-F-0301,2025-09-01,EX-IN-01,EX-IN-02,,traction_motor,,20,,,\n"
             "EX-F-0302,2025-09-02,EX-IN-01,EX-IN-02,,traction_motor,,twenty,,,\n")
    zpath = tmp_path / "september.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("flows.csv", flows)
    zpath.write_bytes(buf.getvalue())
    page = _page(browser, example_server)
    _login(page, "ivy")
    page.click("nav >> text=Upload")
    page.set_input_files("input[name=dataset]", str(zpath))
    page.click("form.upload button")
    page.wait_for_url("**/uploads/*")
    assert page.locator("p.status").inner_text().startswith("stored: 1 file(s): 1 new row(s)")
    row = page.locator("table.rejects tbody tr.reject").first
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["flows.csv", "3", "units"] and cells[4] == "twenty"
    page.screenshot(path=str(shots / "upload.png"), full_page=True)
    page.context.close()


def test_importer_uploads_certificates_and_sees_each_verified(browser, example_server: str,
                                                             shots: Path,
                                                             tmp_path: Path) -> None:
    """The officer files the key register; the importer then files its signed certificate
    and one naming another party through the certificates form: the first stored and
    verified valid, the second set aside with the reason; the certificate's page shows it."""
    keys = tmp_path / "keys.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("keys.csv", (EXAMPLE / "keys.csv").read_text())
    keys.write_bytes(buf.getvalue())
    page = _page(browser, example_server)
    _login(page, "olivia")
    page.click("nav >> text=Upload")
    page.set_input_files("input[name=dataset]", str(keys))
    page.click("form.upload button >> nth=0")
    page.wait_for_url("**/uploads/*")
    assert page.locator("p.status").inner_text().startswith("stored")
    page.context.close()

    mine, theirs = tmp_path / "EX-EUC-B1.json", tmp_path / "EX-EUC-B2.json"
    mine.write_text(json.dumps(certificate("EX-EUC-B1"), indent=2))
    theirs.write_text(json.dumps(certificate("EX-EUC-B2", "EX-IN-02"), indent=2))
    page = _page(browser, example_server)
    _login(page, "ivy")
    page.click("nav >> text=Upload")
    page.set_input_files("form.certificates input[name=certificates]", [str(mine), str(theirs)])
    page.click("form.certificates button")
    page.wait_for_url("**/uploads/*")
    assert page.locator("p.status").inner_text().startswith(
        "stored: 2 file(s): 1 certificate(s) stored, 0 already stored, 1 set aside")
    row = page.locator("table.certificates tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["certificates/EX-EUC-B1.json", "EX-EUC-B1", "stored"]
    assert cells[3].startswith("valid")
    reject = page.locator("table.rejects tbody tr.reject").first.inner_text()
    assert "EX-EUC-B2.json" in reject and "does not name your party (EX-IN-01)" in reject
    page.screenshot(path=str(shots / "upload-certificates.png"), full_page=True)
    row.locator("a").click()
    page.wait_for_url("**/certificates/EX-EUC-B1")
    assert page.locator("table.steps tr.fail").count() == 0
    page.context.close()
