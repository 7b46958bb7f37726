"""EPCIS 2.0 validation against the GS1 schemas, on every GS1 example and every OpenEPCIS test
document; plus `rareflow epcis validate` through the real CLI.

Examples that the normative schemas reject although their folder presents them as valid are
listed in KNOWN_NONCONFORMING with the reason (docs/commands/epcis.md, "Examples that do not
conform"): each must be rejected, and only for the documented reason.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rareflow.cli.main import app
from rareflow.epcis.validate import (
    ENV_VAR,
    Problem,
    SchemaSet,
    SchemasNotFound,
    load_schemas,
    validate_document,
)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "epcis"
GS1 = TESTDATA / "gs1-epcis"
OPEN = TESTDATA / "openepcis-test-resources" / "core" / "src" / "main" / "resources"
SCHEMA_DIRS = (TESTDATA / "gs1-normative-2.0.1", GS1 / "XSD")

runner = CliRunner()


def _rel(path: Path) -> str:
    return path.relative_to(TESTDATA).as_posix()


def _files(root: Path, *patterns: str) -> list[Path]:
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


# Every GS1 example document: JSON-LD (full and "simple" context), XML, the JSON file in the
# XML folder, and the example events the modular JSON schema was tested with.
GS1_EXAMPLES = _files(GS1, "JSON/**/*.jsonld", "JSON-simple-context/**/*.jsonld", "XML/**/*.xml",
                      "XML/**/*.json", "JSON-Schema/test/*.json")
OPEN_ALL = _files(OPEN, "**/*.json", "**/*.xml")
OPEN_INVALID = [p for p in OPEN_ALL if "Invalid" in p.parts]
OPEN_VALID = [p for p in OPEN_ALL if "Invalid" not in p.parts]

_CBV1_URN = r"is not allowed here; expected a URI that is not a CBV 1\.x URN"
_UNQUALIFIED_QUERY_RESULTS = r"QueryResults must be namespace-qualified \(epcisq:QueryResults\)"
_NO_NS_PREFIX = r"have no namespace prefix"

# glob (relative to TESTDATA) -> (why, regexes; every problem must match one of them,
# must_fail). must_fail=False: the rule covers a folder in which some files do conform.
KNOWN_NONCONFORMING: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "gs1-epcis/JSON-simple-context/**/*.jsonld": (
        "unmaintained 'simple context' drafts of the JSON examples: blank-node document ids "
        "(_:document1, not a URI; gs1/EPCIS issue #163), events with 'id' instead of eventID, "
        "'type' inside sensorElement, sourceList/destinationList as an object, schemaVersion "
        "as a number or missing header fields, ILMD on an OBSERVE event",
        (r"^\$\.id: '_:document1' is not an absolute URI",
         r"^\$\.epcisBody\.eventList\[\d+\](\.sensorElementList\[\d+\])?: field name "
         r"'(type|id)' is not allowed here",
         r"\.(sourceList|destinationList): .* is an object; expected an array",
         r"^\$: required field\(s\) missing: schemaVersion, creationDate$",
         r"^\$\.schemaVersion: 2\.0 is a number; expected a string$",
         r"\.ilmd: field 'ilmd' is not allowed here$"),
        False),
    "gs1-epcis/XML/CaptureJob/*.xml": (
        "EPCISCaptureJob resources of the REST binding (capture-job status), not EPCIS "
        "documents; the EPCIS XSDs do not define them",
        (r"root element \{urn:epcglobal:epcis:xsd:2\}EPCISCaptureJob is not an EPCIS 2\.0 "
         r"document",),
        True),
    "gs1-epcis/XML/WithEventHashID/event_with_identical_hash_id_7.json": (
        "JSON rendering that keeps the XML binding's CBV 1.x URNs (urn:epcglobal:cbv:...), "
        "which the EPCIS 2.0.1 JSON schema forbids in JSON (bare words or Web URIs only)",
        (_CBV1_URN,),
        True),
    "openepcis-test-resources/core/src/main/resources/1.2/EPCIS/XML/Capture/Documents/*.xml": (
        "EPCIS 1.2 documents; only EPCIS 2.0 is validated (two of them use the 2.0 namespace "
        "but namespace-qualified events, which the 2.0 XSD does not allow; one bare event is "
        "valid 2.0 XML)",
        (r"this is an EPCIS 1\.x document \(namespace urn:epcglobal:epcis:xsd:1\)",
         _NO_NS_PREFIX),
        False),
    "openepcis-test-resources/core/src/main/resources/2.0/EPCIS/JSON/**/"
    "SensorData_with_combined_events.json": (
        "sensor reports without a type, and types 'Molar_concentration' and "
        "'EffectiveDoseRate', which are not measurement types of the EPCIS 2.0.1 JSON schema",
        (r"\.sensorReport\[\d+\]: required field\(s\) missing: type$",
         r"\.sensorReport\[\d+\]\.type: '(Molar_concentration|EffectiveDoseRate)' is not "
         r"allowed here"),
        True),
    "openepcis-test-resources/core/src/main/resources/2.0/EPCIS/JSON/**/"
    "TransactionEvent_with_userExtensions.json": (
        "measurement type 'EffectiveDoseRate', not in the EPCIS 2.0.1 JSON schema's list",
        (r"\.sensorReport\[0\]\.type: 'EffectiveDoseRate' is not allowed here",),
        True),
    "openepcis-test-resources/core/src/main/resources/2.0/EPCIS/XML/Capture/Documents/"
    "JumbledFieldsOrder.xml": (
        "event fields out of the order the XSD's xsd:sequence requires",
        (r"^line \d+ \(.*/TransactionEvent/disposition\): element not allowed here \(wrong "
         r"name or order\); expected: eventTime$",),
        True),
    "openepcis-test-resources/core/src/main/resources/2.0/EPCIS/XML/Capture/*/Namespace_*.xml": (
        "events written with the epcis: namespace prefix; in the EPCIS 2.0 XSD events and "
        "their fields are unqualified",
        (_NO_NS_PREFIX,),
        True),
    "openepcis-test-resources/core/src/main/resources/2.0/EPCIS/XML/Query/{"
    "Combination_of_different_event,CurieString_document,JumbledFieldsOrder,"
    "ObjectEventWithAllPossibleFields,SensorData_with_combined_events,"
    "TransactionEvent_with_userExtensions,TransformationEvent_with_error_declaration}.xml": (
        "<QueryResults> without the epcisq: namespace (the query XSD declares it as a global "
        "element of urn:epcglobal:epcis-query:xsd:2); one also lacks creationDate",
        (_UNQUALIFIED_QUERY_RESULTS,
         r"^line \d+ \(/epcisq:EPCISQueryDocument\): required attribute 'creationDate' is "
         r"missing$"),
        True),
}


def _known(path: Path) -> tuple[str, tuple[str, ...], bool] | None:
    rel = _rel(path)
    for pattern, rule in KNOWN_NONCONFORMING.items():
        if _glob_match(rel, pattern):
            return rule
    return None


def _glob_match(rel: str, pattern: str) -> bool:
    """Glob with ``**/`` (any folders), ``*`` (within a name) and ``{a,b}`` (alternatives)."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    regex = re.sub(r"\\\{(.*?)\\\}", lambda m: "(?:" + m[1].replace(",", "|") + ")", regex)
    return re.fullmatch(regex, rel) is not None


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return load_schemas(SCHEMA_DIRS)


def test_test_data_is_complete() -> None:
    # The counts the MANIFESTs give; a change in the shared data should be noticed here.
    assert len(_files(GS1, "JSON/**/*.jsonld")) == 47
    assert len(_files(GS1, "JSON-simple-context/**/*.jsonld")) == 46
    assert len(_files(GS1, "XML/**/*.xml")) == 37
    assert len(OPEN_ALL) == 72 + 66 + 19
    assert len(OPEN_INVALID) == 30


@pytest.mark.parametrize("path", GS1_EXAMPLES + OPEN_VALID, ids=_rel)
def test_valid_examples_are_accepted(path: Path, schemas: SchemaSet) -> None:
    problems = validate_document(path, schemas=schemas)
    known = _known(path)
    if known is None:
        assert problems == [], "\n".join(map(str, problems))
        return
    why, reasons, must_fail = known
    if must_fail:
        assert problems, f"expected to be rejected ({why}) but accepted"
    for problem in problems:
        assert any(re.search(r, str(problem)) for r in reasons), \
            f"{problem} is not the documented reason: {why}"


@pytest.mark.parametrize("path", OPEN_INVALID, ids=_rel)
def test_invalid_documents_are_rejected_with_a_reason(path: Path, schemas: SchemaSet) -> None:
    problems = validate_document(path, schemas=schemas)
    assert problems, "accepted"
    for problem in problems:
        assert isinstance(problem, Problem)
        assert re.match(r"^(\$|line \d+)", problem.location), problem
        assert len(problem.message) > 15, problem


def test_counts(schemas: SchemaSet) -> None:
    """The summary reported for this change: what is accepted, what is not and why."""
    rejected_valid = [p for p in GS1_EXAMPLES + OPEN_VALID
                      if validate_document(p, schemas=schemas)]
    assert all(_known(p) for p in rejected_valid)
    gs1_rejected = [p for p in rejected_valid if p in GS1_EXAMPLES]
    assert len(GS1_EXAMPLES) == 47 + 46 + 37 + 1 + 5
    assert len(gs1_rejected) == 43 + 4 + 1  # simple-context drafts, capture jobs, URN JSON
    # accepted: all 47 JSON-LD examples, the 5 schema test events, 33 of 37 XML examples
    assert len(GS1_EXAMPLES) - len(gs1_rejected) == 47 + 5 + 33 + 3
    open_rejected = [p for p in rejected_valid if p in OPEN_VALID]
    assert len(OPEN_VALID) == 127
    assert len([p for p in open_rejected if "1.2" in p.parts]) == 18
    assert len([p for p in open_rejected if "2.0" in p.parts]) == 4 + 3 + 7


# ----------------------------------------------------------------------------- messages


def _problems(doc: dict, schemas: SchemaSet) -> list[str]:
    return [str(p) for p in validate_document(json.dumps(doc).encode(), schemas=schemas)]


def _document(event: dict) -> dict:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2024-05-01T12:00:00Z", "epcisBody": {"eventList": [event]},
    }


EVENT = {"type": "ObjectEvent", "eventTime": "2024-05-01T10:00:00.000+02:00",
         "eventTimeZoneOffset": "+02:00", "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
         "action": "OBSERVE", "bizStep": "shipping"}


def test_a_minimal_document_is_valid(schemas: SchemaSet) -> None:
    assert _problems(_document(EVENT), schemas) == []


def test_format_checks_are_on(schemas: SchemaSet) -> None:
    bad_time = _problems(_document({**EVENT, "eventTime": "2024-05-01 10:00"}), schemas)
    assert bad_time == ["$.epcisBody.eventList[0].eventTime: '2024-05-01 10:00' is not a "
                        "date-time with time zone (RFC 3339), e.g. 2024-05-01T12:00:00.000"
                        "+02:00"]
    bad_uri = _problems(_document({**EVENT, "epcList": ["not a uri"]}), schemas)
    assert bad_uri == ["$.epcisBody.eventList[0].epcList[0]: 'not a uri' is not an absolute "
                       "URI (RFC 3986)"]


def test_a_oneof_failure_names_the_relevant_branch(schemas: SchemaSet) -> None:
    # bizStep is anyOf(CBV term, other URI): the reason lists both forms.
    (msg,) = _problems(_document({**EVENT, "bizStep": "shiping"}), schemas)
    assert msg.startswith("$.epcisBody.eventList[0].bizStep: 'shiping' is not allowed here; "
                          "expected an absolute URI (RFC 3986) or one of accepting, arriving")
    (msg,) = _problems(_document({**EVENT, "bizStep": "urn:epcglobal:cbv:bizstep:shipping"}),
                       schemas)
    assert "expected a URI that is not a CBV 1.x URN (in JSON, standard CBV values are bare " \
           "words such as shipping or in_transit) or one of accepting" in msg
    # ILMD is only allowed on ADD (or DELETE) events: the allowed combinations are named.
    (msg,) = _problems(_document({**EVENT, "ilmd": {"example:lot": "A1"}}), schemas)
    assert msg == "$.epcisBody.eventList[0].ilmd: field 'ilmd' is not allowed here"
    # A wrong type deep inside an event: the path, the value, what was expected.
    (msg,) = _problems(_document({**EVENT, "quantityList": [
        {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": "ten"}]}),
        schemas)
    assert msg == ("$.epcisBody.eventList[0].quantityList[0].quantity: 'ten' is a string; "
                   "expected a number")


def test_unknown_fields_and_missing_fields(schemas: SchemaSet) -> None:
    (msg,) = _problems(_document({**EVENT, "color": "red"}), schemas)
    assert msg.startswith("$.epcisBody.eventList[0]: field name 'color' is not allowed here")
    assert "example:myField" in msg
    doc = _document(EVENT)
    del doc["creationDate"]
    assert _problems(doc, schemas) == ["$: required field(s) missing: creationDate"]


def test_xml_problems_name_line_element_value_and_expectation(schemas: SchemaSet) -> None:
    xml = b"""<?xml version="1.0"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2024-05-01T12:00:00Z">
  <EPCISBody><EventList><ObjectEvent>
    <eventTime>2024-05-01T10:00:00+02:00</eventTime>
    <eventTimeZoneOffset>+02:00</eventTimeZoneOffset>
    <epcList><epc>urn:epc:id:sgtin:0614141.107346.2017</epc></epcList>
    <action>SHIP</action>
  </ObjectEvent></EventList></EPCISBody>
</epcis:EPCISDocument>"""
    (problem,) = validate_document(xml, schemas=schemas)
    assert problem.location == "line 8 (/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent/" \
                               "action)"
    assert problem.message == "'SHIP' is not allowed; expected one of 'ADD', 'OBSERVE', " \
                              "'DELETE'"
    assert problem.value == "SHIP"
    broken = validate_document(b"<epcis:EPCISDocument>", schemas=schemas)
    assert broken[0].message.startswith("not well-formed XML")


def test_not_epcis_at_all(schemas: SchemaSet) -> None:
    assert validate_document(b"", schemas=schemas)[0].message == "the file is empty"
    assert "neither JSON nor XML" in validate_document(b"hello", schemas=schemas)[0].message
    assert validate_document(b"{", schemas=schemas)[0].message.startswith("not valid JSON")


# ----------------------------------------------------------------------------- schemas


def test_schemas_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(SchemasNotFound, match=ENV_VAR):
        validate_document(GS1 / "JSON" / "Example_9.6.1-ObjectEvent.jsonld")
    monkeypatch.setenv(ENV_VAR, os.pathsep.join(str(d) for d in SCHEMA_DIRS))
    assert validate_document(GS1 / "JSON" / "Example_9.6.1-ObjectEvent.jsonld") == []
    # One folder above both also works: files are found by name, shallowest first.
    monkeypatch.setenv(ENV_VAR, str(TESTDATA))
    found = load_schemas()
    assert found.json_schema == TESTDATA / "gs1-normative-2.0.1" / "epcis-json-schema.json"
    assert found.query_schema == TESTDATA / "gs1-normative-2.0.1" / "query-schema.json"
    assert found.xsd_document == GS1 / "XSD" / "EPCglobal-epcis-2_0.xsd"


def test_a_missing_schema_is_named(tmp_path: Path) -> None:
    only_json = load_schemas([SCHEMA_DIRS[0]])
    with pytest.raises(SchemasNotFound, match="EPCglobal-epcis-2_0.xsd"):
        validate_document(GS1 / "XML" / "Example_9.6.1-ObjectEvent-2020_06_18a.xml",
                          schemas=only_json)
    with pytest.raises(SchemasNotFound, match="not found"):
        load_schemas([tmp_path / "nowhere"])


def test_remote_refs_are_never_fetched(tmp_path: Path) -> None:
    (tmp_path / "epcis-json-schema.json").write_text(json.dumps(
        {"$schema": "http://json-schema.org/draft-07/schema#",
         "$id": "https://example.org/remote-test.json",
         "$ref": "https://example.invalid/other-schema.json"}))
    with pytest.raises(SchemasNotFound, match="not available locally"):
        validate_document(b'{"type": "EPCISDocument"}', schemas=load_schemas([tmp_path]))


# ----------------------------------------------------------------------------- CLI


def _cli(*args: str):
    return runner.invoke(app, ["epcis", "validate", "--schemas",
                               os.pathsep.join(str(d) for d in SCHEMA_DIRS), *args])


def test_cli_all_valid_exits_0() -> None:
    res = _cli(str(GS1 / "JSON" / "Example_9.6.1-ObjectEvent.jsonld"),
               str(GS1 / "XML" / "Example_9.6.1-ObjectEvent-2020_06_18a.xml"))
    assert res.exit_code == 0, res.output
    assert res.output.count(": valid") == 2


def test_cli_invalid_exits_1_with_reasons() -> None:
    bad = OPEN / "2.0/EPCIS/JSON/Capture/Invalid/ObjectEvent_with_invalid_action.json"
    res = _cli(str(GS1 / "JSON" / "Example_9.6.1-ObjectEvent.jsonld"), str(bad))
    assert res.exit_code == 1, res.output
    assert f"{bad}: invalid (1 problem)" in res.output
    assert "  - $.epcisBody.eventList[0].action: 'CREATE' is not allowed here; expected one " \
           "of OBSERVE, ADD, DELETE" in res.output


def test_cli_unreadable_file_exits_2_and_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    res = _cli(str(GS1 / "JSON" / "Example_9.6.1-ObjectEvent.jsonld"), str(missing))
    assert res.exit_code == 2
    assert f"error: cannot read {missing}: No such file or directory" in res.output
    assert ": valid" in res.output  # the other file was still checked
    res = _cli(str(tmp_path))
    assert res.exit_code == 2
    assert "it is a folder" in res.output


def test_cli_without_schemas_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    res = runner.invoke(app, ["epcis", "validate", str(GS1 / "JSON" /
                                                      "Example_9.6.1-ObjectEvent.jsonld")])
    assert res.exit_code == 2
    assert ENV_VAR in res.output and "--schemas" in res.output


def test_cli_caps_the_reasons_printed() -> None:
    res = _cli("--max-problems", "2", str(GS1 / "XML/WithEventHashID/"
                                             "event_with_identical_hash_id_7.json"))
    assert res.exit_code == 1
    assert "invalid (11 problems)" in res.output
    assert "... and 9 more (--max-problems)" in res.output
