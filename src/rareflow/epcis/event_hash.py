"""CBV 2.0 EPCIS Event Hash ID (CBV 2.0 section 8.9), for EPCIS 2.0 JSON/JSON-LD and XML.

The hash of an event is ``ni:///sha-256;<hex>?ver=CBV2.0`` (RFC 6920) over its *pre-hash
string*: the event's fields, canonicalised and concatenated in a fixed order. How this module
builds that string, and where it follows the GS1 reference implementation
(RalphTro/epcis-event-hash-generator) rather than the letter of the standard, is written down
in docs/epcis-event-hash.md; the vectors in /work/shared/testdata/epcis/event-hash-vectors
check it (tests/test_epcis_hash.py).

Both syntaxes are first read into the same tree of ``(name, value, children)`` nodes, shaped
like the XML binding (JSON ``epcList: [...]`` becomes ``epcList`` with ``epc`` children,
``bizTransactionList`` entries become ``bizTransaction`` nodes with a ``type`` child, ...);
user extension names become ``{namespace}localName``. The pre-hash string is then built from
that tree only, so the same event gives the same hash whatever the syntax.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from lxml import etree

from rareflow import safejson
from rareflow.epcis.digital_link import canonical_digital_link
from rareflow.epcis.vocab import BARE_TERMS, STANDARD_PREFIXES, URN_TO_WEB
from rareflow.errors import InputLimitError

__all__ = [
    "ALGORITHMS",
    "EVENT_TYPES",
    "EventHashError",
    "HashedEvent",
    "event_hash_id",
    "hash_events",
    "prehash",
    "read_events",
]

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
               "AssociationEvent")

# Named Information hash algorithm names (IANA registry) -> hashlib constructor name.
ALGORITHMS = {"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
              "sha3-256": "sha3_256", "sha3-384": "sha3_384", "sha3-512": "sha3_512"}
CBV_VERSION = "CBV2.0"

# Namespace prefixes known without a declaration: those of the EPCIS 2.0 JSON-LD context.
# cbvmda is mapped to the CBV master-data XML namespace (no trailing colon) so that an ILMD
# field gets the same name in JSON and in XML (docs/epcis-event-hash.md, "Choices").
DEFAULT_PREFIXES = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "gs1": "https://gs1.org/voc/",
    "cbvmda": "urn:epcglobal:cbv:mda",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}

# Fields that never take part in the hash: identity/bookkeeping and the error declaration,
# which may be added to an event later without changing which event it is.
EXCLUDED = frozenset({"eventID", "recordTime", "errorDeclaration"})
# JSON-LD comments (the JSON counterpart of XML comments, which the XML parser drops).
COMMENT_KEYS = frozenset({"comment", "rdfs:comment"})

Node = tuple[str, str, list["Node"]]


class EventHashError(ValueError):
    """The input is not an EPCIS document (or event) this module can read."""


@dataclass(frozen=True)
class HashedEvent:
    position: int  # 1-based position of the event in the document
    event_type: str
    event_id: str | None  # the eventID the document carries, if any
    prehash: str
    hash_id: str


# ----------------------------------------------------------------------------- values

_TS = re.compile(
    r"(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?"
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def canonical_timestamp(text: str) -> str:
    """UTC, millisecond precision, ``Z`` suffix; the 3rd decimal is rounded up when the 4th
    is 5-9 (rule 9). A value that is not an xsd:dateTime is returned unchanged. A missing
    offset is read as UTC."""
    m = _TS.fullmatch(text)
    if m is None:
        return text
    year, month, day, hour, minute, second, frac, tz = m.groups()
    frac = frac or ""
    try:
        ts = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                      int((frac + "000")[:3]) * 1000, tzinfo=UTC)
    except ValueError:
        return text
    if len(frac) > 3 and frac[3] >= "5":
        ts += timedelta(milliseconds=1)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        ts -= sign * timedelta(hours=hh, minutes=mm)
    if ts.year < 1000:  # strftime's own (platform's) spelling of a short year
        return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    return (f"{ts.year}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:"
            f"{ts.second:02d}.{ts.microsecond // 1000:03d}Z")


def canonical_number(text: str) -> str | None:
    """Numbers without trailing zeros (rule 6), or None if `text` is not a decimal number.

    As in the reference implementation the value is read as an IEEE-754 double: integral
    values are written as integers, others in the shortest form that reads back to the same
    double (Python ``repr``). Integers beyond 2**53 therefore lose digits, exactly as in the
    reference vectors (docs/epcis-event-hash.md, "Choices")."""
    if _NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    if not math.isfinite(value):
        return None
    if value == int(value):
        return str(int(value))
    return repr(value)


@lru_cache(maxsize=1 << 16)
def canonical_value(text: str) -> str:
    """Rules 5, 6, 14, 17 and 18 for a (non-timestamp) value (cached: values repeat)."""
    text = text.strip()
    for urn, web in URN_TO_WEB:
        if text.startswith(urn):
            return web + text[len(urn):]
    number = canonical_number(text)
    if number is not None:
        return number
    return canonical_digital_link(text) or text


def _expand_standard_curie(text: str) -> str:
    prefix, sep, rest = text.partition(":")
    if sep and prefix in STANDARD_PREFIXES and not rest.startswith("//"):
        return STANDARD_PREFIXES[prefix] + rest
    return text


# ----------------------------------------------------------------------------- pre-hash

_QE = ("quantityElement", (("epcClass", None), ("quantity", None), ("uom", None)))
_EPC = (("epc", None),)
_SENSOR_METADATA = (("time", "time"), ("startTime", "time"), ("endTime", "time"),
                    ("deviceID", None), ("deviceMetadata", None), ("rawData", None),
                    ("dataProcessingMethod", None), ("bizRules", None))
_SENSOR_REPORT = (("type", None), ("exception", None), ("deviceID", None),
                  ("deviceMetadata", None), ("rawData", None), ("dataProcessingMethod", None),
                  ("time", "time"), ("microorganism", None), ("chemicalSubstance", None),
                  ("value", None), ("component", None), ("stringValue", None),
                  ("booleanValue", None), ("hexBinaryValue", None), ("uriValue", None),
                  ("minValue", None), ("maxValue", None), ("meanValue", None), ("sDev", None),
                  ("percRank", None), ("percValue", None), ("uom", None),
                  ("coordinateReferenceSystem", None))

# The canonical property order. A spec is None (a value), "time" (a timestamp), "typed"
# (list entries with a `type` attribute), "generic" (children rendered as extensions), or a
# nested order for the children.
CANONICAL_ORDER: tuple = (
    ("eventTime", "time"),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("epcList", _EPC),
    ("parentID", None),
    ("inputEPCList", _EPC),
    ("childEPCs", _EPC),
    ("quantityList", (_QE,)),
    ("childQuantityList", (_QE,)),
    ("inputQuantityList", (_QE,)),
    ("outputEPCList", _EPC),
    ("outputQuantityList", (_QE,)),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    ("sensorElementList", (("sensorElement", (("sensorMetadata", _SENSOR_METADATA),
                                              ("sensorReport", _SENSOR_REPORT))),)),
)
# Rendered like the fields above but sorted together with the user extensions, as the
# reference implementation (and so every published vector) does.
SORTED_WITH_EXTENSIONS: dict = {
    "bizTransactionList": (("bizTransaction", "typed"),),
    "sourceList": (("source", "typed"),),
    "destinationList": (("destination", "typed"),),
    "ilmd": "generic",
}


def _generic(node: Node) -> str:
    name, value, children = node
    value = value.strip()
    text = f"{name}={canonical_value(value)}" if value else name
    return text + "".join(sorted(_generic(c) for c in children))


def _leaf(node: Node, spec: str | None) -> str:
    name, value, children = node
    value = value.strip()
    if value:
        value = canonical_timestamp(value) if spec == "time" else canonical_value(value)
    if not value and not children:
        return ""
    head = f"{name}={value}" if value else name
    return head + "".join(sorted(_generic(c) for c in children))


def _typed(node: Node) -> str:
    name, value, children = node
    types = [c for c in children if c[0] == "type"]
    others = [c for c in children if c[0] != "type"]
    head = "".join(sorted(f"type={canonical_value(t[1])}" for t in types if t[1].strip()))
    value = value.strip()
    if value:
        head += f"{name}={canonical_value(value)}"
    if not head and not others:
        return ""
    return head + "".join(sorted(_generic(c) for c in others))


def _render(node: Node, spec) -> tuple[str, Node | None]:
    """The string of one field, and what is left of it for the event-level rest (see
    `_ordered`)."""
    if spec is None or spec == "time":
        return _leaf(node, spec), None
    if spec == "typed":
        return _typed(node), None
    if spec == "generic":
        return (_generic(node) if node[2] or node[1].strip() else ""), None
    name, value, children = node
    value = value.strip()
    body, residue = _ordered(children, spec)
    if value:
        body = f"={canonical_value(value)}" + body
    return (name + body if body else ""), ((name, "", residue) if residue else None)


def _ordered(children: list[Node], order) -> tuple[str, list[Node]]:
    """Children in `order`, entries of one name sorted among themselves. User extensions
    (``{ns}name``) left over are appended, sorted, at the end of their parent (rule 21).
    Anything else left over (a standard name where it does not belong) is returned, with
    the path of its parents, to be hashed among the event-level extensions, as the
    reference implementation does."""
    out = []
    used: set[int] = set()
    residue: list[Node] = []
    for name, spec in order:
        parts = []
        for i, child in enumerate(children):
            if child[0] == name:
                used.add(i)
                rendered, rest = _render(child, spec)
                if rendered:
                    parts.append(rendered)
                if rest is not None:
                    residue.append(rest)
        out.extend(sorted(parts))
    extensions = []
    for i, child in enumerate(children):
        if i in used:
            continue
        if child[0].startswith("{"):
            extensions.append(_generic(child))
        else:
            residue.append(child)
    return "".join(out) + "".join(sorted(extensions)), residue


def prehash(event: Node) -> str:
    """The pre-hash string of one event node (see module docstring for the node shape)."""
    event_type, _, children = event
    children = [c for c in children if c[0] not in EXCLUDED]
    names = {n for n, _ in CANONICAL_ORDER}
    head, residue = _ordered([c for c in children if c[0] in names], CANONICAL_ORDER)
    rest = [_generic(r) for r in residue]
    for child in children:
        if child[0] in names:
            continue
        spec = SORTED_WITH_EXTENSIONS.get(child[0])
        rendered = _render(child, spec)[0] if spec is not None else _generic(child)
        if rendered:
            rest.append(rendered)
    return f"eventType={event_type}" + head + "".join(sorted(rest))


def event_hash_id(prehash_string: str, algorithm: str = "sha-256") -> str:
    """``ni:///{algorithm};{hex digest}?ver=CBV2.0`` of a pre-hash string (rules 22-24)."""
    try:
        digest = hashlib.new(ALGORITHMS[algorithm], prehash_string.encode("utf-8"))
    except KeyError:
        raise EventHashError(
            f"unknown hash algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
        ) from None
    return f"ni:///{algorithm};{digest.hexdigest()}?ver={CBV_VERSION}"


# ----------------------------------------------------------------------------- JSON reader

_EPC_LISTS = ("epcList", "inputEPCList", "outputEPCList", "childEPCs")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList",
                   "outputQuantityList")
# Standard fields whose JSON-LD term definition types the value as an IRI (@id / @vocab).
IRI_FIELDS = frozenset({
    "certificationInfo", "bizStep", "disposition", "id", "transformationID", "epc", "epcClass",
    "parentID", "bizTransaction", "source", "destination", "bizTransaction.type",
    "source.type", "destination.type", "set", "unset", "deviceID", "deviceMetadata",
    "rawData", "dataProcessingMethod", "bizRules", "sensorReport.type", "exception",
    "coordinateReferenceSystem", "microorganism", "chemicalSubstance", "component", "uriValue",
})
_TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source",
                "destinationList": "destination"}
# Fields read as plain values (one node per list item).
_SIMPLE_FIELDS = frozenset({"eventTime", "eventTimeZoneOffset", "certificationInfo",
                            "parentID", "action", "transformationID", "bizStep", "disposition",
                            "eventID", "recordTime"})


class _JsonReader:
    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefixes = prefixes

    def scoped(self, obj: dict) -> _JsonReader:
        """The reader for `obj`: its own ``@context`` adds prefixes for it and below."""
        context = obj.get("@context")
        if not context:
            return self
        return _JsonReader({**self.prefixes, **_json_prefixes(context, base={})})

    def key(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.prefixes and not local.startswith("//"):
            return "{" + self.prefixes[prefix] + "}" + local
        return key

    def scalar(self, value, field: str | None = None) -> str:
        if type(value) is str:  # the common case, first (the same steps as below)
            text = value.strip()
            bare = BARE_TERMS.get(field) if field is not None else None
            if bare is not None and text in bare[0]:
                return bare[1] + text
            prefix, sep, rest = text.partition(":")
            if sep and not rest.startswith("//"):
                if field in IRI_FIELDS and prefix in self.prefixes:
                    return self.prefixes[prefix] + rest
                if prefix in STANDARD_PREFIXES:
                    return STANDARD_PREFIXES[prefix] + rest
            return text
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return ""
        if isinstance(value, dict):  # a JSON-LD value object
            return self.scalar(value.get("@value", value.get("@id", "")), field)
        text = str(value)
        if isinstance(value, str):
            text = text.strip()
            if field in BARE_TERMS and text in BARE_TERMS[field][0]:
                return BARE_TERMS[field][1] + text
            if field in IRI_FIELDS:  # JSON-LD: compact IRIs of any declared prefix expand
                prefix, sep, rest = text.partition(":")
                if sep and prefix in self.prefixes and not rest.startswith("//"):
                    return self.prefixes[prefix] + rest
            text = _expand_standard_curie(text)
        return text

    def values(self, name: str, value, field: str | None = None) -> list[Node]:
        """Leaf nodes named `name`: one per list item."""
        if type(value) is not list:
            return [(name, self.scalar(value, field or name), [])]
        return [(name, self.scalar(v, field or name), []) for v in value]

    def generic(self, name: str, value) -> list[Node]:
        """Extension content: objects nest, lists repeat the element, scalars are values."""
        if isinstance(value, list):
            return [n for item in value for n in self.generic(name, item)]
        if isinstance(value, dict):
            if "@value" in value:
                return [(name, self.scalar(value["@value"]), [])]
            return [(name, "", self.scoped(value).members(value))]
        return [(name, self.scalar(value), [])]

    def members(self, obj: dict, fields: dict[str, str] | None = None) -> list[Node]:
        """Children of an object; `fields` maps standard member names to their bare-term key."""
        out: list[Node] = []
        for key, value in obj.items():
            if key.startswith("@") or key in COMMENT_KEYS:
                continue
            if fields is not None and key in fields:
                if type(value) is str:  # the common case of `values`, inline
                    out.append((key, self.scalar(value, fields[key]), []))
                else:
                    out.extend(self.values(key, value, fields[key]))
            else:
                out.extend(self.generic(self.key(key), value))
        return out

    def event(self, ev: dict) -> Node:
        reader = self.scoped(ev)
        children: list[Node] = []
        for key, value in ev.items():
            if key in _SIMPLE_FIELDS and type(value) is str:  # `field` -> `values`, inline
                children.append((key, reader.scalar(value, key), []))
                continue
            if key == "type" or key.startswith("@") or key in COMMENT_KEYS:
                continue
            children.extend(reader.field(key, value))
        return (str(ev.get("type", "")), "", children)

    def field(self, key: str, value) -> list[Node]:
        if key in _SIMPLE_FIELDS:
            return self.values(key, value)
        items = value if isinstance(value, list) else [value]
        if key in _EPC_LISTS:
            return [(key, "", [("epc", self.scalar(v, "epc"), []) for v in items])]
        if key in _QUANTITY_LISTS:
            return [(key, "", [("quantityElement", "", self.scoped(q).members(
                q, {"epcClass": "epcClass", "quantity": "quantity", "uom": "uom"}))
                for q in items if isinstance(q, dict)])]
        if key in ("readPoint", "bizLocation") and isinstance(value, dict):
            return [(key, "", self.scoped(value).members(value, {"id": "id"}))]
        if key in _TYPED_LISTS:
            entry = _TYPED_LISTS[key]
            nodes = []
            for item in items:
                if not isinstance(item, dict):
                    continue
                rest = {k: v for k, v in item.items() if k not in ("type", entry)}
                kids = self.values("type", item["type"], f"{entry}.type") if "type" in item \
                    else []
                nodes.append((entry, self.scalar(item.get(entry, ""), entry),
                              kids + self.scoped(item).members(rest)))
            return [(key, "", nodes)]
        if key == "persistentDisposition" and isinstance(value, dict):
            return [(key, "", self.scoped(value).members(value, {"set": "set",
                                                                 "unset": "unset"}))]
        if key == "sensorElementList":
            return [(key, "", [("sensorElement", "", self.scoped(se).sensor_element(se))
                               for se in items if isinstance(se, dict)])]
        if key == "ilmd" and isinstance(value, dict):
            return [(key, "", self.scoped(value).members(value))]
        if key == "errorDeclaration":
            return [(key, "", [])]
        return self.generic(self.key(key), value)

    def sensor_element(self, se: dict) -> list[Node]:
        out: list[Node] = []
        for key, value in se.items():
            if key.startswith("@") or key in COMMENT_KEYS:
                continue
            if key == "sensorMetadata" and isinstance(value, dict):
                fields = {n: n for n, _ in _SENSOR_METADATA}
                out.append(("sensorMetadata", "", self.scoped(value).members(value, fields)))
            elif key == "sensorReport":
                fields = {n: n for n, _ in _SENSOR_REPORT}
                fields["type"] = "sensorReport.type"
                for report in value if isinstance(value, list) else [value]:
                    if isinstance(report, dict):
                        out.append(("sensorReport", "", self.scoped(report).members(report,
                                                                                   fields)))
            else:
                out.extend(self.generic(self.key(key), value))
        return out


def _json_prefixes(context, base: dict[str, str] | None = None) -> dict[str, str]:
    prefixes = dict(DEFAULT_PREFIXES if base is None else base)
    for item in context if isinstance(context, list) else [context]:
        if isinstance(item, dict):
            for key, value in item.items():
                if not key.startswith("@") and isinstance(value, str):
                    prefixes[key] = value
    return prefixes


def _json_event_list(doc) -> list:
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise EventHashError("the JSON document is neither an object nor a list of events")
    if doc.get("type") in EVENT_TYPES:
        return [doc]
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        raise EventHashError("no epcisBody in the JSON document")
    if "eventList" in body:
        return _event_list(body["eventList"], "epcisBody.eventList")
    results = body.get("queryResults")
    if isinstance(results, dict):
        results_body = results.get("resultsBody") or {}
        if not isinstance(results_body, dict):
            raise EventHashError("epcisBody.queryResults.resultsBody is not a JSON object")
        return _event_list(results_body.get("eventList"),
                           "epcisBody.queryResults.resultsBody.eventList")
    if "event" in body:
        return [body["event"]]
    raise EventHashError("no eventList in epcisBody")


def _event_list(value, where: str) -> list:
    if not value:  # absent, null or empty: no events
        return []
    if not isinstance(value, list):
        raise EventHashError(f"{where} is not a JSON array")
    return value


def _read_json(data: bytes, honour_ignore_fields: bool) -> list[tuple[Node, str | None]]:
    try:
        doc = json.loads(data, parse_float=str, parse_constant=str)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventHashError(f"not valid JSON: {exc}") from None
    context = doc.get("@context", []) if isinstance(doc, dict) else []
    reader = _JsonReader(_json_prefixes(context))
    ignored: set[str] = set()
    if honour_ignore_fields and isinstance(doc, dict):
        body = doc.get("epcisBody") if isinstance(doc.get("epcisBody"), dict) else {}
        results = body.get("queryResults") if isinstance(body.get("queryResults"), dict) else {}
        for holder in (doc, results):
            for key, value in holder.items():
                if key.rpartition(":")[2] == "ignoreFields":
                    names = value if isinstance(value, list) else [value]
                    ignored |= {reader.key(str(n)) for n in names}
    events = []
    for position, ev in enumerate(_json_event_list(doc), start=1):
        if not isinstance(ev, dict):
            raise EventHashError(f"an entry of eventList is not a JSON object (event "
                                 f"{position})")
        node = reader.event(ev)
        if ignored:
            node = (node[0], node[1], [c for c in node[2] if c[0] not in ignored])
        event_id = ev.get("eventID")
        events.append((node, str(event_id) if event_id is not None else None))
    return events


# ----------------------------------------------------------------------------- XML reader

_FLATTEN = frozenset({"extension", "baseExtension"})
_DOCUMENT_ATTRIBUTES = frozenset({"schemaVersion", "creationDate"})


def _xml_name(tag) -> str:
    return str(tag)  # lxml gives "{ns}local" for qualified names, "local" otherwise


def _xml_children(el) -> Iterable:
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag in _FLATTEN:  # EPCIS 1.x <extension>/<baseExtension> wrappers
            yield from _xml_children(child)
        else:
            yield child


_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def _xml_node(el, skip_attributes: frozenset[str] = frozenset()) -> Node:
    # xsi:type / xsi:nil / xsi:schemaLocation annotate the XML syntax, not the event.
    children: list[Node] = [(_xml_name(k), _expand_standard_curie(v.strip()), [])
                            for k, v in el.attrib.items()
                            if not k.startswith(_XSI) and k not in skip_attributes]
    children += [_xml_node(c) for c in _xml_children(el)]
    text = (el.text or "").strip()
    return (_xml_name(el.tag), _expand_standard_curie(text), children)


def _read_xml(data: bytes, honour_ignore_fields: bool) -> list[tuple[Node, str | None]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                             remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise EventHashError(f"not well-formed XML: {exc}") from None
    ignored: set[str] = set()
    if honour_ignore_fields:
        for el in root.iter("{*}ignoreFields"):
            if not any(a.tag == "EventList" for a in el.iterancestors()):
                ignored |= {str(c.tag) for c in el if isinstance(c.tag, str)}
    bare = etree.QName(root).localname in EVENT_TYPES
    if bare:
        elements = [root]
    else:
        event_list = next(root.iter("EventList"), None)
        if event_list is None:
            raise EventHashError("no EventList in the XML document")
        elements = list(_xml_children(event_list))
    events = []
    for el in elements:
        # A bare event root may carry the document's own attributes (OpenEPCIS style).
        node = _xml_node(el, _DOCUMENT_ATTRIBUTES if bare else frozenset())
        name = etree.QName(el).localname
        kids = [c for c in node[2] if c[0] not in ignored]
        event_id = next((c[1] for c in kids if c[0] == "eventID"), None)
        events.append(((name, "", kids), event_id))
    return events


# ----------------------------------------------------------------------------- entry points


def _load(source: Path | str | bytes) -> bytes:
    """The document's bytes, refused over `safejson.MAX_BYTES` (InputLimitError)."""
    if isinstance(source, bytes):
        if len(source) > safejson.MAX_BYTES:
            raise InputLimitError("(input)", f"larger than {safejson.MAX_BYTES // 2**20} MB")
        return source
    return safejson.read_bytes(source)


def read_events(source: Path | str | bytes, *,
                honour_ignore_fields: bool = False) -> list[tuple[Node, str | None]]:
    """The events of an EPCIS document (path or bytes) as ``(node, eventID)`` pairs, in
    document order. JSON or XML is recognised from the first non-blank character."""
    data = _load(source)
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _read_xml(data, honour_ignore_fields)
    if head in (b"{", b"["):
        # nested too deep: InputLimitError (unreadable), before any recursion
        safejson.check(data, source="(input)" if isinstance(source, bytes) else str(source))
        return _read_json(data, honour_ignore_fields)
    raise EventHashError("neither JSON nor XML (the content starts with neither '{' nor '<')")


def hash_events(source: Path | str | bytes, *, algorithm: str = "sha-256",
                honour_ignore_fields: bool = False) -> list[HashedEvent]:
    """The Event Hash ID of every event of an EPCIS document, in document order.

    `honour_ignore_fields` reproduces the reference implementation's non-standard
    ``ignoreFields`` document extension (off by default: see docs/epcis-event-hash.md)."""
    out = []
    for position, (node, event_id) in enumerate(
            read_events(source, honour_ignore_fields=honour_ignore_fields), start=1):
        text = prehash(node)
        out.append(HashedEvent(position, node[0], event_id, text,
                               event_hash_id(text, algorithm)))
    return out
