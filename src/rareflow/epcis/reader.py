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
user extensions named ``{namespace}local``. JSON documents (a read without XML) are read in
one pass (`FAST_PATH`): an event of a common shape is mapped from the parsed object
(`_facts`, the same values the node gives), and an event is hashed only when it has no
eventID or another event of the read has its key (`_read_json_once`); the same rows as the
node tree and two passes (tests/test_epcis_fast.py).

The reader knows nothing of the store: the identifier mappings (parties, products, known
declaration numbers) are passed in by the caller (`rareflow.ingest.epcis` gathers them from
the store), and it returns rows.
"""

from __future__ import annotations

import codecs
import gc
import json
import re
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from lxml import etree

from rareflow import safejson
from rareflow.contract import table_spec
from rareflow.epcis.event_hash import (
    COMMENT_KEYS,
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
    EPC_LISTS,
    EPCIS_TABLES,
    RF_NS,
    EventRef,
    Facts,
    KnownIds,
    Mapper,
    MappingTables,
    Stats,
    term,
)
from rareflow.epcis.vocab import STANDARD_PREFIXES

__all__ = ["EPCIS_SUFFIXES", "EPCIS_TABLES", "EpcisRead", "EpcisReadError", "epcis_files",
           "read_epcis"]

EPCIS_SUFFIXES = (".json", ".jsonld", ".xml")
CHUNK = 1 << 20
# JSON events of a shape `_facts` knows are mapped from the parsed object, without the node
# tree (the same rows: tests/test_epcis_fast.py compares both ways); False: every event
# through its node (the reference).
FAST_PATH = True


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
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


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
        self.base = 0  # bytes of the file before buf
        self.ascii_end = 0  # buf[:ascii_end] is ASCII: one byte a character
        self.last: tuple[int, int] | None = None  # buf slice of the value read last

    def location(self) -> tuple[int, ...] | None:
        """Where the value read last is in the file, for `_reread`: (byte offset, bytes), or
        (byte offset, characters after it, characters) in text that is not ASCII; None: not
        one value of the text (a bare event, read member by member)."""
        if self.last is None:
            return None
        start, end = self.last
        if end <= self.ascii_end:
            return (self.base + start, end - start)
        return (self.base, start, end - start)

    def _more(self) -> bool:
        if self.eof:
            return False
        data = self.f.read(CHUNK)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise EpcisReadError(f"not UTF-8 text: {exc}") from None
        if not self.offset and not self.buf and data.startswith(codecs.BOM_UTF8):
            self.base = len(codecs.BOM_UTF8)  # read by the decoder, not in the text
        self.base += (self.pos if self.pos <= self.ascii_end
                      else len(self.buf[:self.pos].encode("utf-8", "surrogatepass")))
        self.offset += self.pos
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        m = _NON_ASCII.search(self.buf)
        self.ascii_end = m.start() if m else len(self.buf)
        if not data:
            self.eof = True
        return True

    def peek(self) -> str:
        pos = self.pos
        if pos < len(self.buf) and not self.buf[pos].isspace():  # `_NONWS`, at once
            return self.buf[pos]
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
            self.last = (self.pos, end)
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


def _json_items(f: IO[bytes], streams: list[_JsonStream] | None = None) -> Iterator[Item]:
    """The items of a JSON document; `streams` (if given) receives the stream, whose
    `location` is that of the item just given."""
    s = _JsonStream(f)
    if streams is not None:
        streams.append(s)
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
        s.last = None
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
# a time stamp already in canonical form: canonical_timestamp gives it back unchanged (a
# four-digit year without leading zero, milliseconds, Z; an impossible date is returned as
# given too)
_CANONICAL_TIME = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _event_key(reader: _JsonReader, event: dict) -> int:
    """A hash of parts of the event's pre-hash string: its type, its eventTime rendering and
    the rendering of each quantity (`quantity=...`) of each quantity list, each part as the
    pre-hash renders it (empty ones left out, several of one name sorted). Plain values (a
    time stamp, a number) are rendered directly; anything else through the event's nodes."""
    parts: list[object] = [str(event.get("type", ""))]
    scoped: _JsonReader | None = None
    if "eventTime" in event:
        value = event["eventTime"]
        if type(value) is str and _CANONICAL_TIME.fullmatch(value):
            parts.append(("eventTime=" + value,))
        elif type(value) is str and _PLAIN_TIME.fullmatch(value):
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
                if type(v) is str:  # `_leaf` of the node, for a field without IRIs or terms
                    value = _text_value(reader, v, "quantity")
                    text = "quantity=" + canonical_value(value) if value else ""
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


# The one-pass reading (FAST_PATH, JSON only): the key of each event (`_event_key`) is
# counted as the events come; an event with an eventID whose key no earlier event had is
# mapped without its hash, and remembered (where it is in its file); when a later event has
# the same key, the remembered one is read again from its file and hashed then (its hash
# joins the duplicates seen, or the hashes withdrawn if it is an error declaration), and so
# is every later one. The outcome is that of hashing every event whose key is not unique in
# the read: the first event of a key is never a duplicate of an earlier one, and what is
# withdrawn is only settled in `Mapper.finish`.
class _Firsts:
    """Event key -> the event not yet hashed that first had it, over the whole read; kept
    in arrays (a document of millions of events has as many)."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}  # key -> event number, or -1: every event is hashed
        self.refs: list[EventRef] = []
        self.offsets = array("q")  # `_JsonStream.location`: byte offset
        self.sizes = array("q")  # bytes (or characters when `odd` holds the event)
        self.seen = array("q")  # the `Mapper.seen` entry, < 0: an error declaration
        self.origin = array("l")  # in `origins`
        self.origins: list[tuple[Path, _JsonReader]] = []
        self.odd: dict[int, int] = {}  # event number -> characters after the offset

    def add(self, key: int, ref: EventRef, path: Path, where: tuple[int, ...],
            reader: _JsonReader, seen: int) -> None:
        n = len(self.refs)
        self.index[key] = n
        self.refs.append(ref)
        self.offsets.append(where[0])
        self.sizes.append(where[-1])
        if len(where) == 3:
            self.odd[n] = where[1]
        self.seen.append(seen)
        if not self.origins or self.origins[-1][0] is not path \
                or self.origins[-1][1] is not reader:
            self.origins.append((path, reader))
        self.origin.append(len(self.origins) - 1)

    def settle(self, key: int, mapper: Mapper) -> None:
        """Hash the event that first had `key` if it was read without its hash."""
        n = self.index[key]
        if n < 0:
            return
        self.index[key] = -1
        path, reader = self.origins[self.origin[n]]
        where = ((self.offsets[n], self.odd[n], self.sizes[n]) if n in self.odd
                 else (self.offsets[n], self.sizes[n]))
        node = reader.event(_reread(path, where))
        seen = self.seen[n]
        mapper.settle_hash(self.refs[n], event_hash_id(prehash(node)), seen < 0, seen)


def _read_json_once(path: Path, mapper: Mapper, first: _Firsts) -> int:
    """Read one JSON document into `mapper` in one pass, with `first` of the whole read."""
    label = str(path)
    prefixes = dict(DEFAULT_PREFIXES)
    reader = _JsonReader(prefixes)
    memo = _memo()
    streams: list[_JsonStream] = []
    position = 0
    with path.open("rb") as f:
        try:
            for kind, value in _json_items(f, streams):
                if kind == "context":
                    prefixes = _json_prefixes(value)
                    reader = _JsonReader(prefixes)
                    memo = _memo()
                elif kind == "header":
                    _json_masterdata(value, prefixes, mapper)
                else:
                    position += 1
                    if not isinstance(value, dict):
                        mapper.bad_event(label, position,
                                         "an entry of eventList is not a JSON object")
                        continue
                    event_id = value.get("eventID")
                    event_id = str(event_id) if event_id is not None else None
                    found = _facts(reader, value, memo) if event_id else None
                    if found is not None:
                        facts, key = found
                    else:
                        facts, key = None, _event_key(reader, value)
                    if key in first.index:
                        first.settle(key, mapper)
                    elif event_id and (where := streams[0].location()) is not None:
                        if facts is not None:
                            ref = mapper.add_facts(label, position, facts, event_id)
                        else:
                            ref = mapper.add_event(label, position, reader.event(value),
                                                   event_id, None)
                        first.add(key, ref, path, where, reader,
                                  -1 if "errorDeclaration" in value
                                  else ((len(mapper.files) - 1) << 40) | position)
                        continue
                    else:  # hashed now (an event whose key is unique could be too)
                        first.index[key] = -1
                    node = reader.event(value)
                    mapper.add_event(label, position, node, event_id,
                                     event_hash_id(prehash(node)))
        except EpcisReadError as exc:
            mapper.document_problem(label, position + 1 if position else 0,
                                    f"{exc}" + (f"; events after position {position} not read"
                                                if position else ""))
    return position


def _reread(path: Path, where: tuple[int, ...]) -> Any:
    """The JSON value at `where` (`_JsonStream.location`) of a file."""
    with path.open("rb") as f:
        f.seek(where[0])
        if len(where) == 2:
            text = f.read(where[1]).decode("utf-8")
        else:
            start, size = where[1], where[2]
            decoder = codecs.getincrementaldecoder("utf-8")()
            parts: list[str] = []
            have = 0
            while have < start + size:
                data = f.read(CHUNK)
                parts.append(decoder.decode(data, final=not data))
                have += len(parts[-1])
                if not data:
                    break
            text = "".join(parts)[start:start + size]
    return json.loads(text, parse_float=str, parse_constant=str)


# Members of an event that `_facts` reads; the other members the node tree reads by their own
# name (`_JsonReader.field`) give nodes the mapping does not look at.
_TEXT_FIELDS = frozenset({"bizStep", "action", "eventTime", "eventTimeZoneOffset",
                          "transformationID"})
_NODE_FIELDS = frozenset({"eventID", "recordTime", "disposition", "certificationInfo",
                          "parentID", "persistentDisposition", "sensorElementList", "ilmd",
                          "type"})
_QUANTITY_FIELDS = ("epcClass", "quantity", "uom")
_PLACES = ("readPoint", "bizLocation")
_SIDES = {"sourceList": "source", "destinationList": "destination"}
_RF_NAME = "{" + RF_NS + "}"
_SCALAR = (str, int, float, bool, type(None))


def _facts(reader: _JsonReader, ev: dict, memo: dict[str, dict]) -> tuple[Facts, int] | None:
    """The `Facts` of a JSON event, as `node_facts(reader.event(ev))` would give them, and
    its key, as `_event_key(reader, ev)` would give it; or None for a shape left to the node
    tree (a scoped ``@context``, an errorDeclaration, a list or an object where the common
    shape has a value, ...). `memo`: what was already worked out with this `reader`, by
    field (`_memo`)."""
    shapes = memo["shape"]
    names = tuple(ev)
    shape = shapes.get(names)
    if shape is None:
        shape = _remember(shapes, names, _shape(reader, names))
    if shape is False:
        return None
    f = Facts(str(ev.get("type", "")))
    timed = False
    rendered: dict[str, list[str]] = {}
    for key, code, local in shape:
        value = ev[key]
        if code <= _TID:
            if type(value) is not str:
                return None
            if code == _STEP:
                cache = memo["bizStep"]
                step = cache.get(value)
                if step is None:
                    step = _remember(cache, value, term(reader.scalar(value, key).strip()
                                                        or None))
                f.step = step
            elif code == _TID:
                f.tid = reader.scalar(value, key).strip() or None
            else:
                text = _text_value(reader, value, key)
                if code == _ACTION:
                    f.action = (text or "").upper()
                elif code == _TIME:
                    f.time = text
                    timed = True
                else:
                    f.offset = text
        elif code == _QUANTITIES:
            if type(value) is not list:
                return None
            elements = []
            quantities = []
            classes = memo["epcClass"]
            for q in value:
                if type(q) is not dict:
                    if isinstance(q, dict):
                        return None
                    continue  # not an object: no quantity element (as in the node tree)
                if "@context" in q:
                    return None
                v = q.get("epcClass")
                if type(v) is str:
                    epc_class = classes.get(v)
                    if epc_class is None:
                        epc_class = _remember(classes, v, reader.scalar(v, "epcClass").strip())
                    epc_class = epc_class or None
                elif v is None and "epcClass" not in q:
                    epc_class = None
                elif type(v) in _SCALAR and v is not None:
                    epc_class = reader.scalar(v, "epcClass").strip() or None
                else:
                    return None
                texts = [epc_class]
                for name in ("quantity", "uom"):
                    v = q.get(name)
                    if v is None:
                        if name in q:
                            return None
                        texts.append(None)
                    elif type(v) is int:
                        texts.append(str(v))
                    elif type(v) in _SCALAR:
                        texts.append(_text_value(reader, v, name))
                    else:
                        return None
                if texts[1]:
                    quantities.append("quantity=" + canonical_value(texts[1]))
                elements.append((epc_class, texts[1], texts[2]))
            f.quantities[key] = elements
            rendered[key] = quantities
        elif code == _EPCS:
            f.epcs[key] = [reader.scalar(v, "epc") for v in (value if isinstance(value, list)
                                                             else [value])]
        elif code == _PLACE:
            if type(value) is not dict or "@context" in value:
                return None
            v = value.get("id")
            if type(v) is str:
                cache = memo["id"]
                text = cache.get(v)
                if text is None:
                    text = _remember(cache, v, reader.scalar(v, "id").strip())
                text = text or None
            elif v is None:
                if "id" in value:
                    return None
                text = None
            elif type(v) in _SCALAR:
                text = reader.scalar(v, "id").strip() or None
            else:
                return None
            if key == "readPoint":
                f.read_point = text
            else:
                f.biz_location = text
        elif code == _SIDE:
            entry = _SIDES[key]
            kinds = memo[entry + ".type"]
            uris = memo[entry]
            entries = []
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict):
                    continue
                kind = ""
                if "type" in item:
                    t = item["type"]
                    if type(t) is str:
                        kind = kinds.get(t)
                        if kind is None:
                            kind = _remember(kinds, t, sys.intern(term(
                                reader.scalar(t, entry + ".type").strip() or None)))
                    elif isinstance(t, list):
                        return None
                    else:
                        kind = sys.intern(term(reader.scalar(t, entry + ".type").strip()
                                               or None))
                v = item.get(entry, "")
                if type(v) is str:
                    uri = uris.get(v)
                    if uri is None:
                        uri = _remember(uris, v, sys.intern(reader.scalar(v, entry).strip()))
                else:
                    uri = sys.intern(reader.scalar(v, entry).strip())
                entries.append((kind, uri))
            if key == "sourceList":
                f.sources = tuple(entries)
            else:
                f.destinations = tuple(entries)
        else:  # a rareflow extension (`mapping._exts`)
            if type(value) not in _SCALAR:
                return None
            text = _text_value(reader, value, None)
            if text and local not in f.exts:
                f.exts[local] = text
    # the key, as `_event_key` renders it
    parts: list[object] = [f.event_type]
    if timed:
        t = f.time
        parts.append((("eventTime=" + (t if _CANONICAL_TIME.fullmatch(t)
                                        else canonical_timestamp(t))),) if t else ())
    for name in _QUANTITY_LISTS:
        if name in rendered:
            parts.append((name, *sorted(rendered[name])))
    return f, hash(tuple(parts))


# What `_facts` does with each member of an event (`_shape`).
_STEP, _ACTION, _TIME, _OFFSET, _TID, _QUANTITIES, _EPCS, _PLACE, _SIDE, _EXTENSION = range(10)
_CODES = {"bizStep": _STEP, "action": _ACTION, "eventTime": _TIME,
          "eventTimeZoneOffset": _OFFSET, "transformationID": _TID,
          **dict.fromkeys(_QUANTITY_LISTS, _QUANTITIES), **dict.fromkeys(EPC_LISTS, _EPCS),
          **dict.fromkeys(_PLACES, _PLACE), **dict.fromkeys(_SIDES, _SIDE)}


def _shape(reader: _JsonReader, names: tuple[str, ...]) -> list | bool:
    """The members `_facts` reads of an event with these member names, in their order:
    (name, what, local name of a rareflow extension); False: an event left to the node
    tree."""
    if "@context" in names or "errorDeclaration" in names:
        return False
    out = []
    for key in names:
        code = _CODES.get(key)
        if code is not None:
            out.append((key, code, None))
        elif key in _NODE_FIELDS or key.startswith("@") or key in COMMENT_KEYS:
            continue
        else:
            name = reader.key(key)
            local = (name[len(_RF_NAME):] if name.startswith(_RF_NAME)
                     else name[len(RF_NS):] if name.startswith(RF_NS) else None)
            if local is not None:
                out.append((key, _EXTENSION, local))
    return out


_MEMO_FIELDS = ("bizStep", "epcClass", "id", "source", "destination", "source.type",
                "destination.type", "shape")
_MEMO_SIZE = 1 << 16


def _memo() -> dict[str, dict]:
    """Rendered values by field, for `_facts` (one set per JSON-LD context)."""
    return {name: {} for name in _MEMO_FIELDS}


def _remember(cache: dict, key: Any, value: Any) -> Any:
    if len(cache) >= _MEMO_SIZE:  # bounded: a document of distinct values does not grow it
        cache.clear()
    cache[key] = value
    return value


_STANDARD_CURIES = tuple(prefix + ":" for prefix in STANDARD_PREFIXES)


def _text_value(reader: _JsonReader, value: Any, field: str | None) -> str | None:
    """`reader.scalar(value, field)`, stripped, None when empty, for a field that is neither
    IRI-typed nor has bare terms: a string that starts with no standard CURIE prefix is
    only stripped."""
    if type(value) is str:
        text = value.strip()
        if text.startswith(_STANDARD_CURIES):
            text = reader.scalar(value, field).strip()
        return text or None
    return reader.scalar(value, field).strip() or None


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
    # the cyclic collector paused: the read builds millions of objects that live to its end
    # and holds no cycles; every full collection would walk all of them again
    paused = gc.isenabled()
    gc.disable()
    try:
        return _read_epcis(paths, tables, known_ids)
    finally:
        if paused:
            gc.enable()


def _read_epcis(paths: list[Path], tables: MappingTables | None,
                known_ids: KnownIds | None) -> EpcisRead:
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
    once = FAST_PATH and "xml" not in syntaxes.values()
    first = _Firsts()
    if "xml" not in syntaxes.values() and not once:
        counts = {}
        for path in paths:
            keys[path] = _count_keys(path, counts)
    for path in paths:
        before = (mapper.stats.events, len(mapper.rejects))
        try:
            syntax = _syntax(path)
            if syntax == "xml":
                _read_xml(path, mapper)
            elif once:
                _read_json_once(path, mapper, first)
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
