"""Streaming reader of EPCIS 2.0 documents (JSON/JSON-LD and XML) for a dataset's `epcis/`
folder: events -> rows of `flows`, `transformations` and `stocks` (see `rareflow.epcis.mapping`
and docs/epcis-mapping.md).

Documents are never loaded whole:

- JSON: the text is decoded in chunks; the outer objects are walked key by key and each item
  of ``epcisBody.eventList`` (or ``epcisBody.queryResults.resultsBody.eventList``) is parsed
  on its own with the C JSON scanner (``JSONDecoder.raw_decode``), so memory holds one event
  and one chunk, whatever the size of the document. The header (``@context``,
  ``epcisHeader`` with its master data) is read the same way. A bare event or a JSON list of
  events is read too.
- XML: ``lxml.etree.iterparse``; each event element (and each master-data
  ``VocabularyElement``) is handled when it ends, then cleared and detached.

Each event becomes the node tree the Event Hash ID is computed from
(`rareflow.epcis.event_hash`): one shape for both syntaxes, standard vocabulary expanded,
user extensions named ``{namespace}local``.

The reader knows nothing of the store: the identifier mappings (parties, products, known
declaration numbers) are passed in by the caller (`rareflow.ingest.epcis` gathers them from
the store), and it returns rows.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from lxml import etree

from rareflow import safejson
from rareflow.contract import table_spec
from rareflow.epcis.event_hash import (
    DEFAULT_PREFIXES,
    EVENT_TYPES,
    _json_prefixes,
    _JsonReader,
    _leaf,
    _xml_node,
    canonical_timestamp,
    canonical_value,
    event_hash_id,
    prehash,
)
from rareflow.epcis.mapping import (
    EPCIS_TABLES,
    KnownIds,
    Mapper,
    MappingTables,
    Stats,
)

__all__ = ["EPCIS_SUFFIXES", "EPCIS_TABLES", "EpcisRead", "EpcisReadError", "epcis_files",
           "read_epcis"]

EPCIS_SUFFIXES = (".json", ".jsonld", ".xml")
CHUNK = 1 << 20


class EpcisReadError(ValueError):
    """A document (or the rest of it) that cannot be read."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class EpcisRead:
    """What a set of EPCIS documents gave: string tables (contract columns plus `_file`,
    `_line` = the event's 1-based position in its document), rejects and counts."""

    tables: dict[str, pa.Table]
    rejects: list[dict[str, Any]]
    stats: Stats
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)


def epcis_files(folder: Path) -> list[Path]:
    """The EPCIS documents of a dataset's `epcis/` folder (.json, .jsonld, .xml)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in EPCIS_SUFFIXES
                  and not p.name.startswith("."))


# ----------------------------------------------------------------------------- JSON stream

_NONWS = re.compile(r"\S")


class _JsonStream:
    """A cursor over a JSON text read in chunks; values are parsed one at a time."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped before buf
        self.eof = False
        self.json = json.JSONDecoder(parse_float=str, parse_constant=str)

    def _more(self) -> bool:
        if self.eof:
            return False
        data = self.f.read(CHUNK)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise EpcisReadError(f"not UTF-8 text: {exc}") from None
        self.offset += self.pos
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        if not data:
            self.eof = True
        return True

    def peek(self) -> str:
        while True:
            m = _NONWS.search(self.buf, self.pos)
            if m:
                self.pos = m.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self._more():
                return ""

    def take(self, ch: str) -> None:
        c = self.peek()
        if c != ch:
            found = repr(c) if c else "the end of the text"
            raise EpcisReadError(f"not valid JSON: expected {ch!r} at character "
                                 f"{self.offset + self.pos}, found {found}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                obj, end = self.json.raw_decode(self.buf, self.pos)
            except RecursionError:  # far deeper than the limit: json's scanner gave up
                raise EpcisReadError(f"nested deeper than {safejson.MAX_DEPTH} levels at "
                                     f"character {self.offset + self.pos}") from None
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 32
                if cut and self._more():
                    continue
                raise EpcisReadError(f"not valid JSON: {exc.msg} at character "
                                     f"{self.offset + exc.pos}") from None
            if end >= len(self.buf) and not self.eof:  # a number may go on in the next chunk
                self._more()
                continue
            # the depth is measured only when the value holds more brackets than the limit
            # (counted at C speed): no deeper value can hide in fewer
            if (self.buf.count("{", self.pos, end) + self.buf.count("[", self.pos, end)
                    > safejson.MAX_DEPTH
                    and safejson.depth(self.buf[self.pos:end]) > safejson.MAX_DEPTH):
                raise EpcisReadError(f"nested deeper than {safejson.MAX_DEPTH} levels at "
                                     f"character {self.offset + self.pos}")
            self.pos = end
            return obj

    def members(self) -> Iterator[str]:
        """Keys of an object; the caller reads (or descends into) each value."""
        self.take("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise EpcisReadError(f"not valid JSON: an object key must be a string "
                                     f"(character {self.offset + self.pos})")
            self.take(":")
            yield key
            c = self.peek()
            self.pos += 1
            if c == "}":
                return
            if c != ",":
                raise EpcisReadError(f"not valid JSON: expected ',' or '}}' at character "
                                     f"{self.offset + self.pos - 1}")

    def items(self) -> Iterator[None]:
        """Items of an array; the caller reads each value."""
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield None
            c = self.peek()
            self.pos += 1
            if c == "]":
                return
            if c != ",":
                raise EpcisReadError(f"not valid JSON: expected ',' or ']' at character "
                                     f"{self.offset + self.pos - 1}")


Item = tuple[str, Any]  # ("event", dict) | ("context", value) | ("header", dict)


def _json_items(f: IO[bytes]) -> Iterator[Item]:
    s = _JsonStream(f)
    c = s.peek()
    if c == "[":
        for _ in s.items():
            yield ("event", s.value())
        return
    if c != "{":
        raise EpcisReadError("neither JSON nor XML (the content starts with neither '{', '[' "
                             "nor '<')")
    head: dict[str, Any] = {}
    body = False
    for key in s.members():
        if key == "epcisBody":
            body = True
            yield from _json_body(s)
        else:
            head[key] = s.value()
            if key == "@context":
                yield ("context", head[key])
            elif key == "epcisHeader" and isinstance(head[key], dict):
                yield ("header", head[key])
    if s.peek():
        raise EpcisReadError("not valid JSON: text after the document")
    if head.get("type") in EVENT_TYPES or (not body and "eventTime" in head):
        yield ("event", head)  # a bare event (of a standard or an extension type)
    elif not body:
        raise EpcisReadError("not an EPCIS document: no epcisBody and not an event")


def _json_body(s: _JsonStream) -> Iterator[Item]:
    if s.peek() != "{":
        raise EpcisReadError("epcisBody is not an object")
    for key in s.members():
        if key == "eventList" and s.peek() == "[":
            for _ in s.items():
                yield ("event", s.value())
        elif key == "queryResults" and s.peek() == "{":
            for k2 in s.members():
                if k2 == "resultsBody" and s.peek() == "{":
                    for k3 in s.members():
                        if k3 == "eventList" and s.peek() == "[":
                            for _ in s.items():
                                yield ("event", s.value())
                        else:
                            s.value()
                else:
                    s.value()
        elif key == "event":
            yield ("event", s.value())
        else:
            s.value()


# Which events are hashed. The Event Hash ID of an event is needed where it is its id (no
# eventID) and where another event of the read could have the same one: a duplicate, or an
# error declaration and the event it withdraws. Events with the same hash have the same
# pre-hash string, so the same rendering of any of its parts: a first, cheap pass over the
# JSON documents counts a key made of a few of those parts (`_event_key`: the event type,
# eventTime and the quantities, rendered as the pre-hash renders them), and the
# reading pass hashes only the events whose key is not unique. (Two events whose pre-hash
# strings agree but whose keys differ would need their parts to run into one another in the
# concatenated string: a crafted event, which could as well differ by one character.)


_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList",
                   "outputQuantityList")
_PLAIN_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")


def _event_key(reader: _JsonReader, event: dict) -> int:
    """A hash of parts of the event's pre-hash string: its type, its eventTime rendering and
    the rendering of each quantity (`quantity=...`) of each quantity list, each part as the
    pre-hash renders it (empty ones left out, several of one name sorted). Plain values (a
    time stamp, a number) are rendered directly; anything else through the event's nodes."""
    parts: list[object] = [str(event.get("type", ""))]
    scoped: _JsonReader | None = None
    if "eventTime" in event:
        value = event["eventTime"]
        if type(value) is str and _PLAIN_TIME.fullmatch(value):
            parts.append(("eventTime=" + canonical_timestamp(value),))
        else:
            scoped = reader.scoped(event)
            parts.append(tuple(sorted(
                text for node in scoped.field("eventTime", value)
                if (text := _leaf(node, "time")))))
    for name in _QUANTITY_LISTS:
        if name not in event:
            continue
        items = event[name]
        rendered: list[str] = []
        plain = type(items) is list
        if plain:
            for q in items:
                if type(q) is not dict or "@context" in q:
                    plain = False
                    break
                v = q.get("quantity")
                if type(v) is str:
                    text = _leaf(("quantity", reader.scalar(v, "quantity"), []), None)
                elif type(v) is int:
                    text = "quantity=" + canonical_value(str(v))
                elif v is None and "quantity" not in q:
                    continue
                else:
                    plain = False
                    break
                if text:
                    rendered.append(text)
        if not plain:
            scoped = scoped or reader.scoped(event)
            rendered = [text for lst in scoped.field(name, items) for qe in lst[2]
                        for c in qe[2] if c[0] == "quantity" and (text := _leaf(c, None))]
        parts.append((name, *sorted(rendered)))
    return hash(tuple(parts))


def _count_keys(path: Path, counts: dict[int, int]) -> list[int | None]:
    """Add the keys of a JSON document's events to `counts`; the key of each event, by
    position (None: not an object). What cannot be read is left to the reading pass."""
    reader = _JsonReader(dict(DEFAULT_PREFIXES))
    keys: list[int | None] = []
    try:
        with path.open("rb") as f:
            for kind, value in _json_items(f):
                if kind == "context":
                    reader = _JsonReader(_json_prefixes(value))
                elif kind == "event":
                    key = _event_key(reader, value) if isinstance(value, dict) else None
                    keys.append(key)
                    if key is not None:
                        counts[key] = counts.get(key, 0) + 1
    except (EpcisReadError, OSError):
        pass
    return keys


def _read_json(path: Path, mapper: Mapper, counts: dict[int, int] | None = None,
               keys: list[int | None] | None = None) -> int:
    """Read one JSON document into `mapper`. `counts`: the event keys of the whole read
    (`_count_keys`), to hash only the events that need it; None: hash every event. `keys`:
    this document's keys by position, as counted."""
    label = str(path)
    prefixes = dict(DEFAULT_PREFIXES)
    reader = _JsonReader(prefixes)
    position = 0
    with path.open("rb") as f:
        try:
            for kind, value in _json_items(f):
                if kind == "context":
                    prefixes = _json_prefixes(value)
                    reader = _JsonReader(prefixes)
                elif kind == "header":
                    _json_masterdata(value, prefixes, mapper)
                else:
                    position += 1
                    if not isinstance(value, dict):
                        mapper.bad_event(label, position,
                                         "an entry of eventList is not a JSON object")
                        continue
                    node = reader.event(value)
                    event_id = value.get("eventID")
                    event_id = str(event_id) if event_id is not None else None
                    if counts is None or not event_id:
                        hashed = True
                    else:
                        key = (keys[position - 1] if keys is not None
                               and position <= len(keys) else None)
                        if key is None:
                            key = _event_key(reader, value)
                        hashed = counts.get(key, 0) != 1
                    mapper.add_event(label, position, node, event_id,
                                     event_hash_id(prehash(node)) if hashed else None)
        except EpcisReadError as exc:
            mapper.document_problem(label, position + 1 if position else 0,
                                    f"{exc}" + (f"; events after position {position} not read"
                                                if position else ""))
    return position


def _expand(name: str, prefixes: dict[str, str]) -> str:
    prefix, sep, rest = name.partition(":")
    if sep and prefix in prefixes and not rest.startswith("//"):
        return prefixes[prefix] + rest
    return name


def _json_masterdata(header: dict, prefixes: dict[str, str], mapper: Mapper) -> None:
    md = header.get("epcisMasterData")
    if not isinstance(md, dict):
        return
    for vocab in md.get("vocabularyList") or []:
        if not isinstance(vocab, dict):
            continue
        for el in vocab.get("vocabularyElementList") or []:
            if not isinstance(el, dict) or not isinstance(el.get("id"), str):
                continue
            attrs = {}
            for a in el.get("attributes") or []:
                if isinstance(a, dict) and isinstance(a.get("id"), str):
                    v = a.get("attribute")
                    attrs[_expand(a["id"], prefixes)] = v if isinstance(v, str) else str(v)
            children = [c for c in el.get("children") or [] if isinstance(c, str)]
            mapper.add_masterdata(el["id"], attrs, children)


# ----------------------------------------------------------------------------- XML stream


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _is_event(el: Any) -> bool:
    if _local(el.tag) not in EVENT_TYPES:
        return False
    parent = el.getparent()
    while parent is not None and _local(parent.tag) == "extension":
        parent = parent.getparent()
    return parent is None or _local(parent.tag) == "EventList"


def _read_xml(path: Path, mapper: Mapper) -> int:
    label = str(path)
    position = 0
    root_name = ""
    saw_events = False
    in_list = 0
    context = etree.iterparse(str(path), events=("start", "end"), resolve_entities=False,
                              no_network=True, remove_comments=True, remove_pis=True,
                              load_dtd=False)
    try:
        for action, el in context:
            if action == "start":
                if not root_name:
                    root_name = _local(el.tag)
                if _local(el.tag) == "EventList":
                    in_list += 1
                    saw_events = True
                continue
            name = _local(el.tag)
            if name == "EventList":
                in_list -= 1
            elif _is_event(el):
                saw_events = True
                position += 1
                bare = el.getparent() is None
                node = _xml_node(el, frozenset({"schemaVersion", "creationDate"}) if bare
                                 else frozenset())
                node = (name, "", node[2])
                event_id = next((c[1] for c in node[2] if c[0] == "eventID"), None)
                mapper.add_event(label, position, node, event_id or None,
                                 event_hash_id(prehash(node)))
                _drop(el)
            elif name == "VocabularyElement" and not in_list:
                attrs = {a.get("id", ""): (a.text or "").strip()
                         for a in el if _local(a.tag) == "attribute"}
                children = [(c.text or "").strip() for ch in el if _local(ch.tag) == "children"
                            for c in ch if _local(c.tag) == "id"]
                if el.get("id"):
                    mapper.add_masterdata(el.get("id"), attrs, children)
                _drop(el)
    except etree.XMLSyntaxError as exc:
        mapper.document_problem(label, position + 1 if position else 0,
                                f"not well-formed XML: {exc}"
                                + (f"; events after position {position} not read"
                                   if position else ""))
        return position
    if not saw_events and root_name not in ("EPCISMasterDataDocument",):
        mapper.document_problem(label, 0, f"not an EPCIS document: root element {root_name} "
                                          "holds no EventList")
    return position


def _drop(el: Any) -> None:
    """Free an element that has been handled, and its earlier siblings."""
    el.clear(keep_tail=True)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


# ----------------------------------------------------------------------------- entry points


def _syntax(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "xml" if head == b"<" else "json"


def read_epcis(paths: list[Path], tables: MappingTables | None = None,
               known_ids: KnownIds | None = None) -> EpcisRead:
    """Read EPCIS documents into rows of flows, transformations and stocks."""
    mapper = Mapper(tables)
    per_file: dict[str, dict[str, int]] = {}
    syntaxes: dict[Path, str] = {}
    for path in paths:
        try:
            syntaxes[path] = _syntax(path)
        except OSError:
            syntaxes[path] = "json"  # reported below
    # JSON only: hash the events that need it (see `_event_key`); with XML, every event
    counts: dict[int, int] | None = None
    keys: dict[Path, list[int | None]] = {}
    if "xml" not in syntaxes.values():
        counts = {}
        for path in paths:
            keys[path] = _count_keys(path, counts)
    for path in paths:
        before = (mapper.stats.events, len(mapper.rejects))
        try:
            syntax = _syntax(path)
            if syntax == "xml":
                _read_xml(path, mapper)
            else:
                _read_json(path, mapper, counts, keys.get(path))
        except OSError as exc:
            mapper.document_problem(str(path), 0, f"cannot read the file: "
                                                  f"{exc.strerror or exc}")
        mapper.stats.files += 1
        per_file[str(path)] = {"events": mapper.stats.events - before[0]}
    rows = mapper.finish(known_ids)
    for r in mapper.rejects:
        per = per_file.setdefault(str(r["file"]), {"events": 0})
        key = "rejects" if r["level"] == "reject" else "warnings"
        per[key] = per.get(key, 0) + 1
    return EpcisRead({t: _to_arrow(t, rows[t]) for t in EPCIS_TABLES}, mapper.rejects,
                     mapper.stats, per_file)


def _to_arrow(table: str, columns: dict[str, list]) -> pa.Table:
    n = len(columns.get("_line", []))
    names = [*table_spec(table).column_names, "_file"]
    data = {c: pa.array(columns.get(c) or [None] * n, pa.string()) for c in names}
    data["_line"] = pa.array(columns.get("_line", []), pa.int64())
    return pa.table(data)
