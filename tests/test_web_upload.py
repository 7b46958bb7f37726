"""Filing data through the web (`rareflow serve`'s upload): a zip checked by the project's
ingest, its rejects shown with file, line and field, its rows stored with provenance and the
analysis brought up to date; an importer files only its own rows. Certificates the same
way, each verified; an importer files only its own. EPCIS capture and the paged event query.

On a private copy of the contract's example store (EX-IN-01 is an importer there; its parties,
shipments and flows: no certificate, no key register until a test files them)."""

from __future__ import annotations

import copy
import io
import json
import re
import threading
import zipfile

import pytest

from conftest import EXAMPLE
from test_web_support import WebApp, certificate, close_all, csrf_of, example_web_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HEADER = "flow_id,date,from_id,to_id,to_country,product,net_kg,units,re_kg,source_ref,use"
#: line 2 good, line 3 another party's row (the importer may not file it), line 4 a units
#: value that is not a number, line 5 good
FLOWS = "\n".join([
    HEADER,
    "EX-F-0101,2025-07-10,EX-IN-01,EX-IN-02,,traction_motor,,50,,,",
    "EX-F-0102,2025-07-11,EX-IN-02,EX-IN-03,,magnet_scrap,5,,,,",
    "EX-F-0103,2025-07-12,EX-IN-01,EX-IN-02,,traction_motor,,lots,,,",
    "EX-F-0104,2025-07-13,EX-IN-01,EX-IN-03,,magnet_scrap,2,,,,",
]) + "\n"


def zipped(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.fixture(scope="session")
def example_web(tmp_path_factory: pytest.TempPathFactory) -> WebApp:
    yield example_web_app(tmp_path_factory.mktemp("web_example"))
    close_all()


def _upload(c, data: bytes, name: str = "july.zip"):  # noqa: ANN001, ANN202
    page = c.get("/upload").text
    return c.post("/upload", data={"csrf": csrf_of(page)},
                  files={"dataset": (name, data, "application/zip")})


def test_importer_upload_keeps_its_rows_and_shows_the_rejects(example_web: WebApp) -> None:
    service = example_web.app.state.web.service
    before = service.snapshot()
    flows_before = before.table_counts["flows"]
    c = example_web.client("ivy")
    r = _upload(c, zipped({"july/flows.csv": FLOWS}))
    assert r.status_code == 200 and "/uploads/" in str(r.url)
    up = c.get(r.url.path.replace("/uploads/", "/api/uploads/")).json()
    assert up["status"] == "stored" and up["user"] == "ivy" and up["filename"] == "july.zip"
    rejects = {(x["file"], x["line"], x["column"]) for x in up["rejects"]
               if x["level"] == "reject"}
    assert rejects == {("flows.csv", 3, "from_id"), ("flows.csv", 4, "units")}
    assert up["loaded"] == 2 and up["rejected"] == 2
    assert "flows.csv" in r.text and "units" in r.text and "must be your own party" in r.text
    after = service.snapshot()
    assert after is not before and after.generation == before.generation + 1
    assert after.table_counts["flows"] == flows_before + 2
    changes = example_web.client("olivia").get("/api/dashboard").json()["changes"]
    assert changes["since_state"] == before.generation
    assert changes["rows_added"] == {"flows": 2}
    # provenance: the stored rows name the upload's folder; the upload names who and when
    store = service.ws.store
    with service._lock:
        t = store.table("flows")
        rows = store.to_pandas(t.filter(t.flow_id.isin(["EX-F-0101", "EX-F-0104"])))
    assert len(rows) == 2
    assert all(f"upload-{up['id']:06d}" in f for f in rows["_file"])
    officer = example_web.client("olivia")
    audit = officer.get("/api/audit").json()
    assert any(e["action"] == "upload" and e["user"] == "ivy" and
               e["detail"].startswith(f"upload {up['id']} (july.zip): stored") for e in audit)
    # the importer's upload is not another importer's business; officers see it
    assert officer.get(f"/api/uploads/{up['id']}").status_code == 200


def test_importer_may_not_file_other_tables(example_web: WebApp) -> None:
    c = example_web.client("ivy")
    r = _upload(c, zipped({"parties.csv": "party_id,name,country,roles\nX,Y,IN,importer\n"}))
    assert "refused" in r.text and "an importer files only" in r.text
    assert "parties.csv" in r.text


def test_bad_upload_is_refused_with_a_message(example_web: WebApp) -> None:
    c = example_web.client("olivia")
    r = _upload(c, b"this is not a zip", "notes.txt")
    assert r.status_code == 200 and "refused: not a zip archive" in r.text
    r = _upload(c, zipped({"../../etc/flows.csv": FLOWS}))
    assert "a path outside the dataset" in r.text
    analyst = example_web.client("ana")
    assert analyst.get("/upload").status_code == 403
    r = analyst.post("/api/uploads", files={"dataset": ("a.zip", b"x", "application/zip")},
                     headers={"X-CSRF-Token": csrf_of(analyst.get("/").text)})
    assert r.status_code == 403


def test_readers_never_see_a_half_ingested_store(example_web: WebApp) -> None:
    """While an upload is being ingested and analysed, pages keep answering from the
    previous state; they switch to the new one in one step, with its analysis."""
    service = example_web.app.state.web.service
    officer = example_web.client("olivia")
    ivy = example_web.client("ivy")
    start = service.snapshot()
    n0 = start.table_counts["flows"]
    seen: list[tuple[int, int]] = []
    done = threading.Event()
    uploading = threading.Event()
    during = []  # answers given while the upload was being ingested and analysed

    def read() -> None:
        while not done.is_set():
            d = officer.get("/api/dashboard").json()
            seen.append((d["state"], d["table_counts"]["flows"]))
            if uploading.is_set() and not done.is_set():
                during.append(d["state"])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        flows = "\n".join([HEADER, "EX-F-0201,2025-08-01,EX-IN-01,EX-IN-02,,traction_motor,,"
                           "10,,,", "EX-F-0202,2025-08-02,EX-IN-01,EX-IN-02,,"
                           "traction_motor,,12,,,"]) + "\n"
        uploading.set()
        r = _upload(ivy, zipped({"flows.csv": flows}))
        assert "stored" in r.text
    finally:
        done.set()
        reader.join()
    assert start.generation in during  # the pages answered from the old state meanwhile
    assert set(seen) <= {(start.generation, n0), (start.generation + 1, n0 + 2)}
    assert officer.get("/api/dashboard").json()["table_counts"]["flows"] == n0 + 2


# --- EPCIS 2.0: capture and query -----------------------------------------------------------
def _events(c, **params) -> list[dict]:  # noqa: ANN001
    """Every event of the query: its pages, following the `Link` headers."""
    out, r = [], c.get("/events", params=params)
    while True:
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["type"] == "EPCISQueryDocument"
        out += doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = r.headers.get("link")
        if link is None:
            return out
        r = c.get(re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1))


def _flow_event(flow_id: str, source: str, dest: str) -> dict:
    return {"type": "ObjectEvent", "eventID": f"urn:rareflow:flow:{flow_id}",
            "eventTime": "2025-10-01T12:00:00.000Z", "eventTimeZoneOffset": "+00:00",
            "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
            "quantityList": [{"epcClass": "urn:rareflow:class:traction_motor",
                              "quantity": 5}],
            "sourceList": [{"type": "owning_party",
                            "source": f"urn:rareflow:party:{source}"}],
            "destinationList": [{"type": "owning_party",
                                 "destination": f"urn:rareflow:party:{dest}"}]}


def _capture(c, events: list[dict]):  # noqa: ANN001, ANN202
    import json

    doc = {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2025-10-02T00:00:00.000Z", "epcisBody": {"eventList": events}}
    return c.post("/capture", content=json.dumps(doc),
                  headers={"content-type": "application/ld+json",
                           "X-CSRF-Token": csrf_of(c.get("/").text)})


def test_events_answer_the_epcis_query_parameters(example_web: WebApp) -> None:
    """The example's flow EX-F-0001 (EX-IN-01 -> EX-IN-02, 2025-04-20, 700 traction
    motors of lot EX-T-0001) as `rareflow epcis export` writes it."""
    officer = example_web.client("olivia")
    evs = {e["eventID"]: e for e in _events(officer)}
    e = evs["urn:rareflow:flow:EX-F-0001"]
    assert (e["type"], e["bizStep"], e["eventTime"]) == (
        "ObjectEvent", "shipping", "2025-04-20T12:00:00.000Z")
    assert e["quantityList"] == [{"epcClass": "urn:rareflow:class:traction_motor:lot:EX-T-0001",
                                  "quantity": 700}]
    assert "urn:rareflow:flow:EX-F-0001" not in {
        x["eventID"] for x in _events(officer, GE_eventTime="2025-04-21T00:00:00Z")}
    assert "urn:rareflow:flow:EX-F-0001" in {
        x["eventID"] for x in _events(officer, LT_eventTime="2025-04-21T00:00:00Z",
                                      MATCH_anyEPCClass="urn:rareflow:class:traction_motor*")}
    assert _events(officer, eventType="TransformationEvent") == []  # no transformations here
    r = officer.get("/events", params={"EQ_nonsense": "x"})
    assert r.status_code == 400 and "EQ_nonsense" in r.json()["title"]


def test_importer_captures_its_own_events_only(example_web: WebApp) -> None:
    ivy = example_web.client("ivy")
    r = _capture(ivy, [_flow_event("EX-F-0911", "EX-IN-01", "EX-IN-02")])
    assert r.status_code == 202
    job = ivy.get(r.headers["location"]).json()
    assert job["success"] is True and job["loaded"] == 1
    assert "urn:rareflow:flow:EX-F-0911" in {e["eventID"] for e in _events(ivy)}
    # another party's event: the whole capture refused, the event named by its position
    r = _capture(ivy, [_flow_event("EX-F-0912", "EX-IN-01", "EX-IN-03"),
                       _flow_event("EX-F-0913", "EX-IN-02", "EX-IN-03")])
    job = ivy.get(r.headers["location"]).json()
    assert job["success"] is False and job["loaded"] == 0
    assert [(x["line"], x["column"], x["value"]) for x in job["errors"]] == [
        (2, "from_id", "EX-IN-02")]
    ids = {e["eventID"] for e in _events(example_web.client("olivia"))}
    assert "urn:rareflow:flow:EX-F-0912" not in ids and "urn:rareflow:flow:EX-F-0913" not in ids
    # what the importer gets of the events: its own, the other parties' URIs redacted
    mine = _events(ivy)
    assert mine and all("urn:rareflow:party:EX-IN-02" not in str(e) for e in mine)
    r = _capture(ivy, [])
    assert ivy.get(r.headers["location"]).json()["success"] is False


def test_a_page_token_holds_while_an_upload_adds_events(example_web: WebApp) -> None:
    """A `nextPageToken` is a position in the events' order, not an offset: an upload
    between two pages neither repeats nor skips an event, and the new event (later than
    the position) comes on a page to come."""
    officer, ivy = example_web.client("olivia"), example_web.client("ivy")
    before = {e["eventID"] for e in _events(officer)}
    r = officer.get("/events", params={"perPage": "2"})
    first = [e["eventID"] for e in r.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"]]
    nxt = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["link"]).group(1)
    late = "\n".join([HEADER, "EX-F-0401,2025-12-30,EX-IN-01,EX-IN-02,,traction_motor,,"
                      "3,,,"]) + "\n"
    assert "stored" in _upload(ivy, zipped({"flows.csv": late})).text
    rest, r = [], officer.get(nxt)
    while True:
        rest += [e["eventID"] for e in r.json()["epcisBody"]["queryResults"]["resultsBody"][
            "eventList"]]
        link = r.headers.get("link")
        if link is None:
            break
        r = officer.get(re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1))
    seen = first + rest
    assert len(seen) == len(set(seen))
    assert set(seen) == before | {"urn:rareflow:flow:EX-F-0401"}


# --- certificates ---------------------------------------------------------------------------
def _file_keys(officer) -> None:  # noqa: ANN001
    """The officer files the key register (the example's keys.csv), as a dataset."""
    r = _upload(officer, zipped({"keys.csv": (EXAMPLE / "keys.csv").read_text()}), "keys.zip")
    assert "stored" in r.text, r.text


def _certificates(c, files: dict[str, str | bytes | dict]):  # noqa: ANN001, ANN202
    """Upload certificate files through the page's form, as a person does."""
    page = c.get("/upload").text
    return c.post("/upload/certificates", data={"csrf": csrf_of(page)},
                  files=[("certificates", (name, body if isinstance(body, str | bytes)
                                           else json.dumps(body), "application/json"))
                         for name, body in files.items()])


def test_importer_files_certificates_each_verified(example_web: WebApp) -> None:
    """EX-IN-01's importer files five certificate files and a note: its signed certificate
    (valid: both signers' keys in the register), the same altered after signing (stored,
    as evidence: its proof fails; the analysis finds it), one for another party (set aside:
    the contract names a certificate's parties in its credentialSubject, and an importer
    files only those naming it as importer or end user), one that is not JSON, one in
    UTF-16 and the note (set aside, with the reason). Filed again, the certificate is
    already stored."""
    service = example_web.app.state.web.service
    officer, ivy = example_web.client("olivia"), example_web.client("ivy")
    _file_keys(officer)
    before = service.snapshot()
    mine = certificate("EX-EUC-T1")
    altered = copy.deepcopy(mine)
    altered["credentialSubject"]["items"][0]["max_kg"] = "30000"
    r = _certificates(ivy, {"EX-EUC-T1.json": mine, "EX-EUC-T1-copy.json": altered,
                            "EX-EUC-T2.json": certificate("EX-EUC-T2", "EX-IN-02"),
                            "scan.json": "{not json", "notes.txt": "see attached",
                            "EX-EUC-T6.json": json.dumps(certificate("EX-EUC-T6")).encode(
                                "utf-16")})
    assert r.status_code == 200 and "/uploads/" in str(r.url)
    assert "6 file(s): 2 certificate(s) stored, 0 already stored, 4 set aside" in r.text
    up = ivy.get(r.url.path.replace("/uploads/", "/api/uploads/")).json()
    assert up["status"] == "stored" and up["user"] == "ivy"
    got = {c["file"]: (c["certificate_id"], c["outcome"], c["status"], c["codes"])
           for c in up["certificates"]}
    assert got == {
        "certificates/EX-EUC-T1.json": ("EX-EUC-T1", "stored", "valid", []),
        "certificates/EX-EUC-T1-copy.json": ("EX-EUC-T1", "stored", "invalid", ["bad_proof"]),
        "certificates/scan.json": (None, "set aside", None, [])}
    assert {c["as_of"] for c in up["certificates"] if c["status"]} == {"2025-03-01"}
    rejects = {(x["file"], x["column"]): x["reason"] for x in up["rejects"]}
    assert rejects.keys() == {("notes.txt", ""), ("certificates/scan.json", ""), (
        "certificates/EX-EUC-T2.json", "credentialSubject.importer_id, end_user_id"),
        ("certificates/EX-EUC-T6.json", "")}
    assert rejects[("certificates/EX-EUC-T6.json", "")].startswith("not UTF-8 text")
    assert "does not name your party (EX-IN-01)" in rejects[
        ("certificates/EX-EUC-T2.json", "credentialSubject.importer_id, end_user_id")]
    assert rejects[("certificates/scan.json", "")].startswith("not a JSON document")
    for shown in ("bad_proof", "does not name your party", "not a .json file", "valid"):
        assert shown in r.text
    # stored with provenance, and the analysis is up to date: the altered copy is found
    after = service.snapshot()
    assert after.generation == before.generation + 1
    certs = after.table("certificates")
    files = list(certs[certs.certificate_id == "EX-EUC-T1"]["_file"])
    assert len(files) == 2 and all(f"upload-{up['id']:06d}/certificates/" in f for f in files)
    assert "EX-EUC-T2" not in set(certs.certificate_id)
    forged = ivy.get("/api/findings", params={"rule": "certificate_forged"}).json()
    assert [f["subject_id"] for f in forged["findings"]] == ["EX-EUC-T1"]
    page = ivy.get("/api/certificates/EX-EUC-T1").json()
    assert sorted(v["status"] for v in page["verification"]) == ["invalid", "valid"]
    assert any(e["action"] == "upload" and e["user"] == "ivy"
               and e["detail"].startswith(f"upload {up['id']} (certificates: EX-EUC-T1.json")
               for e in officer.get("/api/audit").json())
    # filed again (through the API): nothing new
    again = ivy.post("/api/uploads/certificates", headers={"X-CSRF-Token": csrf_of(
        ivy.get("/").text)}, files=[("certificates", ("EX-EUC-T1.json", json.dumps(mine),
                                                      "application/json"))]).json()
    assert [(c["outcome"], c["status"]) for c in again["certificates"]] == [
        ("already stored", "valid")]
    assert again["loaded"] == 0


def test_officer_files_any_certificate_importer_sees_only_its_own(example_web: WebApp
                                                                  ) -> None:
    """An officer files a certificate of any party (here EX-IN-02's, unsigned: stored,
    verified invalid for want of a proof); EX-IN-01's importer does not see it. Nobody else
    reads an importer's upload; analysts may not upload."""
    officer, ivy = example_web.client("olivia"), example_web.client("ivy")
    r = officer.post("/api/uploads/certificates", headers={"X-CSRF-Token": csrf_of(
        officer.get("/").text)}, files=[("certificates", (
            "EX-EUC-T5.json", json.dumps(certificate("EX-EUC-T5", "EX-IN-02", ())),
            "application/json"))])
    up = r.json()
    assert [(c["outcome"], c["status"], c["codes"]) for c in up["certificates"]] == [
        ("stored", "invalid", ["no_proof"])]
    assert officer.get("/api/certificates/EX-EUC-T5").status_code == 200
    assert ivy.get("/api/certificates/EX-EUC-T5").status_code == 404
    assert ivy.get(f"/api/uploads/{up['id']}").status_code == 404
    assert "EX-EUC-T5" not in ivy.get("/api/findings").text
    analyst = example_web.client("ana")
    r = analyst.post("/api/uploads/certificates", headers={"X-CSRF-Token": csrf_of(
        analyst.get("/").text)}, files=[("certificates", ("a.json", b"{}", "application/json"))])
    assert r.status_code == 403


def test_importer_certificates_in_a_dataset_zip(example_web: WebApp) -> None:
    """In a dataset zip, an importer's certificates (certificates.jsonl, one a line) get
    the same check: its own is stored; another party's, and a line that is not JSON, are
    set aside with the line they were on in the uploaded file."""
    ivy = example_web.client("ivy")
    lines = [json.dumps(certificate("EX-EUC-T3")),
             json.dumps(certificate("EX-EUC-T4", "EX-IN-03")), "", "{oops"]
    r = _upload(ivy, zipped({"certificates.jsonl": "\n".join(lines) + "\n"}))
    up = ivy.get(r.url.path.replace("/uploads/", "/api/uploads/")).json()
    assert up["status"] == "stored"
    assert [(x["file"], x["line"], x["column"]) for x in up["rejects"]
            if x["level"] == "reject"] == [
        ("certificates.jsonl", 2, "credentialSubject.importer_id, end_user_id"),
        ("certificates.jsonl", 4, "")]
    assert [(c["line"], c["certificate_id"], c["outcome"]) for c in up["certificates"]] == [
        (1, "EX-EUC-T3", "stored"), (4, None, "set aside")]
    assert "certificates: 1 stored, 0 already stored, 1 set aside" in up["message"]


def test_an_application_database_of_before_gets_the_certificates_column(tmp_path) -> None:
    """An application database made before certificates were filed through the web (its
    uploads table without `certificates`) is brought up to date when opened."""
    import sqlite3

    from rareflow.web.models import Upload, open_app_db

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE uploads (id INTEGER PRIMARY KEY, user VARCHAR(100), "
                    "party_id VARCHAR(100), filename VARCHAR(300), folder VARCHAR(500), "
                    "at DATETIME, status VARCHAR(20), message TEXT, loaded INTEGER, "
                    "rejected INTEGER, rejects JSON)")
        con.execute("INSERT INTO uploads (user, filename, status, message, loaded, rejected, "
                    "rejects) VALUES ('ivy', 'july.zip', 'stored', '', 2, 0, '[]')")
    with open_app_db(path)() as db:
        old = db.get(Upload, 1)
        assert (old.filename, old.certificates) == ("july.zip", None)
        db.add(Upload(user="ivy", filename="certificates: a.json", status="stored",
                      rejects=[], certificates=[{"file": "certificates/a.json"}]))
        db.commit()
        assert db.get(Upload, 2).certificates == [{"file": "certificates/a.json"}]
