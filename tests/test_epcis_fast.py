"""The JSON fast path of the EPCIS reader (issue 11 item 2) gives exactly what the reference
path gives: the same tables, rejects (with their order and wording), counts and per-file
counts.

The fast path (`reader.FAST_PATH`) reads each JSON document once, maps the events of a known
shape from the parsed object (`reader._facts` -> `mapping.Facts`) without their node tree,
and hashes an event only once another event of the read has its key (reading the first one
again from its file). The reference (`FAST_PATH = False`) counts the keys in a first pass,
builds every event's node tree and hashes every event whose key is not unique.

Compared on every GS1 and OpenEPCIS example document (alone, with and without identifier
mappings, and all together, where the JSON, simple-context and XML copies are duplicates),
the rare-earth chain, and generated documents: missing and malformed fields, CBV terms in
every spelling, quantities with and without uom, EPC lists, several sources, destinations
and bizTransactions, extensions, scoped contexts, error declarations, exact copies and
copies written differently (duplicates) in one document or another, non-ASCII text, a byte
order mark and events across the reader's chunks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TESTDATA
from rareflow.epcis import reader as reader_module
from rareflow.epcis.digital_link import canonical_digital_link
from rareflow.epcis.mapping import MappingTables
from rareflow.epcis.reader import read_epcis

EPCIS = TESTDATA / "epcis"
DOCUMENTS = sorted(p for p in EPCIS.rglob("*")
                   if p.is_file() and p.suffix in (".json", ".jsonld", ".xml")
                   and "schema" not in p.name.lower() and "context" not in p.name.lower())
JSON_DOCUMENTS = [p for p in DOCUMENTS if p.suffix != ".xml"]
CHAIN = EPCIS / "rare-earth-example" / "rare-earth-magnet-chain.jsonld"
EXAMPLES = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _outcome(read) -> tuple:
    return ({t: v.to_pydict() for t, v in read.tables.items()}, read.rejects,
            vars(read.stats), read.per_file)


def _both(monkeypatch: pytest.MonkeyPatch, paths: list[Path], tables=None,
          known=None) -> tuple[tuple, tuple]:
    monkeypatch.setattr(reader_module, "FAST_PATH", True)
    fast = _outcome(read_epcis(paths, tables, known))
    monkeypatch.setattr(reader_module, "FAST_PATH", False)
    reference = _outcome(read_epcis(paths, tables, known))
    monkeypatch.setattr(reader_module, "FAST_PATH", True)
    return fast, reference


def _identifier_tables() -> MappingTables:
    """Every GTIN and GLN the example documents name, mapped (products in kg, in pieces, or
    without a unit)."""
    gtins: set[str] = set()
    glns: set[str] = set()
    pattern = re.compile(r"(urn:epc:[a-z]+:[a-z]+:[0-9A-Za-z.%*_!'()+,;=:-]+"
                         r"|https?://[A-Za-z0-9./%_-]+|\b\d{13}\b)")
    for path in DOCUMENTS:
        for ident in pattern.findall(path.read_text("utf-8", errors="replace")):
            if ident.isdigit():
                glns.add(ident)
                continue
            canon = canonical_digital_link(ident.rstrip(".")) or ""
            if m := re.match(r"https://id\.gs1\.org/01/(\d{14})", canon):
                gtins.add(m.group(1))
            if m := re.match(r"https://id\.gs1\.org/41[47]/(\d{13})", canon):
                glns.add(m.group(1))
    return MappingTables.build(
        [(g, f"P-{g}") for g in sorted(glns)],
        [{"product": f"item-{g}", "unit": ("kg", "unit", "")[int(g) % 3],
          "re_kg_per_unit": 0.01, "gtin": g} for g in sorted(gtins)])


TABLES = _identifier_tables()


def test_the_examples_are_there() -> None:
    assert len(JSON_DOCUMENTS) > 100 and CHAIN in DOCUMENTS


@pytest.mark.parametrize("path", JSON_DOCUMENTS, ids=lambda p: p.relative_to(EPCIS).as_posix())
def test_each_example_document(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    for tables in (None, TABLES):
        fast, reference = _both(monkeypatch, [path], tables)
        assert fast == reference


def test_all_examples_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read together, the same events in several documents are duplicates; with XML in the
    read every event is hashed (both ways)."""
    fast, reference = _both(monkeypatch, JSON_DOCUMENTS, TABLES)
    assert fast == reference
    assert fast[2]["duplicates"] > 50
    fast, reference = _both(monkeypatch, DOCUMENTS, TABLES)
    assert fast == reference


def test_the_chain_twice_and_with_lot_numbers_known(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    copy = tmp_path / "copy.jsonld"
    copy.write_bytes(CHAIN.read_bytes())
    tables = MappingTables.build(
        [("4012345000023", "A"), ("0614141000029", "B"), ("0614141000036", "C")],
        [{"product": "alloy", "unit": "kg", "re_kg_per_unit": 0.3, "gtin": "04012345000016"},
         {"product": "magnet", "unit": "kg", "re_kg_per_unit": 0.3, "gtin": "00614141000104"}])
    fast, reference = _both(monkeypatch, [CHAIN, copy], tables, lambda ids: set(list(ids)[:1]))
    assert fast == reference
    assert fast[2]["duplicates"] == fast[2]["events"] // 2


# ----------------------------------------------------------------------------- generated

PARTIES = ["urn:rareflow:party:A", "urn:rareflow:party:B", "urn:rareflow:site:C",
           "urn:epc:id:pgln:0614141.00001.0", "https://id.gs1.org/417/0614141000029",
           "urn:epc:id:sgln:0614141.00002.0", "0614141000036", "urn:x:unknown",
           " urn:rareflow:party:A ", "rf:party-as-curie", ""]
CLASSES = ["urn:rareflow:class:re_alloy", "urn:rareflow:class:ndfeb_magnet:lot:L-1",
           "urn:rareflow:class:traction_motor:lot:T%201", "urn:rareflow:class:magnet_scrap",
           "urn:epc:class:lgtin:4012345.000001.L7", "urn:epc:idpat:sgtin:4012345.000002.*",
           "https://id.gs1.org/01/04012345000023/10/B%2F2", "https://id.gs1.org/01/09999999999994",
           "urn:epc:id:sgtin:4012345.000001.9", "not a class", "gs1:whatever", ""]
EPCS = ["urn:epc:id:sgtin:4012345.000001.1", "urn:epc:id:sgtin:4012345.000001.2",
        "https://id.gs1.org/01/04012345000023/21/7", "urn:epc:id:sscc:4012345.0000000001",
        " urn:epc:id:sgtin:4012345.000002.5 "]
TIMES = ["2025-03-01T10:00:00.000Z", "2025-03-01T10:00:00Z", "2025-03-01T12:00:00+02:00",
         "2025-03-31T23:30:00.000-05:00", "2025-02-30T10:00:00.000Z", "0999-01-01T00:00:00.000Z",
         "2025-03-01T10:00:00.12345Z", "2025-03-01", "yesterday", " 2025-03-01T10:00:00.000Z "]
OFFSETS = ["+00:00", "+02:00", "-05:00", "+0530", "Z", "", "nonsense"]
STEPS = ["shipping", "receiving", "retail_selling", "stock_taking", "cycle_counting",
         "creating_class_instance", "inspecting", "https://ref.gs1.org/cbv/BizStep-shipping",
         "urn:epcglobal:cbv:bizstep:receiving", "cbv:BizStep-retail_selling", " shipping ",
         "SHIPPING", ""]
KINDS = ["owning_party", "possessing_party", "location", "cbv:SDT-owning_party",
         "urn:epcglobal:cbv:sdt:possessing_party", "https://ref.gs1.org/cbv/SDT-location",
         "other", ""]
# quantities: JSON numbers written as given (``1.50`` stays 1.50), strings and other values
NUMBERS = ["5", "0", "1250.5", "1.50", "2.0", "1e3", "7E-2", "0.000001", "-3",
           "12345678901234567890", "3.141592653589793238"]
QUANTITIES = [*[("number", n) for n in NUMBERS], ("string", "42"), ("string", " 7.25 "),
              ("string", "x"), ("string", ""), ("value", True)]
ODD_QUANTITIES = [("value", None), ("value", {"@value": "3"}), ("value", [1, 2])]
UOMS = ["KGM", "GRM", "TNE", "LBR", "kgm", "H87", "EA", "", "XYZ", None]


def _number(text: str) -> str:
    return f"\u00a7{text}\u00a7"  # written as a bare JSON number (`_dumps`)


def _dumps(value) -> str:
    return re.sub(r'"\u00a7([^"\u00a7]*)\u00a7"', r"\1", json.dumps(value, ensure_ascii=False))


@st.composite
def quantity_elements(draw):
    items = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 12)) == 0:
            items.append(draw(st.sampled_from(["text", 5, None])))
            continue
        q: dict = {}
        if draw(st.integers(0, 8)):
            q["epcClass"] = draw(st.sampled_from(CLASSES))
        if draw(st.integers(0, 8)):
            kind, value = draw(st.sampled_from(
                ODD_QUANTITIES if draw(st.integers(0, 30)) == 0 else QUANTITIES))
            q["quantity"] = _number(value) if kind == "number" else value
        uom = draw(st.sampled_from(UOMS))
        if uom is not None:
            q["uom"] = uom
        if draw(st.integers(0, 10)) == 0:
            q["rf:note"] = "extension in a quantity element"
        if draw(st.integers(0, 40)) == 0:
            q["@context"] = {"x": "urn:x:"}
        items.append(dict(draw(st.permutations(list(q.items())))))
    return items


@st.composite
def sides(draw, entry: str):
    out = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 15)) == 0:
            out.append("not an object")
            continue
        item: dict = {}
        kind = draw(st.sampled_from([*KINDS, None]))
        if draw(st.integers(0, 40)) == 0:
            kind = ["owning_party"]
        if kind is not None:
            item["type"] = kind
        if draw(st.integers(0, 10)):
            item[entry] = draw(st.sampled_from(PARTIES))
        out.append(item)
    return out


@st.composite
def events(draw):
    ev: dict = {}
    if draw(st.integers(0, 15)):
        ev["type"] = draw(st.sampled_from(["ObjectEvent", "AggregationEvent", "TransactionEvent",
                                           "TransformationEvent", "AssociationEvent",
                                           "rf:CustomEvent"]))
    if draw(st.integers(0, 8)):
        ev["eventID"] = draw(st.sampled_from(["urn:uuid:1", "urn:uuid:2",
                                              "urn:rareflow:flow:F%2F1", "ni:///x",
                                              "urn:rareflow:transformation:T-1"]))
    if draw(st.integers(0, 12)):
        ev["eventTime"] = draw(st.sampled_from(TIMES))
        if draw(st.integers(0, 40)) == 0:
            ev["eventTime"] = _number("20250301")
    if draw(st.booleans()):
        ev["eventTimeZoneOffset"] = draw(st.sampled_from(OFFSETS))
    if draw(st.integers(0, 3)):
        ev["action"] = draw(st.sampled_from(["ADD", "OBSERVE", "DELETE", "delete", ""]))
    if draw(st.integers(0, 8)):
        ev["bizStep"] = draw(st.sampled_from(STEPS))
        if draw(st.integers(0, 60)) == 0:
            ev["bizStep"] = ["shipping"]
    if draw(st.booleans()):
        ev["disposition"] = draw(st.sampled_from(["in_transit", "active", "cbv:Disp-active"]))
    lists = draw(st.sets(st.sampled_from(["quantityList", "childQuantityList",
                                          "inputQuantityList", "outputQuantityList"])))
    for name in sorted(lists):
        ev[name] = draw(quantity_elements())
    if draw(st.integers(0, 40)) == 0:
        ev["quantityList"] = {"epcClass": CLASSES[0], "quantity": 1, "uom": "KGM"}
    for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        if draw(st.integers(0, 5)) == 0:
            ev[name] = draw(st.lists(st.sampled_from(EPCS), max_size=3))
    for name in ("readPoint", "bizLocation"):
        shape = draw(st.integers(0, 40))
        if shape < 6:
            ev[name] = {"id": draw(st.sampled_from(PARTIES))}
        elif shape == 6:
            ev[name] = draw(st.sampled_from(PARTIES))
        elif shape == 7:
            ev[name] = {"id": draw(st.sampled_from(PARTIES)), "rf:extra": "x"}
        elif shape == 8:
            ev[name] = {}
        elif shape == 9:
            ev[name] = {"id": None}
        elif shape == 10:
            ev[name] = {"id": ["a", "b"]}
        elif shape == 11:
            ev[name] = {"id": PARTIES[0], "@context": {"x": "urn:x:"}}
        elif shape < 30:
            ev[name] = {"id": draw(st.sampled_from(PARTIES))}
    for name, entry in (("sourceList", "source"), ("destinationList", "destination")):
        if draw(st.integers(0, 4)):
            ev[name] = draw(sides(entry))
    if draw(st.booleans()):
        ev["bizTransactionList"] = [{"type": t, "bizTransaction": f"urn:x:po:{i}"}
                                    for i, t in enumerate(draw(st.lists(
                                        st.sampled_from(["po", "inv", "desadv"]),
                                        max_size=3)))]
    if draw(st.integers(0, 3)) == 0:
        ev["transformationID"] = draw(st.sampled_from(
            ["urn:rareflow:transformation:T-1", "urn:uuid:t2", " urn:uuid:t2 "]))
    for name in ("rf:toCountry", "rf:use", "rf:reKg", "urn:rareflow:epcis:netKg", "rf:units",
                 "rf:record"):
        if draw(st.integers(0, 5)) == 0:
            ev[name] = draw(st.sampled_from(["IN", " DE ", "", _number("12.50"), 3, None,
                                             "gs1:x"]))
            if draw(st.integers(0, 30)) == 0:
                ev[name] = draw(st.sampled_from([["IN", "KR"], {"@value": "US"}]))
    if draw(st.integers(0, 10)) == 0:
        ev["ilmd"] = {"rf:lot": "L-1", "cbvmda:lotNumber": "L-1"}
    if draw(st.integers(0, 10)) == 0:
        ev["sensorElementList"] = [{"sensorReport": [{"type": "Temperature", "value": 20}]}]
    if draw(st.integers(0, 25)) == 0:
        ev["errorDeclaration"] = {"declarationTime": "2025-04-01T00:00:00Z",
                                  "reason": "incorrect_data"}
    if draw(st.integers(0, 40)) == 0:
        ev["@context"] = [{"ex": "https://example.org/"}]
    if draw(st.integers(0, 15)) == 0:
        ev["comment"] = "Ünïcödé text ✓"
    return ev


GOOD_PARTIES = ["urn:rareflow:party:A", "urn:rareflow:party:B", "urn:rareflow:site:C",
                "urn:epc:id:pgln:0614141.00001.0", "0614141000029",
                "urn:epc:id:sgln:0614141.00002.0"]
GOOD_MASS = ["urn:rareflow:class:re_alloy", "urn:rareflow:class:ndfeb_magnet:lot:L-1",
             "urn:rareflow:class:ndfeb_magnet:lot:F-2", "urn:rareflow:class:magnet_scrap",
             "https://id.gs1.org/01/04012345000016/10/L7", "https://id.gs1.org/01/04012345000016"]
GOOD_PIECES = ["urn:rareflow:class:traction_motor:lot:T-1",
               "https://id.gs1.org/01/04012345000023/10/B2"]
GOOD_NUMBERS = ["5", "12.5", "1.50", "7", "1e3", "0.25", "300"]


@st.composite
def good_quantities(draw, low: int = 1):
    out = []
    for _ in range(draw(st.integers(low, 3))):
        if draw(st.booleans()):
            q = {"epcClass": draw(st.sampled_from(GOOD_MASS)),
                 "quantity": _number(draw(st.sampled_from(GOOD_NUMBERS))),
                 "uom": draw(st.sampled_from(["KGM", "KGM", "GRM", "TNE"]))}
        else:
            q = {"epcClass": draw(st.sampled_from(GOOD_PIECES)),
                 "quantity": draw(st.sampled_from([_number("4"), 10, "2"]))}
            if draw(st.booleans()):
                q["uom"] = "H87"
        out.append(q)
    return out


@st.composite
def good_events(draw):
    """Events that map (mostly): the shapes of `rareflow epcis export` and of other
    writers."""
    kind = draw(st.sampled_from(["shipping", "receiving", "retail_selling", "stock_taking",
                                 "transformation"]))
    n = draw(st.integers(0, 6))
    ev: dict = {"type": "TransformationEvent" if kind == "transformation" else
                draw(st.sampled_from(["ObjectEvent", "ObjectEvent", "TransactionEvent",
                                      "AggregationEvent"])),
                "eventID": draw(st.sampled_from([f"urn:rareflow:flow:F-{n}", f"urn:uuid:{n}"])),
                "eventTime": draw(st.sampled_from(TIMES[:4])),
                "eventTimeZoneOffset": draw(st.sampled_from(OFFSETS[:3]))}
    if kind == "transformation":
        ev["inputQuantityList"] = draw(good_quantities())
        ev["outputQuantityList"] = draw(good_quantities())
        ev["transformationID"] = f"urn:rareflow:transformation:T-{draw(st.integers(0, 3))}"
        ev["bizStep"] = "creating_class_instance"
        ev["bizLocation"] = {"id": draw(st.sampled_from(GOOD_PARTIES))}
    else:
        ev["action"] = "OBSERVE"
        ev["bizStep"] = draw(st.sampled_from([kind, f"https://ref.gs1.org/cbv/BizStep-{kind}"]))
        name = "childQuantityList" if ev["type"] == "AggregationEvent" else "quantityList"
        ev[name] = draw(good_quantities())
        if kind == "stock_taking":
            ev["bizLocation"] = {"id": draw(st.sampled_from(GOOD_PARTIES))}
        else:
            ev["sourceList"] = [{"type": draw(st.sampled_from(KINDS[:3])),
                                 "source": draw(st.sampled_from(GOOD_PARTIES))}]
            ev["destinationList"] = [{"type": draw(st.sampled_from(KINDS[:3])),
                                      "destination": draw(st.sampled_from(GOOD_PARTIES))}
                                     for _ in range(draw(st.integers(1, 2)))]
        if draw(st.integers(0, 3)) == 0:
            ev.pop("sourceList", None)
        for name in ("rf:toCountry", "rf:use", "rf:reKg", "rf:netKg", "rf:units",
                     "urn:rareflow:epcis:toCountry"):
            if draw(st.integers(0, 3)) == 0:
                ev[name] = draw(st.sampled_from(["IN", "ev_motor", _number("1.50"), 3, " KR "]))
    for name in ("readPoint", "bizLocation"):
        if draw(st.integers(0, 2)) == 0:
            ev[name] = {"id": draw(st.sampled_from([*GOOD_PARTIES, "urn:x:unknown"]))}
    return dict(draw(st.permutations(list(ev.items()))))


@st.composite
def reads(draw):
    """Documents (as text) of generated events, with copies of earlier events: exact,
    with keys reordered and another eventID, and later in another document."""
    made: list[dict] = []
    docs: list[list[str]] = []
    for _ in range(draw(st.integers(1, 3))):
        texts = []
        for _ in range(draw(st.integers(0, 12))):
            if made and draw(st.integers(0, 4)) == 0:
                ev = dict(draw(st.sampled_from(made)))
                if draw(st.booleans()):
                    ev = dict(reversed(list(ev.items())))
                if draw(st.booleans()):
                    ev["eventID"] = f"urn:uuid:copy-{len(made)}"
                if draw(st.integers(0, 6)) == 0:
                    ev["errorDeclaration"] = {"reason": "did_not_occur"}
                elif draw(st.integers(0, 2)) == 0:  # the event a declaration withdraws
                    ev.pop("errorDeclaration", None)
            else:
                ev = draw(st.one_of(events(), good_events(), good_events()))
            made.append(ev)
            texts.append(_dumps(ev))
        if draw(st.integers(0, 15)) == 0:
            texts.append(_dumps("not an object"))
        docs.append(texts)
    context = draw(st.sampled_from([
        ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
         {"rf": "urn:rareflow:epcis:"}],
        ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
         {"rf": "urn:rareflow:epcis:", "urn": "urn:other:"}],
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]))
    bom = draw(st.booleans())
    head = draw(st.sampled_from(["Ärger ✓ " * 3, "plain"]))
    return docs, context, bom, head


@EXAMPLES
@given(reads(), st.sampled_from([37, 4096, 1 << 20]))
def test_generated_documents(tmp_path_factory: pytest.TempPathFactory, read, chunk: int) -> None:
    docs, context, bom, head = read
    folder = tmp_path_factory.mktemp("epcis-fast")
    paths = []
    for i, texts in enumerate(docs):
        text = ('{"@context": ' + json.dumps(context) + ', "type": "EPCISDocument", '
                '"schemaVersion": "2.0", "creationDate": "2025-01-01T00:00:00Z", '
                '"epcisHeader": {"note": ' + json.dumps(head, ensure_ascii=False) + '}, '
                '"epcisBody": {"eventList": [\n  ' + ",\n  ".join(texts) + "\n]}}")
        path = folder / f"d{i}.jsonld"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
        paths.append(path)
    tables = MappingTables.build(
        [("urn:epc:id:pgln:0614141.00001.0", "P1"), ("0614141000029", "P2"),
         ("urn:epc:id:sgln:0614141.00002.0", "P3"), ("rf:party-as-curie", "P4")],
        [{"product": "re_alloy", "unit": "kg", "re_kg_per_unit": 0.3},
         {"product": "ndfeb_magnet", "unit": "kg", "re_kg_per_unit": 0.3},
         {"product": "traction_motor", "unit": "unit", "re_kg_per_unit": 1.2},
         {"product": "magnet_scrap", "unit": "kg", "re_kg_per_unit": 0.25},
         {"product": "item-1", "unit": "kg", "re_kg_per_unit": 0.1, "gtin": "04012345000016"},
         {"product": "item-2", "unit": "unit", "re_kg_per_unit": 0.1,
          "gtin": "04012345000023"}])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader_module, "CHUNK", chunk)
        fast, reference = _both(mp, paths, tables, lambda ids: {i for i in ids if "1" in i})
    assert fast == reference


def test_a_copy_far_behind_its_first_in_non_ascii_text(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """The first event of a key is read again from its file when a copy comes: from a byte
    offset in ASCII text, by characters after non-ASCII text, past a byte order mark."""
    chain = json.loads(CHAIN.read_text("utf-8"))
    events = chain["epcisBody"]["eventList"]
    for i, ev in enumerate(events):
        ev["comment"] = "Ünïcödé ✓ " * 50
        ev["eventID"] = f"urn:uuid:first-{i}"  # read without its hash until its copy comes
    copies = [dict(ev, eventID=f"urn:uuid:copy-{i}") for i, ev in enumerate(events)]
    chain["epcisBody"]["eventList"] = events + copies
    path = tmp_path / "chain.jsonld"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(chain, ensure_ascii=False).encode("utf-8"))
    monkeypatch.setattr(reader_module, "CHUNK", 512)
    reread = []
    original = reader_module._reread
    monkeypatch.setattr(reader_module, "_reread",
                        lambda p, where: reread.append(where) or original(p, where))
    fast, reference = _both(monkeypatch, [path])
    assert fast == reference
    assert fast[2]["duplicates"] == len(events)
    assert len(reread) == len(events) and all(len(where) == 3 for where in reread)
    # and from a byte offset in ASCII text
    path.write_text(json.dumps(chain), "utf-8")
    reread.clear()
    fast, reference = _both(monkeypatch, [path])
    assert fast == reference and fast[2]["duplicates"] == len(events)
    assert len(reread) == len(events) and all(len(where) == 2 for where in reread)


def test_a_declaration_read_before_the_event_it_withdraws(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """The declaration is read without its hash (its key is new), then hashed when the event
    it withdraws comes, in another document: both are set aside."""
    chain = json.loads(CHAIN.read_text("utf-8"))
    events = chain["epcisBody"]["eventList"]
    declared = [dict(ev, eventID=f"urn:uuid:declaration-{i}",
                     errorDeclaration={"declarationTime": "2025-06-01T00:00:00Z",
                                       "reason": "incorrect_data"})
                for i, ev in enumerate(events)]
    withdrawn = [dict(ev, eventID=f"urn:uuid:event-{i}") for i, ev in enumerate(events)]
    first, second = tmp_path / "declarations.jsonld", tmp_path / "events.jsonld"
    chain["epcisBody"]["eventList"] = declared
    first.write_text(json.dumps(chain), "utf-8")
    chain["epcisBody"]["eventList"] = withdrawn
    second.write_text(json.dumps(chain), "utf-8")
    tables = MappingTables.build([("4012345000023", "A"), ("0614141000029", "B")],
                                 [{"product": "a", "unit": "kg", "gtin": "04012345000016"},
                                  {"product": "d", "unit": "kg", "gtin": "04012345000023"}])
    fast, reference = _both(monkeypatch, [first, second], tables)
    assert fast == reference
    assert fast[2]["retracted"] > len(events)  # the declarations and what they withdraw


def test_bare_events_and_lists_of_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A document that is one bare event, or a JSON list of events, and copies of them in
    other documents."""
    events = json.loads(CHAIN.read_text("utf-8"))["epcisBody"]["eventList"]
    paths = []
    for i, ev in enumerate(events):
        bare = tmp_path / f"bare-{i}.json"
        bare.write_text(json.dumps(dict(ev, eventID=f"urn:uuid:bare-{i}")), "utf-8")
        paths.append(bare)
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([dict(ev, eventID=f"urn:uuid:listed-{i}")
                                  for i, ev in enumerate(events)]), "utf-8")
    copies = tmp_path / "copies.json"
    copies.write_text(json.dumps([dict(ev, eventID=f"urn:uuid:copy-{i}")
                                  for i, ev in enumerate(events)]), "utf-8")
    for read in (paths + [copies], [listed, copies], [listed, *paths]):
        fast, reference = _both(monkeypatch, read)
        assert fast == reference
        assert fast[2]["duplicates"] == len(events)
