"""Validate EPCIS 2.0 documents: JSON/JSON-LD against the normative EPCIS 2.0.1 JSON schema,
XML against the EPCIS 2.0 XSDs, and say in plain words what is wrong.

The schemas are GS1 artefacts whose terms (GS1 IP policy / disclaimer, not an open-source
licence) do not clearly allow redistribution, so rareflow does not ship them: they are read
from folders given by the caller or by the environment variable ``RAREFLOW_EPCIS_SCHEMAS``
(one or more folders separated by ``os.pathsep``). Nothing is ever downloaded: JSON-schema
``$ref``s resolve through a local `referencing` registry only, the XSDs' imports are local
files, and the XML parser runs with network access off.

`validate_document(source)` returns a list of `Problem`s (empty = valid). Each problem names
where (JSON path such as ``$.epcisBody.eventList[0].action``, or XML line and element path),
the offending value, and what was expected.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from lxml import etree
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from rareflow import safejson
from rareflow.errors import InputLimitError

__all__ = [
    "ENV_VAR",
    "Problem",
    "SchemaSet",
    "SchemasNotFound",
    "load_schemas",
    "validate_document",
]

ENV_VAR = "RAREFLOW_EPCIS_SCHEMAS"

JSON_SCHEMA = "epcis-json-schema.json"  # normative EPCIS 2.0.1 JSON schema
QUERY_SCHEMA = "query-schema.json"
EXTRA_JSON_SCHEMAS = ("certificationDetails-schema.json",)
XSD_DOCUMENT = "EPCglobal-epcis-2_0.xsd"
XSD_QUERY = "EPCglobal-epcis-query-2_0.xsd"
XSD_MASTERDATA = "EPCglobal-epcis-masterdata-2_0.xsd"

NS_EPCIS = "urn:epcglobal:epcis:xsd:2"
NS_QUERY = "urn:epcglobal:epcis-query:xsd:2"
NS_MASTERDATA = "urn:epcglobal:epcis-masterdata:xsd:2"
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
               "AssociationEvent")
WHERE_TO_GET = ("GS1 publishes them at https://ref.gs1.org/standards/epcis/artefacts "
                "(EPCIS 2.0.1 JSON schema + query schema, EPCIS 2.0 XSDs)")


class SchemasNotFound(RuntimeError):
    """The EPCIS schemas are not where the caller (or RAREFLOW_EPCIS_SCHEMAS) said."""


@dataclass(frozen=True)
class Problem:
    """One reason a document is not valid."""

    location: str  # "$.epcisBody.eventList[0].action" or "line 12 (/EPCISDocument/...)"
    message: str  # a full sentence a user understands
    value: str | None = None  # the offending value, shortened
    expected: str | None = None  # what the schema wants there

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


# ----------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class SchemaSet:
    """The located schema files (a missing one is None; it is reported when needed)."""

    json_schema: Path | None
    query_schema: Path | None
    extra_json: tuple[Path, ...]
    xsd_document: Path | None
    xsd_query: Path | None
    xsd_masterdata: Path | None
    searched: tuple[Path, ...]

    def require(self, attr: str, what: str) -> Path:
        path = getattr(self, attr)
        if path is None:
            where = ", ".join(str(p) for p in self.searched) or "(no folder given)"
            raise SchemasNotFound(
                f"the {what} was not found in {where}; point --schemas or {ENV_VAR} at the "
                f"folder(s) holding it. {WHERE_TO_GET}."
            )
        return path


def _find(dirs: Sequence[Path], name: str, depth: int = 3) -> Path | None:
    """First `name` in `dirs`: in each folder, then up to `depth` levels below it
    (shallowest first, then by path)."""
    for d in dirs:
        for level in range(depth + 1):
            found = sorted(p for p in d.glob("/".join(["*"] * level + [name])) if p.is_file())
            if found:
                return found[0]
    return None


def load_schemas(folders: str | os.PathLike | Sequence[str | os.PathLike] | None = None
                 ) -> SchemaSet:
    """Locate the schema files in `folders` (default: ``$RAREFLOW_EPCIS_SCHEMAS``, folders
    separated by ``os.pathsep``). Each file is looked up by its GS1 file name, first directly
    in a folder, then in its sub-folders down to three levels (shallowest first)."""
    if folders is None:
        value = os.environ.get(ENV_VAR, "").strip()
        if not value:
            raise SchemasNotFound(
                f"no EPCIS schemas: rareflow does not ship the GS1 schemas (their licence "
                f"terms do not clearly allow it); pass --schemas DIR or set {ENV_VAR} to the "
                f"folder(s) holding {JSON_SCHEMA} and {XSD_DOCUMENT}. {WHERE_TO_GET}."
            )
        folders = [p for p in value.split(os.pathsep) if p]
    if isinstance(folders, str | os.PathLike):
        folders = [folders]
    dirs = tuple(Path(f).expanduser() for f in folders)
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise SchemasNotFound(f"EPCIS schema folder not found: {', '.join(missing)}")
    return SchemaSet(
        json_schema=_find(dirs, JSON_SCHEMA),
        query_schema=_find(dirs, QUERY_SCHEMA),
        extra_json=tuple(p for p in (_find(dirs, n) for n in EXTRA_JSON_SCHEMAS) if p),
        xsd_document=_find(dirs, XSD_DOCUMENT),
        xsd_query=_find(dirs, XSD_QUERY),
        xsd_masterdata=_find(dirs, XSD_MASTERDATA),
        searched=dirs,
    )


@lru_cache(maxsize=8)
def _json_validators(schemas: SchemaSet) -> tuple[Draft7Validator, Draft7Validator | None, dict]:
    main_path = schemas.require("json_schema", f"EPCIS 2.0.1 JSON schema ({JSON_SCHEMA})")
    paths = [main_path, *schemas.extra_json]
    if schemas.query_schema:
        paths.append(schemas.query_schema)
    contents = {p: json.loads(p.read_bytes()) for p in paths}
    registry: Registry = Registry()  # no `retrieve`: an unknown $ref fails, never downloads
    for path, schema in contents.items():
        resource = Resource.from_contents(schema, default_specification=DRAFT7)
        registry = registry.with_resource(schema.get("$id") or path.resolve().as_uri(),
                                          resource)
    checker = Draft7Validator.FORMAT_CHECKER
    for fmt in ("uri", "date-time"):
        if fmt not in checker.checkers:
            raise SchemasNotFound(
                f"jsonschema cannot check format {fmt!r}: install rfc3986-validator and "
                "rfc3339-validator")
    main = Draft7Validator(contents[main_path], registry=registry, format_checker=checker)
    query = None
    if schemas.query_schema:
        query = Draft7Validator(contents[schemas.query_schema], registry=registry,
                                format_checker=checker)
    names = {}  # id(subschema) -> definition name, to name what was expected
    for schema in contents.values():
        for name, sub in (schema.get("definitions") or {}).items():
            names[id(sub)] = name
    return main, query, names


class _LocalOnlyResolver(etree.Resolver):
    """Refuse anything an XSD would fetch from the network."""

    def resolve(self, url, pubid, context):
        if url and re.match(r"^(https?|ftp):", url):
            raise SchemasNotFound(f"the XSDs refer to {url}, which is not a local file")
        return None


@lru_cache(maxsize=8)
def _xsd(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalOnlyResolver())
    return etree.XMLSchema(etree.parse(str(path), parser))


# ----------------------------------------------------------------------------- JSON


def _json_path(path: Iterable) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _short(value, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


_FORMATS = {
    "uri": "an absolute URI (RFC 3986)",
    "date-time": "a date-time with time zone (RFC 3339), e.g. 2024-05-01T12:00:00.000+02:00",
    "date": "a date (YYYY-MM-DD)",
}
# Patterns of the EPCIS 2.0.1 JSON schema, in words.
_PATTERNS = {
    r"^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))":
        "a URI that is not a CBV 1.x URN (in JSON, standard CBV values are bare words such "
        "as shipping or in_transit)",
    r"^(?!(https?:\/\/gs1\.org\/voc\/|https?:\/\/www\.gs1\.org\/voc\/))":
        "a URI outside https://gs1.org/voc/ (standard GS1 terms are bare words such as "
        "Temperature)",
    r"^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$": "a time-zone offset such as +01:00",
    r"^\d+(\.\d+)*$": "a version string such as \"2.0\"",
    r"^[A-Z0-9]{2,3}$": "a UN/CEFACT Rec. 20 unit code (2-3 capitals or digits, e.g. KGM)",
    r"^[A-Fa-f0-9]+$": "hexadecimal digits",
}
_TYPES = {"string": "a string", "number": "a number", "integer": "an integer",
          "object": "an object", "array": "an array (list)", "boolean": "true or false",
          "null": "null"}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), "null")


def _list(values: Sequence, limit: int = 12) -> str:
    shown = ", ".join(str(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _expectation(error: ValidationError, names: dict) -> str:
    """What a failing (sub)schema wants, in words."""
    kw, arg = error.validator, error.validator_value
    if kw == "enum":
        return "one of " + _list(arg)
    if kw == "const":
        return f"exactly {_short(arg)}"
    if kw == "format":
        return _FORMATS.get(arg, f"a valid {arg}")
    if kw == "type":
        kinds = arg if isinstance(arg, list) else [arg]
        return " or ".join(_TYPES.get(k, k) for k in kinds)
    if kw == "pattern":
        if arg in _PATTERNS:
            return _PATTERNS[arg]
        literal = re.fullmatch(r"\^([A-Za-z0-9_:-]+)\$", arg)
        if literal:
            return f"exactly {literal[1]}"
        name = names.get(id(error.schema))
        return f"a value matching the {name} pattern {arg}" if name \
            else f"a value matching {arg}"
    if kw == "not":
        return "nothing (this must not be present here)"
    if kw == "required":
        return "the field(s) " + ", ".join(arg)
    if kw in ("minItems", "maxItems"):
        return f"{'at least' if kw == 'minItems' else 'at most'} {arg} item(s)"
    if kw in ("minLength", "maxLength"):
        return f"{'at least' if kw == 'minLength' else 'at most'} {arg} character(s)"
    if kw in ("minimum", "exclusiveMinimum"):
        return f"a number {'>=' if kw == 'minimum' else '>'} {arg}"
    if kw in ("maximum", "exclusiveMaximum"):
        return f"a number {'<=' if kw == 'maximum' else '<'} {arg}"
    if kw in ("anyOf", "oneOf"):
        alts = sorted(error.context, key=lambda e: e.relative_schema_path[0]
                      if e.relative_schema_path else 0)
        seen: list[str] = []
        for alt in alts:
            text = _expectation(alt, names)
            if text not in seen:
                seen.append(text)
        return " or ".join(seen) if seen else "a value matching one of the allowed forms"
    if kw == "additionalProperties":
        return "no other fields"
    if kw == "uniqueItems":
        return "no duplicate items"
    return f"{kw} {_short(arg)}"


def _json_problem(error: ValidationError, names: dict) -> Problem:
    schema_path = list(error.schema_path)
    location = _json_path(error.absolute_path)
    value, kw = error.instance, error.validator
    if "propertyNames" in schema_path:
        return Problem(
            location, f"field name {_short(value)} is not allowed here: it is not a standard "
            "EPCIS field of this object, and an extension field must be named by a URI or a "
            "CURIE with a declared prefix (e.g. example:myField)",
            _short(value), "a standard field or an extension name (URI/CURIE)")
    if kw in ("anyOf", "oneOf") and error.context \
            and all(sub.validator == "required" for sub in error.context):
        fields = [f for sub in error.context for f in sub.validator_value]
        return Problem(location, f"at least one of these fields is required: "
                       f"{', '.join(fields)}", None, ", ".join(fields))
    if kw in ("anyOf", "oneOf") and error.context:
        combination = _combination(error, names)
        if combination:
            return Problem(location, "this combination of fields is not allowed; one of "
                           f"these must hold: {combination}", None, combination)
    if kw == "required":
        missing = [f for f in error.validator_value
                   if isinstance(value, dict) and f not in value]
        fields = ", ".join(missing) or ", ".join(error.validator_value)
        return Problem(location, f"required field(s) missing: {fields}", None, fields)
    if kw == "additionalProperties":
        extra = [k for k in value if k not in (error.schema.get("properties") or {})] \
            if isinstance(value, dict) else []
        return Problem(location, f"field(s) not allowed here: {', '.join(extra)}",
                       ", ".join(extra), "no other fields")
    expected = _expectation(error, names)
    if kw == "not" and error.absolute_path:
        text = f"field {error.absolute_path[-1]!r} is not allowed here"
    elif kw == "type":
        text = f"{_short(value)} is {_kind(value)}; expected {expected}"
    elif kw == "format":
        text = f"{_short(value)} is not {expected}"
    else:
        text = f"{_short(value)} is not allowed here; expected {expected}"
    return Problem(location, text, _short(value), expected)


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    out: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        out.setdefault(sub.relative_schema_path[0], []).append(sub)
    return out


def _combination(error: ValidationError, names: dict) -> str | None:
    """For an anyOf/oneOf over the fields of one object (each branch failing on exactly one
    direct field), the alternatives in words: "ilmd absent, or action exactly ADD"."""
    depth = len(error.absolute_path) + 1
    branches = _branches(error)
    if len(branches) < 2 or any(len(errs) != 1 or len(errs[0].absolute_path) != depth
                                for errs in branches.values()):
        return None
    parts = []
    for _, (sub,) in sorted(branches.items()):
        field = sub.absolute_path[-1]
        if sub.validator == "not":
            parts.append(f"no {field}")
        else:
            parts.append(f"{field} {_expectation(sub, names)}")
    return ", or ".join(parts)


def _relevant(error: ValidationError) -> ValidationError:
    """Descend into anyOf/oneOf to the branch that explains the failure; stop where all
    branches fail on the value itself (the problem then lists the alternatives) or on
    direct fields of one object (the problem lists the allowed combinations)."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        deeper = [e for e in error.context if len(e.absolute_path) > len(error.absolute_path)]
        if not deeper or _combination(error, {}) is not None:
            return error
        error = best_match(deeper)
    return error


def _validate_json(data: bytes, schemas: SchemaSet) -> list[Problem]:
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as exc:
        return [Problem("(file)", f"not UTF-8 text: {exc}")]
    except json.JSONDecodeError as exc:
        return [Problem(f"line {exc.lineno}, column {exc.colno}",
                        f"not valid JSON: {exc.msg}")]
    main, query, names = _json_validators(schemas)
    validator = main
    if isinstance(doc, dict) and "type" not in doc and _looks_like_query(doc):
        if query is None:
            schemas.require("query_schema", f"EPCIS query schema ({QUERY_SCHEMA})")
        validator = query
    try:
        errors = list(validator.iter_errors(doc))
    except Unresolvable as exc:
        raise SchemasNotFound(f"the JSON schema refers to {exc}, which is not available "
                              "locally (nothing is downloaded)") from None
    problems: list[Problem] = []
    for error in errors:
        problem = _json_problem(_relevant(error), names)
        if problem not in problems:
            problems.append(problem)
    # A "combination not allowed" problem that only restates a field problem found
    # below it (e.g. an invalid action) is noise.
    return [p for p in problems if not (
        p.message.startswith("this combination") and any(
            q.location.startswith(p.location + ".") for q in problems))]


_QUERY_KEY = re.compile(r"^(EQ|NE|GE|GT|LE|LT|MATCH|EXISTS|HASATTR|EQATTR|WD|EQ_bizTransaction"
                        r")_|^(eventType|orderBy|orderDirection|eventCountLimit|maxEventCount)$")


def _looks_like_query(doc: dict) -> bool:
    context = json.dumps(doc.get("@context", ""))
    return "query-schema" in context or any(_QUERY_KEY.match(k) for k in doc)


# ----------------------------------------------------------------------------- XML

_XSD_MESSAGES = [
    (re.compile(r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set "
                r"\{(.*)\}\.?$"),
     lambda m: (f"'{m[1]}' is not allowed; expected one of {m[2]}", m[1], m[2])),
    (re.compile(r"'(.*)' is not a valid value of the atomic type '(?:xs:|\w+:)?(\w+)'\.?$"),
     lambda m: (f"'{m[1]}' is not a valid {m[2]}{_XSD_HINTS.get(m[2], '')}", m[1], m[2])),
    (re.compile(r"'(.*)' is not a valid value of the (?:local )?(?:atomic|union) type(.*)$"),
     lambda m: (f"'{m[1]}' is not a valid value here{m[2].rstrip('.')}", m[1], None)),
    (re.compile(r"This element is not expected\. Expected is one of \( (.*) \)\.?$"),
     lambda m: (f"element not allowed here (wrong name or order); expected one of: {m[1]}",
                None, m[1])),
    (re.compile(r"This element is not expected\. Expected is \( (.*) \)\.?$"),
     lambda m: (f"element not allowed here (wrong name or order); expected: {m[1]}",
                None, m[1])),
    (re.compile(r"This element is not expected\.?$"),
     lambda m: ("element not allowed here (wrong name, or out of order)", None, None)),
    (re.compile(r"Missing child element\(s\)\. Expected is one of \( (.*) \)\.?$"),
     lambda m: (f"a required child element is missing; expected one of: {m[1]}", None, m[1])),
    (re.compile(r"Missing child element\(s\)\. Expected is \( (.*) \)\.?$"),
     lambda m: (f"required child element missing: {m[1]}", None, m[1])),
    (re.compile(r"The attribute '(.*)' is not allowed\.?$"),
     lambda m: (f"attribute '{m[1]}' is not allowed here", m[1], None)),
    (re.compile(r"The attribute '(.*)' is required but missing\.?$"),
     lambda m: (f"required attribute '{m[1]}' is missing", None, m[1])),
    (re.compile(r"No matching global declaration available for the validation root\.?$"),
     lambda m: ("the root element is not an EPCIS 2.0 document element", None, None)),
]
_XSD_HINTS = {
    "dateTime": " (expected e.g. 2024-05-01T12:00:00.000+02:00)",
    "DateTimeStamp": " date-time with time zone (expected e.g. 2024-05-01T12:00:00.000+02:00)",
    "anyURI": " (expected a URI)",
    "decimal": " (expected a decimal number)",
    "double": " (expected a number)",
    "boolean": " (expected true or false)",
    "integer": " (expected an integer)",
}


# Global elements of the query XSD that documents often write without their namespace.
_QUERY_ELEMENTS = frozenset({"QueryResults", "Poll", "GetQueryNames", "Subscribe", "Unsubscribe",
                             "GetSubscriptionIDs", "GetStandardVersion", "GetVendorVersion"})
_NS_PREFIXES = {NS_EPCIS: "epcis:", NS_QUERY: "epcisq:", NS_MASTERDATA: "epcismd:"}
_WRAPPER = "/epcis:EPCISDocument/EPCISBody/EventList"


def _xml_problem(entry, wrapped: bool) -> Problem:
    message = entry.message.strip()
    for ns, prefix in _NS_PREFIXES.items():
        message = message.replace("{" + ns + "}", prefix)
    element = None
    m = re.match(r"^Element '([^']*)'(?:, attribute '([^']*)')?: (.*)$", message, re.S)
    if m:
        element = m[1] + (f"/@{m[2]}" if m[2] else "")
        message = m[3].strip()
    value = expected = None
    for pattern, build in _XSD_MESSAGES:
        hit = pattern.match(message)
        if hit:
            message, value, expected = build(hit)
            break
    if element in _QUERY_ELEMENTS and "not allowed here" in message:
        message += f"; note: {element} must be namespace-qualified (epcisq:{element})"
    if element and element.startswith("epcis:") and "not allowed here" in message:
        message += ("; note: elements inside an EPCIS 2.0 document (events and their "
                    "fields) have no namespace prefix")
    path = entry.path or ""
    if wrapped and path.startswith(_WRAPPER):
        path = path[len(_WRAPPER):]
    where = f"line {entry.line}" + (f" ({path})" if path else "")
    if element and element.split("/@")[0].split(":")[-1] not in path.rsplit("/", 1)[-1]:
        message = f"<{element}>: {message}"
    return Problem(where, message, value, expected)


def _validate_xml(data: bytes, schemas: SchemaSet) -> list[Problem]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        doc = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else exc.lineno
        return [Problem(f"line {line}", f"not well-formed XML: {exc.msg}")]
    qname = etree.QName(doc)
    ns, local = qname.namespace, qname.localname
    if ns and ns.startswith("urn:epcglobal:epcis") and not ns.endswith(":2"):
        return [Problem("line 1", f"this is an EPCIS 1.x document (namespace {ns}); only "
                        f"EPCIS 2.0 ({NS_EPCIS}) is supported", ns, NS_EPCIS)]
    if ns == NS_EPCIS and local == "EPCISDocument":
        xsd = _xsd(schemas.require("xsd_document", f"EPCIS 2.0 XSD ({XSD_DOCUMENT})"))
        target = doc
    elif ns == NS_QUERY and local == "EPCISQueryDocument":
        xsd = _xsd(schemas.require("xsd_query", f"EPCIS 2.0 query XSD ({XSD_QUERY})"))
        target = doc
    elif ns == NS_MASTERDATA and local == "EPCISMasterDataDocument":
        xsd = _xsd(schemas.require("xsd_masterdata",
                                   f"EPCIS 2.0 master-data XSD ({XSD_MASTERDATA})"))
        target = doc
    elif ns in (None, NS_EPCIS) and local in EVENT_TYPES:
        xsd = _xsd(schemas.require("xsd_document", f"EPCIS 2.0 XSD ({XSD_DOCUMENT})"))
        target = _wrap_event(doc)
    else:
        return [Problem("line 1", f"root element {{{ns or ''}}}{local} is not an EPCIS 2.0 "
                        "document (EPCISDocument, EPCISQueryDocument, EPCISMasterDataDocument "
                        "in their 2.0 namespaces) nor a bare event, so no XML schema applies",
                        local, "EPCISDocument / EPCISQueryDocument / EPCISMasterDataDocument")]
    if xsd.validate(target):
        return []
    problems: list[Problem] = []
    for entry in xsd.error_log:
        problem = _xml_problem(entry, wrapped=target is not doc)
        if problem not in problems:
            problems.append(problem)
    return problems


def _wrap_event(event) -> etree._Element:
    """A bare event (OpenEPCIS style: an unqualified <ObjectEvent> root, optionally carrying
    the document's schemaVersion/creationDate) inside a minimal EPCISDocument, so that the
    document XSD validates the event; line numbers stay those of the file."""
    root = etree.Element(f"{{{NS_EPCIS}}}EPCISDocument", nsmap={"epcis": NS_EPCIS})
    root.set("schemaVersion", event.get("schemaVersion", "2.0"))
    root.set("creationDate", event.get("creationDate", "1970-01-01T00:00:00Z"))
    body = etree.SubElement(root, "EPCISBody")
    event_list = etree.SubElement(body, "EventList")
    for attr in ("schemaVersion", "creationDate"):
        event.attrib.pop(attr, None)
    event_list.append(event)
    return root


# ----------------------------------------------------------------------------- entry point


def validate_document(source: Path | str | bytes, *,
                      schemas: SchemaSet | None = None) -> list[Problem]:
    """Problems of one EPCIS 2.0 document (JSON/JSON-LD or XML); empty when it is valid.

    `source` is a path or the document's bytes. `schemas` defaults to
    ``load_schemas()`` (``$RAREFLOW_EPCIS_SCHEMAS``); `SchemasNotFound` is raised when a
    needed schema is missing. `OSError` is raised when the file cannot be read,
    `InputLimitError` when it is larger than `safejson.MAX_BYTES` or its JSON is nested
    deeper than `safejson.MAX_DEPTH` (XML: libxml2's own limit of 256 levels, reported as
    not well-formed; entities are never expanded, nothing is fetched)."""
    name = "(input)" if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes):
        if len(source) > safejson.MAX_BYTES:
            raise InputLimitError(name, f"larger than {safejson.MAX_BYTES // 2**20} MB")
        data = source
    else:
        data = safejson.read_bytes(source)
    if schemas is None:
        schemas = load_schemas()
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _validate_xml(data, schemas)
    if head in (b"{", b"["):
        safejson.check(data, source=name)
        return _validate_json(data, schemas)
    if not head:
        return [Problem("(file)", "the file is empty")]
    return [Problem("line 1", "neither JSON nor XML: the content starts with "
                    f"{data.lstrip()[:20]!r}", None, "'{' (JSON) or '<' (XML)")]
