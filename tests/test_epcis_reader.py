"""EPCIS 2.0 documents in a dataset's `epcis/` folder -> flows, transformations, stocks; and
`rareflow epcis export` back to EPCIS (docs/epcis-mapping.md).

- every GS1 example document (JSON-LD full and simple context, XML) is read without crashing:
  each event is mapped, rejected with a reason, or set aside with a warning;
- the rare-earth magnet chain (rare-earth-example/MANIFEST.txt) gives the flows and the
  transformation whose balance leaves 12.8 kg unaccounted;
- export -> read gives the same rows; the demo world analysed from CSV and from EPCIS gives
  the same findings (the issue's acceptance test).
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import EXAMPLE, TESTDATA, Built, copy_store
from rareflow.cli.main import app
from rareflow.epcis import reader as reader_module
from rareflow.epcis.digital_link import canonical_digital_link
from rareflow.epcis.mapping import MappingTables, term
from rareflow.epcis.reader import read_epcis
from rareflow.epcis.validate import load_schemas, validate_document
from rareflow.epcis.writer import export_workspace
from rareflow.readers.files import discover
from rareflow.workspace import Workspace

EPCIS = TESTDATA / "epcis"
GS1 = EPCIS / "gs1-epcis"
CHAIN = EPCIS / "rare-earth-example" / "rare-earth-magnet-chain.jsonld"
SCHEMAS = EPCIS / "gs1-normative-2.0.1"
GS1_EXAMPLES = sorted({p for pattern in ("JSON/**/*.jsonld", "JSON-simple-context/**/*.jsonld",
                                         "XML/**/*.xml", "XML/**/*.json",
                                         "JSON-Schema/test/*.json")
                       for p in GS1.glob(pattern) if p.is_file()})
runner = CliRunner()
KEY = {"flows": ["flow_id"], "transformations": ["transformation_id"],
       "stocks": ["party_id", "date", "product"]}


def _accounted(stats) -> int:
    return (stats.mapped + stats.rejected + stats.not_mapped + stats.duplicates
            + stats.retracted + stats.receipts_merged)


# ----------------------------------------------------------------------------- GS1 examples


def test_gs1_examples_are_all_there() -> None:
    assert len(GS1_EXAMPLES) > 100
    assert {p.suffix for p in GS1_EXAMPLES} == {".jsonld", ".json", ".xml"}


@pytest.mark.parametrize("path", GS1_EXAMPLES, ids=lambda p: p.relative_to(GS1).as_posix())
def test_gs1_example_reads_without_crashing(path: Path) -> None:
    read = read_epcis([path])
    s = read.stats
    # every event is accounted for: mapped, rejected, or set aside with a warning
    assert _accounted(s) == s.events
    for r in read.rejects:
        assert r["file"] == str(path) and r["reason"] and r["level"] in ("reject", "warning")
        assert isinstance(r["line"], int)
    if s.events == 0:  # not an EPCIS document with events: said so, with the reason
        assert "CaptureJob" in path.name or s.unreadable == 0
        assert s.unreadable or not read.rejects
    assert sum(s.rows.values()) == 0  # nothing maps without the dataset's mappings


def _gs1_identifiers() -> tuple[set[str], set[str]]:
    """GTINs and GLNs named in the GS1 examples (any form)."""
    gtins: set[str] = set()
    glns: set[str] = set()
    pattern = re.compile(r"(urn:epc:[a-z]+:[a-z]+:[0-9A-Za-z.%*_!'()+,;=:-]+"
                         r"|https?://[A-Za-z0-9./%_-]+)")
    for path in GS1_EXAMPLES:
        for ident in pattern.findall(path.read_text("utf-8", errors="replace")):
            canon = canonical_digital_link(ident.rstrip(".")) or ""
            if m := re.match(r"https://id\.gs1\.org/01/(\d{14})", canon):
                gtins.add(m.group(1))
            if m := re.match(r"https://id\.gs1\.org/41[47]/(\d{13})", canon):
                glns.add(m.group(1))
    return gtins, glns


def test_gs1_examples_with_every_identifier_mapped() -> None:
    """With a mapping for every GTIN and GLN, the examples' movements that name a sender and a
    receiver become flows and their TransformationEvents transformations; the rest is set
    aside with reasons. Read together, the same examples in JSON, JSON simple context and XML
    are duplicates (same Event Hash ID)."""
    gtins, glns = _gs1_identifiers()
    tables = MappingTables.build(
        [(g, f"P-{g}") for g in glns],
        [{"product": f"item-{g}", "re_kg_per_unit": 0.01, "gtin": g} for g in gtins])
    totals = {"events": 0, "mapped": 0, "flows": 0, "transformations": 0}
    reasons: set[str] = set()
    for path in GS1_EXAMPLES:
        read = read_epcis([path], tables)
        s = read.stats
        assert _accounted(s) == s.events
        totals["events"] += s.events
        totals["mapped"] += s.mapped
        totals["flows"] += s.rows["flows"]
        totals["transformations"] += s.rows["transformations"]
        reasons |= {r["reason"] for r in read.rejects if r["level"] == "reject"}
        flows = read.tables["flows"].to_pandas()
        assert flows.from_id.str.startswith("P-").all()
        assert flows["product"].str.startswith("item-").all()
    assert totals["events"] > 150 and totals["mapped"] >= 25
    assert totals["flows"] >= 40 and totals["transformations"] >= 40
    assert any("without a receiver" in r for r in reasons)
    assert any("without a sender" in r for r in reasons)
    together = read_epcis(GS1_EXAMPLES, tables).stats
    assert together.duplicates > 50 and _accounted(together) == together.events


# ----------------------------------------------------------------------------- the rare-earth chain

PARTIES = """party_id,name,country,roles
A-CN,Baotou alloy exporter,CN,exporter
B-DE,Magnet maker,DE,importer;manufacturer
C-JP,Motor maker,JP,importer;manufacturer
"""
# the fixture's GLNs: PGLN as Digital Link, as EPC URN, and a bare GLN (party and site)
EPCIS_PARTIES = """gln_or_uri,party_id
https://id.gs1.org/417/4012345000023,A-CN
urn:epc:id:pgln:0614141.00002,B-DE
0614141000012,B-DE
https://id.gs1.org/417/9520000000011,C-JP
"""
# Content 1 kg per kg: the manifest's figures are masses, so the rare-earth balance shows them
# as they are (with the default contents, alloy 0.3 and magnets 0.31, the residual is 17.3 kg).
PRODUCTS = """product,kind,hs_code,unit,re_kg_per_unit,heavy_re_kg_per_unit,gtin
ndprdy_alloy,material,720299,kg,1.0,0.03,04012345000016
dy_metal,material,2805301200,kg,1.0,1.0,4012345000023
ndfeb_magnet,material,850511,kg,1.0,0.03,00614141000104
magnet_scrap,material,850511,kg,1.0,0.03,00614141000272
"""
SHIPMENTS = ("declaration_id,date,exporter_id,consignee_id,end_user_id,destination,product,"
             "hs_code,net_kg\n")
STOCK_COUNT = """{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-03-31T18:00:00Z",
  "epcisBody": {"eventList": [{
    "type": "ObjectEvent", "eventTime": "2025-03-31T17:00:00.000Z",
    "eventTimeZoneOffset": "+01:00", "action": "OBSERVE", "bizStep": "stock_taking",
    "bizLocation": {"id": "https://id.gs1.org/414/0614141000012"},
    "quantityList": [
      {"epcClass": "https://id.gs1.org/01/00614141000104/10/MAG-2025-0310", "quantity": 580,
       "uom": "KGM"},
      {"epcClass": "urn:epc:class:lgtin:0614141.000027.SWARF-2025-0310", "quantity": 95.2,
       "uom": "KGM"}]}]}}
"""


def _chain_dataset(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, text in (("parties", PARTIES), ("epcis_parties", EPCIS_PARTIES),
                       ("products", PRODUCTS), ("shipments", SHIPMENTS)):
        (root / f"{name}.csv").write_text(text)
    (root / "epcis").mkdir()
    shutil.copy(CHAIN, root / "epcis" / CHAIN.name)
    (root / "epcis" / "b-stock-count.jsonld").write_text(STOCK_COUNT)
    return root


def test_rare_earth_chain_leaves_12_8_kg_unaccounted(tmp_path: Path) -> None:
    root = _chain_dataset(tmp_path / "chain")
    ws = Workspace.open(None)
    report = ws.ingest(root)
    assert report.rejected == 0 and report.unknown_files == []
    assert len(ws.rejects()) == 0
    t = ws.tables()
    flows = ws.store.to_pandas(t.flows).sort_values("date")
    xs = ws.store.to_pandas(t.transformations).sort_values("transformation_id")
    stocks = ws.store.to_pandas(t.stocks).sort_values("product")
    assert list(zip(flows.from_id, flows.to_id, flows["product"], flows.net_kg, strict=True)) == [
        ("A-CN", "B-DE", "ndprdy_alloy", 1250.5), ("A-CN", "B-DE", "dy_metal", 37.5),
        ("B-DE", "C-JP", "ndfeb_magnet", 600.0)]
    # one transformation (transformationID WO-2025-0042), one row per input
    tid = "urn:epc:id:gdti:0614141.00002.WO-2025-0042"
    assert list(xs.transformation_id) == [f"{tid}#1", f"{tid}#2"]
    assert set(xs.party_id) == {"B-DE"} and set(xs.output_product) == {"ndfeb_magnet"}
    assert xs.input_qty.sum() == pytest.approx(1288.0)
    assert xs.output_qty.sum() == pytest.approx(1180.0)
    assert xs.scrap_kg.sum() == pytest.approx(95.2)
    # lot links: the inputs came with the alloy shipment, the magnets from the transformation
    assert list(xs.input_ref) == list(flows.flow_id[:2])
    assert flows.source_ref.iloc[2] == f"{tid}#1"
    assert list(zip(stocks["product"], stocks.qty, strict=True)) == [
        ("magnet_scrap", 95.2), ("ndfeb_magnet", 580.0)]
    balances = ws.analyze().balances
    b = balances[balances.party_id == "B-DE"].iloc[0]
    assert b.received_kg == pytest.approx(1288.0)
    assert b.used_kg == pytest.approx(1288.0)
    assert b.sent_kg == pytest.approx(600.0)
    assert b.unaccounted_kg == pytest.approx(12.8)  # 1288.0 in, 1180 + 95.2 out
    ws.close()


def test_streaming_does_not_depend_on_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = MappingTables.build(
        [(g, p) for g, p in (("4012345000023", "A"), ("0614141000029", "B"),
                             ("0614141000012", "B"), ("9520000000011", "C"))],
        [{"product": p, "unit": "kg", "re_kg_per_unit": 1, "gtin": g}
         for p, g in (("alloy", "04012345000016"), ("dy", "04012345000023"),
                      ("magnet", "00614141000104"), ("magnet_scrap", "00614141000272"))])
    whole = read_epcis([CHAIN], tables)
    monkeypatch.setattr(reader_module, "CHUNK", 7)
    chunked = read_epcis([CHAIN], tables)
    for name in ("flows", "transformations"):
        assert chunked.tables[name].equals(whole.tables[name])
    assert whole.stats.rows == {"flows": 3, "transformations": 2, "stocks": 0}


def test_event_ids_are_the_event_hash_ids_without_eventid() -> None:
    from rareflow.epcis.event_hash import hash_events

    hashes = [h.hash_id for h in hash_events(CHAIN)]
    tables = MappingTables.build([("4012345000023", "A"), ("0614141000029", "B")],
                                 [{"product": "a", "unit": "kg", "gtin": "04012345000016"},
                                  {"product": "d", "unit": "kg", "gtin": "04012345000023"}])
    read = read_epcis([CHAIN], tables)
    ids = read.tables["flows"].column("flow_id").to_pylist()
    assert ids == [f"{hashes[0]}#1", f"{hashes[0]}#2"]


# ----------------------------------------------------------------------------- XML, master data

XML_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2025-03-20T10:00:00Z">
  <EPCISHeader><extension><EPCISMasterData><VocabularyList>
    <Vocabulary type="urn:epcglobal:epcis:vtype:Party"><VocabularyElementList>
      <VocabularyElement id="urn:epc:id:pgln:4012345.00002">
        <attribute id="urn:rareflow:epcis:partyId">A-CN</attribute>
      </VocabularyElement>
    </VocabularyElementList></Vocabulary>
    <Vocabulary type="urn:epcglobal:epcis:vtype:BusinessLocation"><VocabularyElementList>
      <VocabularyElement id="urn:epc:id:sgln:0614141.00001.0">
        <attribute id="urn:rareflow:epcis:partyId">B-DE</attribute>
        <children><id>urn:epc:id:sgln:0614141.00001.7</id></children>
      </VocabularyElement>
    </VocabularyElementList></Vocabulary>
  </VocabularyList></EPCISMasterData></extension></EPCISHeader>
  <EPCISBody><EventList>
    {events}
  </EventList></EPCISBody>
</epcis:EPCISDocument>
"""


def _xml_event(step: str, source: str, destination: str, day: str = "03",
               event_id: str = "") -> str:
    eid = f"<eventID>{event_id}</eventID>" if event_id else ""
    return f"""<ObjectEvent>
      <eventTime>2025-03-{day}T08:00:00.000Z</eventTime>
      <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>{eid}
      <quantityList><quantityElement>
        <epcClass>urn:epc:class:lgtin:4012345.000001.NDPRDY-B17</epcClass>
        <quantity>1250.5</quantity><uom>KGM</uom>
      </quantityElement></quantityList>
      <action>OBSERVE</action>
      <bizStep>urn:epcglobal:cbv:bizstep:{step}</bizStep>
      <sourceList>
        <source type="urn:epcglobal:cbv:sdt:owning_party">{source}</source>
      </sourceList>
      <destinationList>
        <destination type="urn:epcglobal:cbv:sdt:location">{destination}</destination>
      </destinationList>
    </ObjectEvent>"""


def test_xml_master_data_receipts_duplicates_and_rejects(tmp_path: Path) -> None:
    a, b_dock = "urn:epc:id:pgln:4012345.00002", "urn:epc:id:sgln:0614141.00001.7"
    events = [
        _xml_event("shipping", a, b_dock),  # A -> B (B's dock is a child of B's site)
        _xml_event("receiving", a, b_dock, day="05"),  # the same lot received: no 2nd flow
        _xml_event("shipping", a, b_dock),  # the same event again: a duplicate
        _xml_event("shipping", a, "urn:epc:id:sgln:9999999.00001.0", event_id="urn:uuid:x1"),
    ]
    path = tmp_path / "chain.xml"
    path.write_text(XML_DOC.replace("{events}", "\n".join(events)))
    tables = MappingTables.build([], [{"product": "ndprdy_alloy", "unit": "kg",
                                       "gtin": "04012345000016"}])
    read = read_epcis([path], tables)
    flows = read.tables["flows"].to_pylist()
    assert [(f["from_id"], f["to_id"], f["net_kg"], f["date"]) for f in flows] == [
        ("A-CN", "B-DE", "1250.5", "2025-03-03")]
    assert flows[0]["source_ref"] == "https://id.gs1.org/01/04012345000016/10/NDPRDY-B17"
    s = read.stats
    assert (s.events, s.mapped, s.receipts_merged, s.duplicates, s.rejected) == (4, 1, 1, 1, 1)
    by_line = {r["line"]: r for r in read.rejects}
    assert by_line[2]["level"] == "warning" and "not a second flow" in by_line[2]["reason"]
    assert by_line[3]["level"] == "warning" and "duplicate event" in by_line[3]["reason"]
    rej = by_line[4]
    assert rej["level"] == "reject" and rej["table"] == "flows" and rej["column"] == "to_id"
    assert rej["value"] == "urn:uuid:x1" and rej["file"] == str(path)
    assert "urn:epc:id:sgln:9999999.00001.0" in rej["reason"]


def test_unmapped_product_and_error_declaration(tmp_path: Path) -> None:
    doc = CHAIN.read_text()
    path = tmp_path / "chain.jsonld"
    path.write_text(doc)
    read = read_epcis([path])  # no mappings at all
    assert sum(read.stats.rows.values()) == 0
    reasons = [r["reason"] for r in read.rejects]
    assert any("GTIN 04012345000016 matches no product" in r for r in reasons)
    assert all(r["line"] in (1, 2, 3) for r in read.rejects)
    # an error declaration withdraws the event it repeats (same Event Hash ID)
    text = doc.replace('"eventList": [', '"eventList": [' + _declared_first_event(doc) + ",", 1)
    path.write_text(text)
    tables = MappingTables.build([("4012345000023", "A"), ("0614141000029", "B")],
                                 [{"product": "a", "unit": "kg", "gtin": "04012345000016"},
                                  {"product": "d", "unit": "kg", "gtin": "04012345000023"}])
    read = read_epcis([path], tables)
    assert read.stats.rows["flows"] == 0 and read.stats.retracted == 2


def _declared_first_event(doc: str) -> str:
    import json

    first = json.loads(doc)["epcisBody"]["eventList"][0]
    first["errorDeclaration"] = {"declarationTime": "2025-03-04T08:00:00.000Z",
                                 "reason": "incorrect_data"}
    return json.dumps(first)


def test_vocabulary_terms() -> None:
    assert term("urn:epcglobal:cbv:bizstep:shipping") == "shipping"
    assert term("https://ref.gs1.org/cbv/BizStep-receiving") == "receiving"
    assert term("cbv:SDT-owning_party") == "owning_party"
    assert term("https://example.org/my-step") == "https://example.org/my-step"


def test_epcis_folder_is_discovered(tmp_path: Path) -> None:
    root = _chain_dataset(tmp_path / "d")
    (root / "epcis" / "notes.txt").write_text("not a document")
    files = discover(root)
    assert [p.name for p in files.epcis] == ["b-stock-count.jsonld", CHAIN.name]
    assert {"flows", "transformations", "stocks"} <= files.present()
    assert files.unknown == ["epcis/notes.txt"]


# ----------------------------------------------------------------------------- export, round trip


def _rows(ws: Workspace, table: str) -> pd.DataFrame:
    df = ws.store.to_pandas(ws.store.table(table))
    cols = [c for c in df.columns if not c.startswith("_")]
    return df[cols].sort_values(KEY[table]).reset_index(drop=True)


def _epcis_twin(src: Path, doc: Path, dst: Path) -> Path:
    """`src` without flows/transformations/stocks, plus epcis/ holding `doc`."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
        "flows.*", "transformations.*", "stocks.*", "rareflow.duckdb*"))
    (dst / "epcis").mkdir()
    shutil.copy(doc, dst / "epcis" / doc.name)
    return dst


def test_export_validates_and_reads_back(tmp_path: Path, example_ws: Workspace) -> None:
    src = tmp_path / "example"
    shutil.copytree(EXAMPLE, src)
    # two parties known by their GLN: the export uses them (PGLN and SGLN Digital Links)
    (src / "epcis_parties.csv").write_text(
        "gln_or_uri,party_id\n0614141000029,EX-IN-01\nurn:epc:id:pgln:4012345.00002,EX-IN-02\n")
    # the store of `src`: the example as ingested once (conftest), plus epcis_parties.csv
    ws = example_ws
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(src / "epcis_parties.csv", extra / "epcis_parties.csv")
    added = ws.ingest(extra)
    assert added.tables["epcis_parties"].loaded == 2 and added.rejected == 0
    out = tmp_path / "example.jsonld"
    counts = export_workspace(ws, out, created="2025-07-01T00:00:00.000Z")
    assert (counts.flows, counts.transformations, counts.stocks) == (3, 2, 3)
    assert validate_document(out, schemas=load_schemas([SCHEMAS])) == []
    text = out.read_text()
    assert "https://id.gs1.org/417/0614141000029" in text  # EX-IN-01's PGLN
    assert "https://id.gs1.org/414/0614141000029" in text  # ... and its site
    assert "urn:rareflow:party:EX-IN-03" in text  # no GLN: a rareflow URI + master data
    twin = _epcis_twin(src, out, tmp_path / "twin")
    ws2 = Workspace.open(None)
    report = ws2.ingest(twin)
    assert report.rejected == 0
    for table in ("flows", "transformations", "stocks"):
        pd.testing.assert_frame_equal(_rows(ws, table), _rows(ws2, table), check_dtype=False)
    ws2.close()


def test_export_command(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonld"
    result = runner.invoke(app, ["epcis", "export", str(EXAMPLE), "--out", str(out),
                                 "--validate", "--schemas", str(SCHEMAS)])
    assert result.exit_code == 0, result.output
    assert "8 events (3 flows, 2 transformations, 3 stock reports)" in result.output
    assert f"{out}: valid" in result.output
    bad = runner.invoke(app, ["epcis", "export", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 2


def _sorted_findings(findings: list) -> list[tuple[str, str, float]]:
    return sorted((f.rule, f.subject_id, round(f.kg or 0.0, 1)) for f in findings)


def _findings(ws: Workspace) -> list[tuple[str, str, float]]:
    return _sorted_findings(ws.analyze().findings)


def test_demo_world_same_findings_from_csv_and_from_epcis(tmp_path: Path,
                                                          demo_world: Built) -> None:
    """The issue's acceptance test: the demo world's flows, transformations and stocks
    exported to EPCIS, read back from epcis/ instead of the CSVs, give the same findings.
    The CSV side is `conftest.demo_world` (generated, ingested and analysed once)."""
    csv_dir = demo_world.data
    doc = tmp_path / "demo.jsonld"
    result = runner.invoke(app, ["epcis", "export", str(csv_dir), "--out", str(doc)])
    assert result.exit_code == 0, result.output
    assert validate_document(doc, schemas=load_schemas([SCHEMAS])) == []
    twin = _epcis_twin(csv_dir, doc, tmp_path / "epcis_dataset")
    ws_csv = Workspace.open(copy_store(demo_world.db, tmp_path / "csv_store"))
    ws_epcis = Workspace.open(None)
    report = ws_epcis.ingest(twin)
    assert report.tables["flows"].loaded == len(_rows(ws_csv, "flows")) > 300
    assert report.tables["transformations"].loaded > 200
    assert report.tables["stocks"].loaded > 10
    for table in ("flows", "transformations", "stocks"):
        pd.testing.assert_frame_equal(_rows(ws_csv, table), _rows(ws_epcis, table),
                                      check_dtype=False)
    ws_csv.close()
    expected = _sorted_findings(demo_world.result.findings)
    assert len(expected) > 10
    assert _findings(ws_epcis) == expected
    ws_epcis.close()


def test_events_outside_the_mapping_give_one_warning_per_kind(tmp_path: Path) -> None:
    a, b = "urn:epc:id:pgln:4012345.00002", "urn:epc:id:sgln:0614141.00001.7"
    events = [_xml_event("inspecting", a, b, day=f"{d:02d}") for d in range(1, 8)]
    path = tmp_path / "inspections.xml"
    path.write_text(XML_DOC.replace("{events}", "\n".join(events)))
    read = read_epcis([path])
    assert read.stats.not_mapped == 7
    assert len(read.rejects) == 1
    warning = read.rejects[0]
    assert warning["level"] == "warning" and warning["line"] == 1
    assert "bizStep inspecting" in warning["reason"] and "7 events" in warning["reason"]


def test_transformation_id_joins_events(tmp_path: Path) -> None:
    """Inputs and outputs recorded in two events with one transformationID: one row, dated on
    the later event; party from bizLocation; the magnet_scrap output is scrap."""
    import json

    def event(day: str, **lists: list) -> dict:
        return {"type": "TransformationEvent", "eventTime": f"2025-03-{day}T10:00:00.000Z",
                "eventTimeZoneOffset": "+00:00", "transformationID": "urn:uuid:wo-7",
                "bizLocation": {"id": "urn:epc:id:sgln:0614141.00001.0"}, **lists}

    alloy = {"epcClass": "https://id.gs1.org/01/04012345000016/10/L1", "quantity": 100,
             "uom": "KGM"}
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2025-03-20T00:00:00Z", "epcisBody": {"eventList": [
               event("10", inputQuantityList=[alloy]),
               event("11", outputQuantityList=[
                   {"epcClass": "https://id.gs1.org/01/00614141000104", "quantity": 90,
                    "uom": "KGM"},
                   {"epcClass": "https://id.gs1.org/01/00614141000272", "quantity": 9000,
                    "uom": "GRM"}])]}}
    path = tmp_path / "wo.jsonld"
    path.write_text(json.dumps(doc))
    tables = MappingTables.build(
        [("0614141000012", "B")],
        [{"product": p, "unit": "kg", "re_kg_per_unit": 0.3, "gtin": g}
         for p, g in (("alloy", "04012345000016"), ("magnet", "00614141000104"),
                      ("magnet_scrap", "00614141000272"))])
    read = read_epcis([path], tables)
    rows = read.tables["transformations"].to_pylist()
    assert [(r["transformation_id"], r["date"], r["party_id"], r["input_product"],
             r["input_qty"], r["output_product"], r["output_qty"], r["scrap_kg"],
             r["input_ref"]) for r in rows] == [
        ("urn:uuid:wo-7", "2025-03-11", "B", "alloy", "100", "magnet", "90", "9",
         "https://id.gs1.org/01/04012345000016/10/L1")]
    assert read.stats.mapped == 2 and read.rejects == []


def test_duplicates_written_differently_in_another_document_are_found(tmp_path: Path) -> None:
    """The reader hashes only the events that could share an Event Hash ID with another
    (reader._event_key); a copy of an event written differently (another eventID, the time
    in another zone, a compact CBV term, the quantity 5.0 for 5, another member order) has
    the same hash, so it must still be found, in another document of the same read; and an
    error declaration in a third document still withdraws the event it repeats."""
    import json

    events = json.loads(CHAIN.read_text())["epcisBody"]["eventList"]
    first = events[0]
    assert first["eventTime"].endswith("Z") or "+" in first["eventTime"]
    copy_ = dict(reversed(list(first.items())))
    copy_["eventID"] = "urn:uuid:another-id-for-the-same-event"
    stamp = datetime.fromisoformat(first["eventTime"].replace("Z", "+00:00"))
    copy_["eventTime"] = stamp.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    copy_["quantityList"] = [{**q, "quantity": float(q["quantity"])}
                             for q in first.get("quantityList", [])]
    head = '{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],' \
           ' "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": ' \
           '"2025-01-01T00:00:00Z", "epcisBody": {"eventList": '
    a, b = tmp_path / "a.jsonld", tmp_path / "b.jsonld"
    a.write_text(CHAIN.read_text())
    b.write_text(head + json.dumps([copy_]) + "}}")
    from rareflow.epcis.event_hash import hash_events

    assert hash_events(a)[0].hash_id == hash_events(b)[0].hash_id  # the premise
    read = read_epcis([a, b])
    assert read.stats.duplicates == 1
    (dup,) = [r for r in read.rejects if "duplicate event" in r["reason"]]
    assert dup["file"] == str(b) and dup["line"] == 1 and f"position 1 of {a}" in dup["reason"]
    # without the copy, no event is a duplicate and every event is read
    alone = read_epcis([a])
    assert alone.stats.duplicates == 0 and alone.stats.events == len(events)
    # an error declaration in a third document withdraws the event (and itself)
    c = tmp_path / "c.jsonld"
    c.write_text(head + "[" + _declared_first_event(CHAIN.read_text()) + "]}}")
    tables = MappingTables.build([("4012345000023", "A"), ("0614141000029", "B")],
                                 [{"product": "a", "unit": "kg", "gtin": "04012345000016"},
                                  {"product": "d", "unit": "kg", "gtin": "04012345000023"}])
    assert read_epcis([a], tables).stats.rows["flows"] > 0
    withdrawn = read_epcis([a, c], tables)
    assert withdrawn.stats.retracted == 2 and withdrawn.stats.rows["flows"] == 0
