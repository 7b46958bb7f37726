"""EPCIS 2.0 events -> rows of the rareflow tables `flows`, `transformations` and `stocks`.

Every rule is written down in docs/epcis-mapping.md. In short:

- shipping / receiving ObjectEvents, TransactionEvents and AggregationEvents -> `flows`
  (``retail_selling`` -> a sale to final customers, `to_id` empty); a receiving event that
  repeats a shipping event (same receiver, product, lot and quantity, and the same sender
  when it names one) is not a second flow;
- TransformationEvents, joined by `transformationID` -> `transformations`;
- ``stock_taking`` / ``cycle_counting`` ObjectEvents -> `stocks`;
- parties and locations (PGLN, SGLN, GLN, their EPC URNs and Digital Links, and rareflow's own
  ``urn:rareflow:party:`` / ``urn:rareflow:site:`` URIs) -> `party_id` through the dataset's
  `epcis_parties` table, then the documents' master data;
- `epcClass` -> product through the `gtin` column of the dataset's `products` table (or a
  ``urn:rareflow:class:`` URI); its lot -> `source_ref` / `input_ref`;
- an event that cannot be mapped is a reject naming the file, the event's position and its
  eventID (or Event Hash ID) and the reason; an event outside the mapping (packing,
  inspecting, sensor readings...) and a duplicate (same Event Hash ID) are warnings.

Events are fed one at a time (`Mapper.add_event` with the event's node, or `Mapper.add_facts`
with what the mapping reads of it, `Facts`); what needs the whole document set (party
master data, receipts that repeat a shipment, lot links) is settled in `Mapper.finish`.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import quote, unquote

from rareflow.epcis.digital_link import canonical_digital_link

__all__ = [
    "EPCIS_TABLES",
    "RF_NS",
    "MappingTables",
    "Mapper",
    "class_uri",
    "flow_event_id",
    "party_uri",
    "site_uri",
    "transformation_uri",
]

EPCIS_TABLES = ("flows", "transformations", "stocks")

# rareflow's own identifiers (written by `rareflow epcis export`, read back exactly).
RF_NS = "urn:rareflow:epcis:"  # extension fields and master-data attributes
PARTY = "urn:rareflow:party:"
SITE = "urn:rareflow:site:"
CLASS = "urn:rareflow:class:"
LOT_SEP = ":lot:"
FLOW = "urn:rareflow:flow:"
TRANSFORMATION = "urn:rareflow:transformation:"
PARTY_ID_ATTRIBUTE = RF_NS + "partyId"

SCRAP_PRODUCT = "magnet_scrap"  # the scrap the analyses value (flow_content.py)
MOVE_STEPS = {"shipping": "shipping", "receiving": "receiving", "retail_selling": "sale"}
STOCK_STEPS = frozenset({"stock_taking", "cycle_counting"})
MOVE_TYPES = frozenset({"ObjectEvent", "TransactionEvent", "AggregationEvent"})
# Units of measure (UN/CEFACT Rec. 20): masses in kg per unit; counts (pieces).
MASS_UOM = {"KGM": Decimal(1), "GRM": Decimal("0.001"), "MGM": Decimal("0.000001"),
            "TNE": Decimal(1000), "DTN": Decimal(100), "KTN": Decimal(1000000),
            "LBR": Decimal("0.45359237"), "ONZ": Decimal("0.028349523125")}
COUNT_UOM = frozenset({"", "H87", "C62", "EA", "NAR"})

Node = tuple[str, str, list]
# Which of some lot numbers name a record the dataset already holds (a declaration_id...).
KnownIds = Callable[[set[str]], set[str]]

_CBV_WEB = re.compile(r"^(?:https?://ref\.gs1\.org/cbv/|cbv:)(?:BizStep|Disp|SDT|BTT|ER)-(.+)$")
_CBV_URN = re.compile(r"^urn:epcglobal:cbv:(?:bizstep|disp|sdt|btt|er):(.+)$")
_GTIN_DL = re.compile(r"^https://id\.gs1\.org/01/(\d{14})(?:/(10|21)/([^/]+))?$")
# eventTime in UTC (Z) with eventTimeZoneOffset UTC or absent: its date is its first ten
# characters (`event_date`)
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z")
_UTC_OFFSETS = frozenset({None, "+00:00", "-00:00", "+0000", "-0000", "Z"})
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_GLN_DL = re.compile(r"^https://id\.gs1\.org/(414|417)/(\d{13})(?:/254/[^/]+)?$")


# ----------------------------------------------------------------------------- identifiers


def _q(value: str) -> str:
    return quote(value, safe="")


def party_uri(party_id: str) -> str:
    return PARTY + _q(party_id)


def site_uri(party_id: str) -> str:
    return SITE + _q(party_id)


def class_uri(product: str, lot: str | None = None) -> str:
    return CLASS + _q(product) + (LOT_SEP + _q(lot) if lot else "")


def flow_event_id(flow_id: str) -> str:
    return FLOW + _q(flow_id)


def transformation_uri(transformation_id: str) -> str:
    return TRANSFORMATION + _q(transformation_id)


def record_id(uri: str) -> str:
    """`flow_id` / `transformation_id` of an eventID or transformationID: the rareflow id for
    ``urn:rareflow:flow:``/``urn:rareflow:transformation:`` URIs, else the URI itself."""
    for prefix in (FLOW, TRANSFORMATION):
        if uri.startswith(prefix):
            return unquote(uri[len(prefix):])
    return uri


@lru_cache(maxsize=1 << 14)
def term(value: str | None) -> str:
    """A CBV term in its bare form: ``shipping`` for ``https://ref.gs1.org/cbv/BizStep-shipping``,
    ``urn:epcglobal:cbv:bizstep:shipping`` or ``cbv:BizStep-shipping``; other values as given."""
    v = (value or "").strip()
    m = _CBV_WEB.match(v) or _CBV_URN.match(v)
    return m.group(1) if m else v


def normalise_gtin(value: str) -> str | None:
    v = re.sub(r"[\s.-]", "", value)
    return v.zfill(14) if v.isdigit() and len(v) in (8, 12, 13, 14) else None


def identifier_keys(value: str) -> list[str]:
    """The lookup keys of a party or location identifier, most specific first."""
    v = value.strip()
    if re.fullmatch(r"\d{13}", v):  # a bare GLN names the party and its location alike
        return [f"https://id.gs1.org/417/{v}", f"https://id.gs1.org/414/{v}"]
    canon = canonical_digital_link(v) or v
    keys = [canon]
    m = _GLN_DL.match(canon)
    if m and "/254/" in canon:  # a sub-location: fall back to the GLN of its site
        keys.append(f"https://id.gs1.org/414/{m.group(2)}")
    return keys


# ----------------------------------------------------------------------------- node access


def _kids(node: Node, name: str) -> list[Node]:
    return [c for c in node[2] if c[0] == name]


def _text(node: Node, name: str) -> str | None:
    for c in node[2]:
        if c[0] == name and c[1].strip():
            return c[1].strip()
    return None


_RF_EXPANDED = f"{{{RF_NS}}}"


def _exts(node: Node) -> dict[str, str]:
    """The event-level rareflow extension fields by local name: the first non-empty value
    of each (``rf:local`` in any spelling)."""
    out: dict[str, str] = {}
    for c in node[2]:
        name = c[0]
        if name.startswith(_RF_EXPANDED):
            local = name[len(_RF_EXPANDED):]
        elif name.startswith(RF_NS):
            local = name[len(RF_NS):]
        else:
            continue
        if local not in out and c[1].strip():
            out[local] = c[1].strip()
    return out


def _id_of(node: Node, name: str) -> str | None:
    for c in _kids(node, name):
        v = c[1].strip() or (_text(c, "id") or "")
        if v:
            return v
    return None


def _typed_list(node: Node, list_name: str, entry: str) -> tuple[tuple[str, str], ...]:
    out = []
    for lst in _kids(node, list_name):
        for e in _kids(lst, entry):
            out.append((sys.intern(term(_text(e, "type"))), sys.intern(e[1].strip())))
    return tuple(out)


def event_date(node: Node) -> str | None:
    """The event's local date (eventTime in eventTimeZoneOffset), YYYY-MM-DD."""
    return _local_date(_text(node, "eventTime"), _text(node, "eventTimeZoneOffset"))


def _local_date(text: str | None, offset: str | None) -> str | None:
    """`event_date` of an eventTime and an eventTimeZoneOffset (each stripped, None when
    empty)."""
    if not text:
        return None
    if (offset in _UTC_OFFSETS and _UTC_TIME.fullmatch(text)
            and "01" <= text[5:7] <= "12" and "01" <= text[8:10] <= "28"):
        return text[:10]  # a UTC time read in UTC: its own date (a day that every month has)
    try:
        ts = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if offset:
        m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", offset)
        if m:
            delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
            tz = timezone(delta if m.group(1) == "+" else -delta)
            ts = ts.replace(tzinfo=ts.tzinfo or UTC).astimezone(tz)
    return ts.date().isoformat()


def _dec(value: str) -> Decimal | None:
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _fmt(d: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros."""
    text = format(d.normalize(), "f")
    return text


# ----------------------------------------------------------------------------- event facts

QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList",
                  "outputQuantityList")
EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")


class Facts:
    """What the mapping reads of one event, each value as `_text` / `_id_of` / `_exts` /
    `_typed_list` give it from the event's node: `node_facts` takes them from the node; the
    JSON reader takes them straight from the parsed object for the events whose shape it
    knows (`rareflow.epcis.reader`), without building the node."""

    __slots__ = ("action", "biz_location", "destinations", "epcs", "event_type", "exts",
                 "offset", "quantities", "read_point", "sources", "step", "tid", "time")

    def __init__(self, event_type: str, step: str = "", action: str = "",
                 time: str | None = None, offset: str | None = None,
                 quantities: dict[str, list[tuple[str | None, str | None, str | None]]]
                 | None = None,
                 epcs: dict[str, list[str]] | None = None, exts: dict[str, str] | None = None,
                 read_point: str | None = None, biz_location: str | None = None,
                 sources: tuple[tuple[str, str], ...] = (),
                 destinations: tuple[tuple[str, str], ...] = (),
                 tid: str | None = None) -> None:
        self.event_type = event_type
        self.step = step  # term() of bizStep
        self.action = action  # upper case
        self.time = time
        self.offset = offset
        # list name -> (epcClass, quantity, uom) of each quantity element
        self.quantities = quantities if quantities is not None else {}
        self.epcs = epcs if epcs is not None else {}  # list name -> EPC values (unstripped)
        self.exts = exts if exts is not None else {}
        self.read_point = read_point
        self.biz_location = biz_location
        self.sources = sources
        self.destinations = destinations
        self.tid = tid


def node_facts(node: Node) -> Facts:
    """The `Facts` of an event node."""
    return Facts(
        node[0], term(_text(node, "bizStep")), (_text(node, "action") or "").upper(),
        _text(node, "eventTime"), _text(node, "eventTimeZoneOffset"),
        {name: [(_text(qe, "epcClass"), _text(qe, "quantity"), _text(qe, "uom"))
                for lst in _kids(node, name) for qe in _kids(lst, "quantityElement")]
         for name in QUANTITY_LISTS},
        {name: [epc[1] for lst in _kids(node, name) for epc in _kids(lst, "epc")]
         for name in EPC_LISTS},
        _exts(node), _id_of(node, "readPoint"), _id_of(node, "bizLocation"),
        _typed_list(node, "sourceList", "source"),
        _typed_list(node, "destinationList", "destination"),
        _text(node, "transformationID"))


# ----------------------------------------------------------------------------- records


@dataclass(slots=True)
class EventRef:
    file: str
    position: int
    event_id: str | None
    # of the Event Hash ID (kept small: events are many); None when it was not computed:
    # the event has an eventID and no other event could have the same hash (reader.py)
    digest: bytes | None

    @property
    def hash_id(self) -> str:
        if self.digest is None:  # the reader hashes every event without an eventID
            raise ValueError(f"event {self.event_id} was read without its Event Hash ID")
        return f"ni:///sha-256;{self.digest.hex()}?ver=CBV2.0"

    @property
    def label(self) -> str:
        return self.event_id or self.hash_id

    @property
    def record(self) -> str:
        """The id of the rows it gives: its eventID (rareflow URIs decoded), else its hash."""
        return record_id(self.event_id) if self.event_id else self.hash_id


@dataclass(slots=True)
class Quantity:
    product: str
    amount: str  # in the product's unit: kg or pieces
    is_mass: bool
    lot_key: str | None  # canonical class-level id of the lot (None: no lot)
    lot_number: str | None  # GS1: the AI 10 value; rareflow class: the record id it names
    explicit: bool  # a rareflow class URI: the lot *is* the source_ref


@dataclass(slots=True)
class Move:
    kind: str  # shipping, receiving, sale
    ref: EventRef
    date: str
    sources: tuple[tuple[str, str], ...]
    destinations: tuple[tuple[str, str], ...]
    point: str | None  # readPoint, else bizLocation
    quantities: list[Quantity]
    extras: dict[str, str] | None


@dataclass(slots=True)
class Count:
    ref: EventRef
    date: str
    places: list[str]  # bizLocation, readPoint, owning/possessing parties
    quantities: list[Quantity]


@dataclass
class Transformation:
    tid: str
    refs: list[EventRef] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    places: list[list[str]] = field(default_factory=list)  # per event, by priority
    event_inputs: list[list[Quantity]] = field(default_factory=list)
    event_outputs: list[list[Quantity]] = field(default_factory=list)

    @property
    def inputs(self) -> list[Quantity]:
        return [q for qs in self.event_inputs for q in qs]

    @property
    def outputs(self) -> list[Quantity]:
        return [q for qs in self.event_outputs for q in qs]


@dataclass(slots=True)
class FlowRow:
    flow_id: str
    date: str
    from_id: str | None
    to_id: str | None
    q: Quantity
    kind: str
    ref: EventRef
    extras: dict[str, str]
    source_ref: str | None = None


@dataclass
class MappingTables:
    """What the dataset says about identifiers, read before the documents."""

    parties: dict[str, str] = field(default_factory=dict)  # lookup key -> party_id
    gtins: dict[str, str] = field(default_factory=dict)  # GTIN-14 -> product
    units: dict[str, str] = field(default_factory=dict)  # product -> kg | unit
    content: dict[str, float] = field(default_factory=dict)  # product -> re_kg_per_unit

    @classmethod
    def build(cls, party_rows: list[tuple[str, str]], product_rows: list[dict]) -> MappingTables:
        """`party_rows`: (gln_or_uri, party_id); `product_rows`: dicts with product, unit,
        re_kg_per_unit and optionally gtin (';'-separated)."""
        out = cls()
        for ident, party in party_rows:
            for key in identifier_keys(ident)[:2 if re.fullmatch(r"\d{13}", ident.strip())
                                              else 1]:
                out.parties.setdefault(key, party)
        for row in product_rows:
            product = row.get("product")
            if not product:
                continue
            if row.get("unit"):
                out.units[product] = str(row["unit"])
            try:
                out.content[product] = float(row.get("re_kg_per_unit") or 0)
            except (TypeError, ValueError):
                out.content[product] = 0.0
            for g in str(row.get("gtin") or "").split(";"):
                gtin = normalise_gtin(g) if g.strip() else None
                if gtin:
                    out.gtins.setdefault(gtin, product)
        return out


@dataclass
class Stats:
    """Event counts of one read (for reports and tests)."""

    files: int = 0
    events: int = 0
    mapped: int = 0  # events that gave at least one row
    rejected: int = 0  # events set aside with a reason (level reject)
    not_mapped: int = 0  # events outside the mapping (warning)
    duplicates: int = 0
    retracted: int = 0  # error declarations and the events they withdraw
    receipts_merged: int = 0  # receiving events that repeat a shipping event
    unreadable: int = 0  # documents (or their remainder) that could not be read
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EPCIS_TABLES, 0))


class _Rejected(Exception):
    def __init__(self, table: str, column: str, reason: str) -> None:
        super().__init__(reason)
        self.table, self.column, self.reason = table, column, reason


# ----------------------------------------------------------------------------- the mapper


class Mapper:
    """Feed it events (`add_event`), master data (`add_masterdata`); `finish` gives rows."""

    def __init__(self, tables: MappingTables | None = None) -> None:
        self.tables = tables or MappingTables()
        self.masterdata: dict[str, str] = {}  # lookup key -> party_id (from the documents)
        self.md_children: list[tuple[str, str]] = []  # (parent id, child id)
        self.rejects: list[dict] = []
        self.stats = Stats()
        self.moves: list[Move] = []
        self.counts: list[Count] = []
        self.transformations: dict[str, Transformation] = {}
        self.seen: dict[bytes, int] = {}  # hash digest -> file index << 40 | position
        self.files: list[str] = []
        self.retracted_hashes: set[bytes] = set()
        self.retracted_ids: set[str] = set()
        self._party_cache: dict[str, str | None] = {}
        self._products: dict[str, tuple[str, str | None, str | None, bool]] = {}
        self.skipped: dict[tuple[str, str], list] = {}  # (file, reason) -> [count, first]

    # --- input ------------------------------------------------------------------------
    def reject(self, ref: EventRef | None, table: str, column: str, reason: str, *,
               file: str | None = None, position: int = 0, level: str = "reject") -> None:
        self.rejects.append({
            "table": table, "file": ref.file if ref else file, "line":
            ref.position if ref else position, "column": column, "reason": reason,
            "value": ref.label if ref else None, "level": level})

    def add_masterdata(self, element_id: str, attributes: dict[str, str],
                       children: list[str]) -> None:
        """One vocabulary element: an attribute ``urn:rareflow:epcis:partyId`` names its
        party; its children (sub-locations) belong to the same party."""
        party = attributes.get(PARTY_ID_ATTRIBUTE)
        if party:
            for key in identifier_keys(element_id)[:1]:
                self.masterdata.setdefault(key, party.strip())
        self.md_children.extend((element_id, c) for c in children)

    def document_problem(self, file: str, position: int, reason: str) -> None:
        self.stats.unreadable += 1
        self.reject(None, "epcis", "", reason, file=file, position=position)

    def bad_event(self, file: str, position: int, reason: str) -> None:
        self.stats.events += 1
        self.stats.rejected += 1
        self.reject(None, "epcis", "", reason, file=file, position=position)

    def add_event(self, file: str, position: int, node: Node, event_id: str | None,
                  hash_id: str | None) -> EventRef:
        """One event. `hash_id`: its Event Hash ID; None only when the caller knows that no
        other event of the read can have the same (so it can be neither a duplicate nor
        withdrawn by hash) and the event has an eventID."""
        self.stats.events += 1
        digest = _digest(hash_id) if hash_id is not None else None
        if digest is None and not event_id:
            raise ValueError("an event without eventID needs its Event Hash ID")
        ref = EventRef(_intern(file), position, event_id, digest)
        if any(c[0] == "errorDeclaration" for c in node[2]):
            if digest is not None:
                self.retracted_hashes.add(digest)
            if event_id:
                self.retracted_ids.add(event_id)
            self.stats.retracted += 1
            self.reject(ref, "epcis", "errorDeclaration",
                        "error declaration: this event and the event it corrects (same Event "
                        "Hash ID or eventID) are not used", level="warning")
            return ref
        first = self.seen.get(digest) if digest is not None else None
        if first is not None:
            self.stats.duplicates += 1
            self.reject(ref, "epcis", "eventID",
                        f"duplicate event (same Event Hash ID as position {first & 0xFFFFFFFFFF} "
                        f"of {self.files[first >> 40]}): dropped", level="warning")
            return ref
        if not self.files or self.files[-1] != ref.file:
            self.files.append(ref.file)
        if digest is not None:
            self.seen[digest] = ((len(self.files) - 1) << 40) | position
        try:
            self._dispatch(node_facts(node), ref)
        except _Rejected as exc:
            self.stats.rejected += 1
            self.reject(ref, exc.table, exc.column, exc.reason)
        return ref

    def settle_hash(self, ref: EventRef, hash_id: str, declaration: bool, seen: int) -> None:
        """The Event Hash ID of an event added without it (`add_event` with hash_id None, or
        `add_facts`), once the reader knows that another event may have the same: what
        `add_event` would have done with it. `declaration`: the event is an error
        declaration; `seen`: its entry for `self.seen` as it was added (file index << 40 |
        position)."""
        digest = _digest(hash_id)
        ref.digest = digest
        if declaration:
            self.retracted_hashes.add(digest)
        else:
            self.seen.setdefault(digest, seen)

    def add_facts(self, file: str, position: int, facts: Facts, event_id: str) -> EventRef:
        """One event given by its `Facts` (the JSON reader's fast path): what `add_event`
        does for an event with an eventID, no errorDeclaration and no Event Hash ID (no
        other event of the read can have the same one)."""
        self.stats.events += 1
        ref = EventRef(_intern(file), position, event_id, None)
        if not self.files or self.files[-1] != ref.file:
            self.files.append(ref.file)
        try:
            self._dispatch(facts, ref)
        except _Rejected as exc:
            self.stats.rejected += 1
            self.reject(ref, exc.table, exc.column, exc.reason)
        return ref

    def _dispatch(self, f: Facts, ref: EventRef) -> None:
        event_type, step, action = f.event_type, f.step, f.action
        if event_type == "TransformationEvent":
            self._transformation(f, ref)
            return
        if event_type in MOVE_TYPES and step in MOVE_STEPS:
            if action == "DELETE":
                self._skip(ref, f"{event_type} with action DELETE ({step}): it undoes an "
                                "association, it moves nothing")
                return
            self._move(event_type, f, ref, MOVE_STEPS[step])
            return
        if event_type == "ObjectEvent" and step in STOCK_STEPS:
            self._count(f, ref)
            return
        what = f"bizStep {step}" if step else "no bizStep"
        self._skip(ref, f"{event_type} with {what}: not a movement (shipping, receiving, "
                        "retail_selling), a transformation or a stock count (stock_taking, "
                        "cycle_counting)")

    def _skip(self, ref: EventRef, reason: str) -> None:
        """Events outside the mapping: one warning per file and reason (a document of a
        million sensor readings gives one row, not a million)."""
        self.stats.not_mapped += 1
        key = (ref.file, reason)
        seen = self.skipped.get(key)
        if seen is None:
            self.skipped[key] = [1, ref]
        else:
            seen[0] += 1

    # --- events -----------------------------------------------------------------------
    def _date(self, f: Facts, table: str) -> str:
        d = _local_date(f.time, f.offset)
        if d is None:
            raise _Rejected(table, "eventTime", f"eventTime {f.time!r} is not a date-time")
        return d

    def _quantities(self, f: Facts, lists: tuple[str, ...], epc_lists: tuple[str, ...],
                    table: str) -> list[Quantity]:
        """Quantity elements (and trade-item EPCs, one piece each) of the named lists."""
        out: list[Quantity] = []
        problems: list[str] = []
        for name in lists:
            for epc_class, raw, uom in f.quantities.get(name, ()):
                try:
                    out.append(self._quantity(epc_class, raw, uom))
                except _Rejected as exc:
                    problems.append(exc.reason)
        pieces: dict[str, int] = defaultdict(int)
        for name in epc_lists:
            for epc in f.epcs.get(name, ()):
                m = _GTIN_DL.match(canonical_digital_link(epc.strip()) or "")
                if m and m.group(2) == "21":
                    pieces[m.group(1)] += 1
        for gtin, n in pieces.items():
            product = self.tables.gtins.get(gtin)
            if product is None:
                problems.append(f"EPCs of GTIN {gtin} match no product (add the GTIN to the "
                                "gtin column of the products table)")
                continue
            if self.tables.units.get(product) == "kg":
                problems.append(f"EPCs of GTIN {gtin} count pieces, but product {product} is "
                                "counted in kg")
                continue
            out.append(Quantity(product, str(n), False, None, None, False))
        if problems:
            raise _Rejected(table, "quantityList", "; ".join(dict.fromkeys(problems)))
        return out

    def _quantity(self, epc_class: str | None, raw: str | None, uom: str | None) -> Quantity:
        """One quantity element from its epcClass, quantity and uom (as `_text` gives them)."""
        epc_class = epc_class or ""
        product, lot_key, lot_number, explicit = self._product(epc_class)
        if raw is None:
            raise _Rejected("", "quantityList", f"{epc_class}: no quantity")
        # a plain number (digits, a point) is finite and >= 0: read it as a Decimal only
        # when it is converted
        plain = _PLAIN_NUMBER.fullmatch(raw) is not None
        amount = None if plain else _dec(raw)
        if not plain and (amount is None or amount < 0):
            raise _Rejected("", "quantityList", f"{epc_class}: quantity {raw!r} is not a "
                                                "number >= 0")
        uom = (uom or "").upper()
        unit = self.tables.units.get(product)
        if uom in MASS_UOM:
            if unit == "unit":
                raise _Rejected("", "quantityList",
                                f"{epc_class}: a mass ({uom}) for product {product}, which is "
                                "counted in pieces")
            text = raw if uom == "KGM" else _fmt(Decimal(raw) * MASS_UOM[uom])
            return Quantity(product, _plain(text), True, lot_key, lot_number, explicit)
        if uom in COUNT_UOM:
            if unit == "kg":
                raise _Rejected("", "quantityList",
                                f"{epc_class}: a count ({uom or 'no unit'}) for product "
                                f"{product}, which is counted in kg")
            return Quantity(product, _plain(raw), False, lot_key, lot_number, explicit)
        raise _Rejected("", "quantityList", f"{epc_class}: unit of measure {uom} is neither a "
                                            "mass (KGM, GRM, TNE, ...) nor a count")

    def _product(self, epc_class: str) -> tuple[str, str | None, str | None, bool]:
        """Product, lot key, lot number, explicit (see `Quantity`) of an epcClass (cached:
        classes repeat; a class that does not map raises each time)."""
        found = self._products.get(epc_class)
        if found is None:
            found = self._products[epc_class] = self._product_of(epc_class)
        return found

    def _product_of(self, epc_class: str) -> tuple[str, str | None, str | None, bool]:
        if epc_class.startswith(CLASS):
            body = epc_class[len(CLASS):]
            product, sep, lot = body.partition(LOT_SEP)
            return (_intern(unquote(product)), _intern(epc_class) if sep else None,
                    _intern(unquote(lot)) if sep else None, True)
        canon = canonical_digital_link(epc_class) or ""
        m = _GTIN_DL.match(canon)
        if not m or m.group(2) == "21":
            raise _Rejected("", "quantityList",
                            f"epcClass {epc_class!r} is neither a GTIN-based class (LGTIN, "
                            "GTIN pattern or Digital Link) nor a urn:rareflow:class URI")
        gtin = m.group(1)
        product = self.tables.gtins.get(gtin)
        if product is None:
            raise _Rejected("", "quantityList",
                            f"epcClass {epc_class}: GTIN {gtin} matches no product (add it to "
                            "the gtin column of the products table)")
        lot = _intern(unquote(m.group(3))) if m.group(2) == "10" else None
        return product, (_intern(canon) if lot else None), lot, False

    def _move(self, event_type: str, f: Facts, ref: EventRef, kind: str) -> None:
        date = self._date(f, "flows")
        lists = ("childQuantityList",) if event_type == "AggregationEvent" else ("quantityList",)
        epcs = ("childEPCs",) if event_type == "AggregationEvent" else ("epcList",)
        quantities = self._quantities(f, lists, epcs, "flows")
        if not quantities:
            raise _Rejected("flows", "quantityList",
                            f"{kind} event without quantities: no quantityList and no trade-item "
                            "EPCs (SGTIN) to count")
        found = f.exts
        extras = {k: v for k in ("toCountry", "use", "reKg", "netKg", "units")
                  if (v := found.get(k)) is not None}
        point = f.read_point or f.biz_location
        self.moves.append(Move(
            kind, ref, _intern(date), f.sources, f.destinations, _intern(point), quantities,
            extras or None))

    def _count(self, f: Facts, ref: EventRef) -> None:
        date = self._date(f, "stocks")
        quantities = self._quantities(f, ("quantityList",), ("epcList",), "stocks")
        if not quantities:
            raise _Rejected("stocks", "quantityList", "stock count without quantities")
        places = [p for p in (f.biz_location, f.read_point) if p]
        for kind, uri in f.sources:
            if kind in ("owning_party", "possessing_party"):
                places.append(uri)
        self.counts.append(Count(ref, date, places, quantities))

    def _transformation(self, f: Facts, ref: EventRef) -> None:
        date = self._date(f, "transformations")
        inputs = self._quantities(f, ("inputQuantityList",), ("inputEPCList",),
                                  "transformations")
        outputs = self._quantities(f, ("outputQuantityList",), ("outputEPCList",),
                                   "transformations")
        if not inputs and not outputs:
            raise _Rejected("transformations", "inputQuantityList",
                            "transformation without input or output quantities")
        tid_uri = f.tid
        tid = record_id(tid_uri) if tid_uri else ref.record
        group = self.transformations.setdefault(tid, Transformation(tid))
        group.refs.append(ref)
        group.dates.append(date)
        places = [p for p in (f.biz_location, f.read_point) if p]
        for kind, uri in f.destinations + f.sources:
            if kind in ("owning_party", "possessing_party"):
                places.append(uri)
        group.places.append(places)
        group.event_inputs.append(inputs)
        group.event_outputs.append(outputs)

    # --- parties ----------------------------------------------------------------------
    def party(self, uri: str) -> str | None:
        if uri in self._party_cache:
            return self._party_cache[uri]
        found: str | None = None
        for prefix in (PARTY, SITE):
            if uri.startswith(prefix):
                found = unquote(uri[len(prefix):])
        if found is None:
            keys = identifier_keys(uri)
            found = next((self.tables.parties[k] for k in keys if k in self.tables.parties),
                         None)
            if found is None:
                found = next((self.masterdata[k] for k in keys if k in self.masterdata), None)
        self._party_cache[uri] = found
        return found

    def _inherit_masterdata(self) -> None:
        """Sub-locations listed as children of a mapped vocabulary element."""
        for _ in range(8):  # nested hierarchies, a few levels deep
            changed = False
            for parent, child in self.md_children:
                p = self.party(parent)
                key = identifier_keys(child)[0]
                if p and key not in self.masterdata and key not in self.tables.parties:
                    self.masterdata[key] = p
                    changed = True
            if not changed:
                break
        self._party_cache.clear()

    def _side(self, entries: list[tuple[str, str]], fallback: str | None, role: str,
              column: str) -> str | None:
        """The party of one side of a movement: owning_party, else possessing_party, else a
        location, else the read point (if given)."""
        tried: list[str] = []
        for kind in ("owning_party", "possessing_party", "location"):
            for k, uri in entries:
                if k == kind:
                    p = self.party(uri)
                    if p:
                        return p
                    tried.append(f"{kind} {uri}")
        if fallback:
            p = self.party(fallback)
            if p:
                return p
            tried.append(f"read point {fallback}")
        if tried:
            raise _Rejected("flows", column,
                            f"{role} not mapped to a party_id: {'; '.join(tried)} (add it to "
                            "epcis_parties or to the documents' master data)")
        return None

    # --- finishing --------------------------------------------------------------------
    def finish(self, known_ids: KnownIds | None = None) -> dict[str, dict[str, list]]:
        """Columns of flows, transformations and stocks (strings, with `_file`/`_line`)."""
        for (_, reason), (n, ref) in self.skipped.items():
            many = f" ({n} events like this in the file; the first is here)" if n > 1 else ""
            self.reject(ref, "epcis", "bizStep", f"not mapped: {reason}{many}",
                        level="warning")
        self._inherit_masterdata()
        flows = self._flows()
        self.moves = []
        trows, produced = self._transformation_rows()
        stocks = self._stock_rows()
        self._link_lots(flows, trows, produced, known_ids)
        extras = [f.extras or _NO_EXTRAS for f in flows]
        cols: dict[str, list] = {
            "flow_id": [f.flow_id for f in flows],
            "date": [f.date for f in flows],
            "from_id": [f.from_id for f in flows],
            "to_id": [f.to_id for f in flows],
            "to_country": [x.get("toCountry") for x in extras],
            "product": [f.q.product for f in flows],
            "net_kg": [f.q.amount if f.q.is_mass else x.get("netKg")
                       for f, x in zip(flows, extras, strict=True)],
            "units": [x.get("units") if f.q.is_mass else f.q.amount
                      for f, x in zip(flows, extras, strict=True)],
            "re_kg": [x.get("reKg") for x in extras],
            "source_ref": [f.source_ref for f in flows],
            "use": [x.get("use") for x in extras],
            "_file": [f.ref.file for f in flows],
            "_line": [f.ref.position for f in flows]}
        out = {"flows": cols, "transformations": _columns([r for r, _ in trows]),
               "stocks": _columns(stocks)}
        for table, c in out.items():
            self.stats.rows[table] = len(c.get("_line", []))
        return out

    def _retracted(self, ref: EventRef) -> bool:
        if (ref.digest is not None and ref.digest in self.retracted_hashes) or (ref.event_id and
                                                    ref.event_id in self.retracted_ids):
            self.stats.retracted += 1
            self.reject(ref, "epcis", "errorDeclaration",
                        "withdrawn by an error declaration: not used", level="warning")
            return True
        return False

    def _flows(self) -> list[FlowRow]:
        shipped: dict[tuple, list[FlowRow]] = defaultdict(list)
        receipts: list[tuple[Move, str | None, str]] = []
        out: list[FlowRow] = []
        for m in self.moves:
            if self._retracted(m.ref):
                continue
            try:
                if m.kind == "receiving":
                    to_id = self._side(m.destinations, m.point, "receiver", "to_id")
                    if to_id is None:
                        raise _Rejected("flows", "to_id", "receiving event without a receiver "
                                                          "(destinationList or readPoint)")
                    from_id = self._side(m.sources, None, "sender", "from_id")
                    receipts.append((m, from_id, to_id))
                    continue
                from_id = self._side(m.sources, m.point, "sender", "from_id")
                if from_id is None:
                    raise _Rejected("flows", "from_id",
                                    f"{m.kind} event without a sender (sourceList owning_party, "
                                    "possessing_party or location, or readPoint)")
                if m.kind == "sale":
                    to_id = None
                else:
                    to_id = self._side(m.destinations, None, "receiver", "to_id")
                    if to_id is None:
                        raise _Rejected("flows", "to_id",
                                        "shipping event without a receiver (destinationList "
                                        "owning_party, possessing_party or location); a sale to "
                                        "final customers is bizStep retail_selling")
                if to_id == from_id:
                    self.stats.not_mapped += 1
                    self.reject(m.ref, "flows", "to_id", f"not mapped: sender and receiver are "
                                f"the same party ({from_id}): a move inside one party",
                                level="warning")
                    continue
            except _Rejected as exc:
                self.stats.rejected += 1
                self.reject(m.ref, exc.table, exc.column, exc.reason)
                continue
            rows = self._flow_rows(m, from_id, to_id)
            out.extend(rows)
            self.stats.mapped += 1
            if m.kind == "shipping":
                for r in rows:
                    shipped[_match_key(r.to_id, r.q)].append(r)
        for m, from_id, to_id in receipts:
            rows = self._flow_rows(m, from_id, to_id)
            matches = []
            for r in rows:
                cands = shipped.get(_match_key(to_id, r.q), [])
                hit = next((s for s in cands if from_id is None or s.from_id == from_id), None)
                matches.append(hit)
            if all(hit is not None for hit in matches):
                for r, hit in zip(rows, matches, strict=True):
                    shipped[_match_key(to_id, r.q)].remove(hit)
                self.stats.receipts_merged += 1
                self.reject(m.ref, "flows", "bizStep",
                            "receipt of a shipment already read (same sender, receiver, product, "
                            "lot and quantity: flow "
                            + ", ".join(h.flow_id for h in matches if h) + "): not a second flow",
                            level="warning")
                continue
            if from_id is None:
                self.stats.rejected += 1
                self.reject(m.ref, "flows", "from_id",
                            "receiving event without a sender (sourceList) that repeats no "
                            "shipping event: the flow's sender is unknown")
                continue
            out.extend(rows)
            self.stats.mapped += 1
        return out

    def _flow_rows(self, m: Move, from_id: str | None, to_id: str | None) -> list[FlowRow]:
        many = len(m.quantities) > 1
        extras = m.extras
        if many and m.extras:
            extras = {k: v for k, v in m.extras.items() if k in ("toCountry", "use")}
            if len(extras) < len(m.extras):
                self.reject(m.ref, "flows", "re_kg", "rf:reKg/netKg/units on an event with "
                            "several quantities: not used", level="warning")
        base = m.ref.record
        return [FlowRow(f"{base}#{i}" if many else base, m.date, from_id, to_id, q,
                        m.kind, m.ref, extras)
                for i, q in enumerate(m.quantities, start=1)]

    def _transformation_rows(self) -> tuple[list[tuple[dict, list]], dict]:
        """Rows, and lot key -> [(date, party, row id)] of the lots the rows produced."""
        out: list[tuple[dict, list]] = []
        produced: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for group in self.transformations.values():
            keep = [i for i, r in enumerate(group.refs) if not self._retracted(r)]
            if not keep:
                continue
            g = _only(group, keep)
            refs = g.refs
            first = refs[0]
            try:
                rows = self._split(g, first)
            except _Rejected as exc:
                self.stats.rejected += len(refs)
                for r in refs:
                    self.reject(r, exc.table, exc.column, exc.reason)
                continue
            self.stats.mapped += len(refs)
            for row, lots in rows:
                out.append((row, lots))
                for lot in lots:
                    produced[lot].append((row["date"], row["party_id"], row["transformation_id"]))
        return out, produced

    def _split(self, g: Transformation, first: EventRef) -> list[tuple[dict, list]]:
        parties = []
        for places in g.places:  # per event: the first of its places that maps
            party = next((p for p in map(self.party, places) if p), None)
            if party and party not in parties:
                parties.append(party)
        if not parties:
            tried = ", ".join(dict.fromkeys(p for ps in g.places for p in ps)) \
                or "no bizLocation or readPoint"
            raise _Rejected("transformations", "party_id",
                            f"transformation {g.tid}: where it happened is not mapped to a "
                            f"party_id ({tried})")
        if len(parties) > 1:
            raise _Rejected("transformations", "party_id",
                            f"transformation {g.tid}: its events name different parties "
                            f"({', '.join(parties)})")
        inputs, outputs = g.inputs, g.outputs
        if not inputs:
            raise _Rejected("transformations", "input_product",
                            f"transformation {g.tid}: no input quantities")
        main = [q for q in outputs if q.product != SCRAP_PRODUCT]
        scrap = [q for q in outputs if q.product == SCRAP_PRODUCT]
        if not main and scrap:  # scrap is the only output: the first is the product
            main, scrap = scrap[:1], scrap[1:]
        if not main:
            raise _Rejected("transformations", "output_product",
                            f"transformation {g.tid}: no output quantities")
        scrap_kg = sum((Decimal(q.amount) for q in scrap), Decimal(0)) if scrap else None
        date = max(g.dates)
        party = parties[0]
        base = {"date": date, "party_id": party, "_file": first.file, "_line": first.position}
        if len(inputs) == 1 and len(main) == 1:
            q, o = inputs[0], main[0]
            row = {**base, "transformation_id": g.tid, "input_product": q.product,
                   "input_qty": q.amount, "output_product": o.product, "output_qty": o.amount,
                   "scrap_kg": _fmt(scrap_kg) if scrap_kg is not None else None,
                   "_input": q}
            return [(row, [o.lot_key] if o.lot_key else [])]
        v = self._shares(inputs)
        w = self._shares(main)
        rows = []
        k = 0
        for i, q in enumerate(inputs):
            for j, o in enumerate(main):
                k += 1
                row = {**base, "transformation_id": f"{g.tid}#{k}",
                       "input_product": q.product,
                       "input_qty": _fmt(_round(Decimal(q.amount) * w[j])),
                       "output_product": o.product,
                       "output_qty": _fmt(_round(Decimal(o.amount) * v[i])),
                       "scrap_kg": (_fmt(_round(scrap_kg * v[i] * w[j]))
                                    if scrap_kg is not None else None),
                       "_input": q}
                # the output lot comes from the row of its largest input share
                largest = max(range(len(v)), key=lambda n: v[n])
                rows.append((row, [o.lot_key] if o.lot_key and i == largest else []))
        return rows

    def _shares(self, qs: list[Quantity]) -> list[Decimal]:
        """Shares by rare-earth content (quantity x content per unit), else by quantity."""
        weights = [Decimal(q.amount) * Decimal(str(self.tables.content.get(q.product, 0)))
                   for q in qs]
        if sum(weights) <= 0:
            weights = [Decimal(q.amount) for q in qs]
        total = sum(weights)
        if total <= 0:
            return [Decimal(1) / len(qs)] * len(qs)
        return [x / total for x in weights]

    def _stock_rows(self) -> list[dict]:
        out = []
        for c in self.counts:
            if self._retracted(c.ref):
                continue
            party = next((p for p in map(self.party, c.places) if p), None)
            if party is None:
                self.stats.rejected += 1
                tried = ", ".join(c.places) or "no bizLocation, readPoint or owning_party"
                self.reject(c.ref, "stocks", "party_id",
                            f"stock count: where it was counted is not mapped to a party_id "
                            f"({tried})")
                continue
            per_product: dict[str, Decimal] = defaultdict(Decimal)
            for q in c.quantities:
                per_product[q.product] += Decimal(q.amount)
            for product, qty in per_product.items():
                out.append({"party_id": party, "date": c.date, "product": product,
                            "qty": _fmt(qty), "_file": c.ref.file, "_line": c.ref.position})
            self.stats.mapped += 1
        return out

    def _link_lots(self, flows: list[FlowRow], trows: list[tuple[dict, list]],
                   produced: dict, known_ids: KnownIds | None) -> None:
        """`source_ref` of flows and `input_ref` of transformations from their lots."""
        holders: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for lot, entries in produced.items():
            holders[lot].extend(entries)
        for f in flows:
            if f.q.lot_key and not f.q.explicit and f.to_id:
                holders[f.q.lot_key].append((f.date, f.to_id, f.flow_id))
        for entries in holders.values():
            entries.sort()
        pending: list[tuple[object, str, Quantity]] = []

        def resolve(q: Quantity, holder: str | None, date: str, own: str) -> str | None:
            if q.explicit:
                return q.lot_number
            if not q.lot_key:
                return None
            best = None
            for d, h, rid in holders.get(q.lot_key, ()):
                if h == holder and d <= date and rid != own:
                    best = rid
            return best

        for f in flows:
            f.source_ref = resolve(f.q, f.from_id, f.date, f.flow_id)
            if f.source_ref is None and f.q.lot_key:
                pending.append((f, "source_ref", f.q))
        for row, _ in trows:
            q = row.pop("_input")
            row["input_ref"] = resolve(q, row["party_id"], row["date"], row["transformation_id"])
            if row["input_ref"] is None and q.lot_key:
                pending.append((row, "input_ref", q))
        if not pending:
            return
        ids = {f.flow_id for f in flows} | {r["transformation_id"] for r, _ in trows}
        numbers = {q.lot_number for _, _, q in pending if q.lot_number}
        known = {n for n in numbers if n in ids}
        if known_ids is not None:
            known |= known_ids(numbers - known)
        for target, name, q in pending:
            value = q.lot_number if q.lot_number in known else q.lot_key
            if isinstance(target, FlowRow):
                target.source_ref = value
            else:
                target[name] = value  # type: ignore[index]


def _only(g: Transformation, keep: list[int]) -> Transformation:
    """The transformation as its events `keep` (by index) tell it."""
    if len(keep) == len(g.refs):
        return g
    out = Transformation(g.tid)
    for i in keep:
        out.refs.append(g.refs[i])
        out.dates.append(g.dates[i])
        out.places.append(g.places[i])
        out.event_inputs.append(g.event_inputs[i])
        out.event_outputs.append(g.event_outputs[i])
    return out


FLOW_COLUMNS = ("flow_id", "date", "from_id", "to_id", "to_country", "product", "net_kg",
                "units", "re_kg", "source_ref", "use", "_file", "_line")


_NO_EXTRAS: dict[str, str] = {}


def _columns(rows: list[dict]) -> dict[str, list]:
    shapes = list(dict.fromkeys(map(tuple, rows)))  # the rows' key orders, first seen first
    names = list(dict.fromkeys(k for shape in shapes for k in shape))
    if len(shapes) == 1:  # every row has every column
        return {n: [r[n] for r in rows] for n in names}
    return {n: [r.get(n) for r in rows] for n in names}


def _match_key(to_id: str | None, q: Quantity) -> tuple:
    return (to_id, q.product, q.lot_key, q.is_mass, Decimal(q.amount).normalize())


def _round(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.000001")).normalize()


def _plain(text: str) -> str:
    """A JSON number as written (``1250.5``), in plain notation if it had an exponent."""
    if "e" in text or "E" in text:
        d = _dec(text)
        return _fmt(d) if d is not None else text
    return text


def _intern(value: str | None) -> str | None:
    return sys.intern(value) if value else value


def _digest(hash_id: str) -> bytes:
    """The digest of ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    hexpart = hash_id.partition(";")[2].partition("?")[0]
    try:
        return bytes.fromhex(hexpart)
    except ValueError:
        return hash_id.encode()
