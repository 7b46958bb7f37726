"""CBV 2.0 EPCIS Event Hash ID against the reference vectors (RalphTro/epcis-event-hash-generator
@5d2f1c3), the documented choices (docs/epcis-event-hash.md), and `rareflow epcis hash`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rareflow.cli.main import app
from rareflow.epcis.digital_link import canonical_digital_link, gs1_check_digit
from rareflow.epcis.event_hash import (
    EventHashError,
    canonical_number,
    canonical_timestamp,
    event_hash_id,
    hash_events,
)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "epcis"
VECTORS = TESTDATA / "event-hash-vectors" / "tests"
EXAMPLES = VECTORS / "examples"
SOURCES = sorted([*EXAMPLES.glob("*.jsonld"), *EXAMPLES.glob("*.xml")])
EXPECTED_EQUAL = sorted((VECTORS / "expected_equal").iterdir())
IGNORE_FIELDS = [p for p in SOURCES if "IgnoreFields" in p.name]
RARE_EARTH = TESTDATA / "rare-earth-example" / "rare-earth-magnet-chain"

runner = CliRunner()


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def _sha(prehash: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(prehash.encode()).hexdigest()}?ver=CBV2.0"


def test_vector_inventory() -> None:
    # MANIFEST: 28 sets, 39 source documents (22 JSON-LD + 17 XML), 11 expected_equal files.
    assert len(SOURCES) == 39
    assert len([p for p in SOURCES if p.suffix == ".jsonld"]) == 22
    assert len(EXPECTED_EQUAL) == 11
    assert sum(len(_lines(p)) for p in EXAMPLES.glob("*.hashes")) == 63


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_reference_vectors_reproduced(source: Path) -> None:
    """Reference mode (ignoreFields honoured, as the reference implementation does):
    every expected hash of every source document, JSON and XML."""
    expected = _lines(source.with_suffix(".hashes"))
    got = hash_events(source, honour_ignore_fields=True)
    assert [e.hash_id for e in got] == expected


@pytest.mark.parametrize("source", [p for p in SOURCES if p not in IGNORE_FIELDS],
                         ids=lambda p: p.name)
def test_default_mode_equals_reference_outside_ignore_fields(source: Path) -> None:
    expected = _lines(source.with_suffix(".hashes"))
    assert [e.hash_id for e in hash_events(source)] == expected


def test_vector_count() -> None:
    """The counts reported for this change."""
    total = matched_reference = matched_default = 0
    for source in SOURCES:
        expected = _lines(source.with_suffix(".hashes"))
        total += len(expected)
        ref = [e.hash_id for e in hash_events(source, honour_ignore_fields=True)]
        std = [e.hash_id for e in hash_events(source)]
        matched_reference += sum(a == b for a, b in zip(ref, expected, strict=True))
        matched_default += sum(a == b for a, b in zip(std, expected, strict=True))
    assert (total, matched_reference, matched_default) == (89, 89, 83)


@pytest.mark.parametrize("source", IGNORE_FIELDS, ids=lambda p: p.name)
def test_choice_ignore_fields_is_not_standard(source: Path) -> None:
    """Choice 1: by default a document-level `ignoreFields` list does not change an event's
    hash (CBV 2.0 has no such rule, and the hash must depend on the event alone). Events
    that carry a listed field therefore differ from the reference vectors; the others match."""
    expected = _lines(source.with_suffix(".hashes"))
    standard = hash_events(source)
    reference = hash_events(source, honour_ignore_fields=True)
    for std, ref, exp in zip(standard, reference, expected, strict=True):
        assert ref.hash_id == exp
        carries_ignored = std.prehash != ref.prehash
        assert (std.hash_id != exp) == carries_ignored
        if carries_ignored:  # the only difference: the extension fields that were dropped
            assert std.prehash.split("{")[0] == ref.prehash.split("{")[0]
            assert len(std.prehash) > len(ref.prehash)
    # The JSON document's first event carries both listed fields, its second none.
    if source.name == "epcisDocHavingEventWithIgnoreFields.jsonld":
        assert [s.hash_id == e for s, e in zip(standard, expected, strict=True)] == [False, True]


def test_prehash_strings_match_where_the_vector_is_consistent() -> None:
    """.prehashes lines whose SHA-256 is the expected hash must be reproduced byte for byte;
    three lines in the shared data are not the pre-hash of their own .hashes line (corrupt
    copies) and are reported, not used."""
    checked, inconsistent = 0, []
    for source in SOURCES:
        pre_file = source.with_suffix(".prehashes")
        if not pre_file.exists():
            continue
        expected = _lines(source.with_suffix(".hashes"))
        got = hash_events(source, honour_ignore_fields=True)
        for i, (pre, hashed) in enumerate(zip(_lines(pre_file), expected, strict=True)):
            if _sha(pre) != hashed:
                inconsistent.append((pre_file.name, i))
                continue
            assert got[i].prehash == pre, (source.name, i)
            checked += 1
    assert checked == 85
    assert sorted(set(inconsistent)) == [("epcisDocWithAllGS1Keys.prehashes", 0),
                                         ("epcisDocWithCustomSchemaInContext.prehashes", 1),
                                         ("epcisDocWithDefaultSchemaInContext.prehashes", 1)]


@pytest.mark.parametrize("path", EXPECTED_EQUAL, ids=lambda p: p.name)
def test_expected_equal_serialisations(path: Path) -> None:
    """Different serialisations of one event (time zones, precision, order, empty lists,
    JSON vs XML) hash identically."""
    hashes = {e.hash_id for e in hash_events(path)}
    assert len(hashes) == 1


def test_json_and_xml_of_the_same_events_agree() -> None:
    pairs = [p for p in SOURCES if p.suffix == ".xml" and p.with_suffix(".jsonld").exists()]
    assert len(pairs) == 11
    for xml in pairs:
        assert [e.hash_id for e in hash_events(xml)] == \
               [e.hash_id for e in hash_events(xml.with_suffix(".jsonld"))], xml.name
    same = hash_events(VECTORS / "expected_equal" / "ReferenceEventHashAlgorithm.json")
    assert same[0].hash_id == _lines(EXAMPLES / "ReferenceEventHashAlgorithm.hashes")[0]


# ----------------------------------------------------------------------------- choices


def _doc(event: dict, context: list | None = None) -> bytes:
    return json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     *(context or [])],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": [event]},
    }).encode()


BASE = {"type": "ObjectEvent", "eventTime": "2024-05-01T10:00:00+02:00",
        "eventTimeZoneOffset": "+02:00", "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
        "action": "ADD", "bizStep": "commissioning"}
BASE_PRE = ("eventType=ObjectEventeventTime=2024-05-01T08:00:00.000ZeventTimeZoneOffset=+02:00"
            "epcListepc=https://id.gs1.org/01/04012345111118/21/9876action=ADD"
            "bizStep=https://ref.gs1.org/cbv/BizStep-commissioning")


def _pre(event: dict, context: list | None = None) -> str:
    (only,) = hash_events(_doc(event, context))
    return only.prehash


def test_choice_lists_with_a_type_sort_with_the_extensions() -> None:
    """Choice 2: bizTransactionList, sourceList and destinationList come after
    sensorElementList, sorted together with ilmd and the user extensions, each entry as
    type=...name=... (the reference implementation's order; CBV 2.0's table puts them before
    sensorElementList)."""
    event = {**BASE, "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:"
                                             "4012345.11111.123"}],
             "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
             "ilmd": {"example:lot": "L1"}, "example:note": "x",
             "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 20.50,
                                                      "uom": "CEL"}]}]}
    assert _pre(event, [{"example": "https://ns.example.com/epcis/"}]) == (
        BASE_PRE + "sensorElementListsensorElementsensorReporttype=https://gs1.org/voc/"
        "Temperaturevalue=20.5uom=CEL"
        "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction="
        "https://id.gs1.org/253/4012345111118123"
        "ilmd{https://ns.example.com/epcis/}lot=L1"
        "sourceListtype=https://ref.gs1.org/cbv/SDT-owning_partysource="
        "https://id.gs1.org/417/4012345000009"
        "{https://ns.example.com/epcis/}note=x")


def test_choice_numbers_are_doubles() -> None:
    """Choice 3: numeric-looking values are read as IEEE doubles, as the reference does (the
    SensorDataExamples vector hashes stringValue 111100001111000011110000 this way)."""
    assert canonical_number("452.0") == "452"
    assert canonical_number("0.050") == "0.05"
    assert canonical_number("+7") == "7"
    assert canonical_number("111100001111000011110000") == "111100001111000003641344"
    assert canonical_number("1e-7") == "1e-07"
    assert canonical_number("1_000") is None and canonical_number("nan") is None
    assert canonical_number("12abc") is None
    pre = _lines(EXAMPLES / "SensorDataExamples.prehashes")
    assert any("stringValue=111100001111000003641344" in line for line in pre)


def test_choice_cbvmda_is_the_xml_namespace() -> None:
    """Choice 4: an undeclared cbvmda: prefix means urn:epcglobal:cbv:mda (the CBV master-data
    XML namespace), so JSON and XML agree; the reference leaves such a key unexpanded."""
    json_pre = _pre({**BASE, "ilmd": {"cbvmda:countryOfOrigin": "DE"}})
    assert json_pre == BASE_PRE + "ilmd{urn:epcglobal:cbv:mda}countryOfOrigin=DE"
    xml = b"""<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"
      xmlns:cbvmda="urn:epcglobal:cbv:mda" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
      <EPCISBody><EventList><ObjectEvent>
        <eventTime>2024-05-01T08:00:00Z</eventTime><eventTimeZoneOffset>+02:00</eventTimeZoneOffset>
        <epcList><epc>https://id.gs1.org/01/04012345111118/21/9876</epc></epcList>
        <action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
        <extension><ilmd><cbvmda:countryOfOrigin>DE</cbvmda:countryOfOrigin></ilmd></extension>
      </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"""
    assert hash_events(xml)[0].prehash == json_pre
    # The rare-earth fixture: reference output, except for exactly this key.
    ours = hash_events(RARE_EARTH.with_suffix(".jsonld"))
    reference = _lines(RARE_EARTH.with_suffix(".prehashes"))
    assert [o.hash_id for o in ours][0::2] == _lines(RARE_EARTH.with_suffix(".hashes"))[0::2]
    assert ours[1].prehash.replace("{urn:epcglobal:cbv:mda}countryOfOrigin=DE", "") == \
        reference[1].replace("cbvmda:countryOfOrigin=DE", "")


def test_choice_excluded_fields_and_comments() -> None:
    """eventID, recordTime, errorDeclaration and JSON-LD comments take no part."""
    noisy = {**BASE, "eventID": "urn:uuid:0e6d0b3c-1111-4a7e-9b0c-000000000001",
             "recordTime": "2024-05-02T00:00:00Z", "rdfs:comment": "hello",
             "errorDeclaration": {"declarationTime": "2024-05-03T00:00:00Z",
                                  "reason": "incorrect_data"}}
    assert _pre(noisy) == BASE_PRE


def test_choice_curies() -> None:
    """gs1:/cbv: values expand everywhere (gs1 = https://gs1.org/voc/, the EPCIS 2.0 context);
    other declared prefixes expand only in fields whose JSON-LD type is an IRI."""
    ctx = [{"example": "https://ns.example.com/epcis/"}]
    assert _pre({**BASE, "bizStep": "example:blending"}, ctx) == BASE_PRE.replace(
        "https://ref.gs1.org/cbv/BizStep-commissioning", "https://ns.example.com/epcis/blending")
    assert _pre({**BASE, "example:code": "example:x"}, ctx) == \
        BASE_PRE + "{https://ns.example.com/epcis/}code=example:x"
    assert _pre({**BASE, "example:unit": "gs1:Temperature"}, ctx) == \
        BASE_PRE + "{https://ns.example.com/epcis/}unit=https://gs1.org/voc/Temperature"


def test_choice_json_extension_arrays_repeat_the_element() -> None:
    ctx = [{"example": "https://ns.example.com/epcis/"}]
    assert _pre({**BASE, "example:tagList": ["b", "a"], "example:flag": True}, ctx) == (
        BASE_PRE + "{https://ns.example.com/epcis/}flag=true"
        "{https://ns.example.com/epcis/}tagList=a{https://ns.example.com/epcis/}tagList=b")


def test_choice_xml_annotations_and_nested_contexts() -> None:
    xml = b"""<ObjectEvent xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xmlns:example="https://ns.example.com/epcis/" schemaVersion="2.0"
        creationDate="2024-01-01T00:00:00Z">
      <eventTime>2024-05-01T08:00:00Z</eventTime><eventTimeZoneOffset>+02:00</eventTimeZoneOffset>
      <epcList><epc>urn:epc:id:sgtin:4012345.011111.9876</epc></epcList>
      <action>ADD</action><bizStep>https://ref.gs1.org/cbv/BizStep-commissioning</bizStep>
      <example:count xsi:type="xsd:integer">4</example:count>
    </ObjectEvent>"""
    expected = BASE_PRE + "{https://ns.example.com/epcis/}count=4"
    assert hash_events(xml)[0].prehash == expected
    scoped = {**BASE, "@context": [{"example": "https://ns.example.com/epcis/"}],
              "example:count": 4}
    assert _pre(scoped) == expected


# ----------------------------------------------------------------------------- canonical forms


def test_timestamps() -> None:
    assert canonical_timestamp("2023-02-02T11:04:03.1415Z") == "2023-02-02T11:04:03.142Z"
    assert canonical_timestamp("2023-02-02T11:04:03.1414Z") == "2023-02-02T11:04:03.141Z"
    assert canonical_timestamp("2019-12-31T23:59:59.9996+00:00") == "2020-01-01T00:00:00.000Z"
    assert canonical_timestamp("2005-04-03T20:33:31.116000-06:00") == "2005-04-04T02:33:31.116Z"
    assert canonical_timestamp("2020-01-14T00:00:00+01:00") == "2020-01-13T23:00:00.000Z"
    assert canonical_timestamp("2024-05-01T10:00:00") == "2024-05-01T10:00:00.000Z"  # no offset
    assert canonical_timestamp("P3Y") == "P3Y"


def test_digital_links() -> None:
    assert gs1_check_digit("401234511111") == "8"
    cases = {
        "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()":
            "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29",
        "urn:epc:id:sscc:4012345.3111111111": "https://id.gs1.org/00/340123451111111111",
        "urn:epc:id:sgln:4012345.00005.0": "https://id.gs1.org/414/4012345000054",
        "urn:epc:id:sgln:4012345.00005.122": "https://id.gs1.org/414/4012345000054/254/122",
        "urn:epc:class:lgtin:4012345.012345.Lot987":
            "https://id.gs1.org/01/04012345123456/10/Lot987",
        "urn:epc:idpat:sgtin:4012345.044444.*": "https://id.gs1.org/01/04012345444445",
        "https://example.com/gtin/09780345418913/21/765tz?abc=211121":
            "https://id.gs1.org/01/09780345418913/21/765tz",
        "https://id.gs1.de/01/4012345999990/10/L1/21/S1":
            "https://id.gs1.org/01/04012345999990/21/S1",
    }
    for value, expected in cases.items():
        assert canonical_digital_link(value) == expected, value
    for other in ("urn:epc:id:sgtin:4012345.011111", "https://example.com/page",
                  "urn:epcglobal:cbv:bt:4012345000009:ASN1099", "geo:50.9,6.9"):
        assert canonical_digital_link(other) is None, other


def test_other_algorithms() -> None:
    assert event_hash_id("abc", "sha-384").startswith("ni:///sha-384;cb00753f")
    assert event_hash_id("abc").endswith("?ver=CBV2.0")
    with pytest.raises(EventHashError, match="unknown hash algorithm"):
        event_hash_id("abc", "md5")


def test_not_an_epcis_document() -> None:
    with pytest.raises(EventHashError, match="no epcisBody"):
        hash_events(b'{"type": "EPCISDocument"}')
    with pytest.raises(EventHashError, match="no EventList"):
        hash_events(b"<a/>")
    with pytest.raises(EventHashError, match="neither JSON nor XML"):
        hash_events(b"hello")


# ----------------------------------------------------------------------------- CLI


def test_cli_hash_prints_position_hash_and_event_id() -> None:
    source = EXAMPLES / "epcisQueryDocument.jsonld"
    res = runner.invoke(app, ["epcis", "hash", str(source)])
    assert res.exit_code == 0, res.output
    rows = [line.split("\t") for line in res.output.splitlines()]
    assert [r[0] for r in rows] == ["1", "2"]
    assert [r[1] for r in rows] == _lines(source.with_suffix(".hashes"))
    assert rows[0][2] == "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3c" \
                         "cb30ba69?ver=CBV2.0"  # the document's own (placeholder) eventID


def test_cli_hash_options() -> None:
    source = EXAMPLES / "epcisXmlDocHavingEventWithIgnoreFields.xml"
    expected = _lines(source.with_suffix(".hashes"))
    plain = runner.invoke(app, ["epcis", "hash", str(source)])
    honoured = runner.invoke(app, ["epcis", "hash", "--honour-ignore-fields", "--prehash",
                                   str(source)])
    assert plain.exit_code == honoured.exit_code == 0
    assert [line.split("\t")[1] for line in honoured.output.splitlines()] == expected
    assert [line.split("\t")[1] for line in plain.output.splitlines()] != expected
    assert honoured.output.splitlines()[0].split("\t")[3].startswith("eventType=ObjectEvent")
    assert runner.invoke(app, ["epcis", "hash", "--algorithm", "md5", str(source)]).exit_code \
        == 2


def test_cli_hash_errors_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    res = runner.invoke(app, ["epcis", "hash", str(missing)])
    assert res.exit_code == 2
    assert f"cannot read {missing}" in res.output
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    res = runner.invoke(app, ["epcis", "hash", str(text)])
    assert res.exit_code == 2
    assert "neither JSON nor XML" in res.output


@pytest.mark.parametrize(("text", "reason"), [
    ('{"epcisBody": {"eventList": 5}}', "epcisBody.eventList is not a JSON array"),
    ('{"epcisBody": {"eventList": [{"type": "ObjectEvent"}, 7]}}',
     "an entry of eventList is not a JSON object (event 2)"),
    ('{"epcisBody": {"queryResults": {"resultsBody": 5}}}',
     "epcisBody.queryResults.resultsBody is not a JSON object"),
    ('{"epcisBody": {"eventList": [\n{"type": "ObjectEvent",}]}}', "line 2 column"),
])
def test_cli_hash_names_what_is_wrong_in_one_line(tmp_path: Path, text: str,
                                                   reason: str) -> None:
    """A malformed document: one `error:` line naming the file and the field, event or line,
    exit status 2 (these crashed with an internal error, 70, before)."""
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    res = runner.invoke(app, ["epcis", "hash", str(bad)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"error: cannot read {bad}: ") and reason in line, line
    assert res.stdout == ""
