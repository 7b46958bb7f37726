"""A dataset's flows, transformations and stocks as one EPCIS 2.0 JSON-LD document
(`rareflow epcis export`); reading it back (`rareflow.epcis.reader`) gives the same rows.

- a flow -> an ObjectEvent, bizStep ``shipping`` (``retail_selling`` when it has no
  receiver), eventID ``urn:rareflow:flow:<flow_id>``, owning parties in sourceList /
  destinationList, one quantity element whose class carries the lot (`source_ref`);
- a transformation -> a TransformationEvent, transformationID
  ``urn:rareflow:transformation:<id>``, its input (lot = `input_ref`), its output and its
  scrap (``magnet_scrap``, kg) as quantity elements, bizLocation = the party's site;
- a stock report -> an ObjectEvent, bizStep ``stock_taking``, bizLocation = the party's site;
- parties -> their PGLN (GS1 Digital Link ``https://id.gs1.org/417/...``) when the dataset's
  `epcis_parties` table gives one, else ``urn:rareflow:party:<party_id>``; each is described in
  the header's master data (name, country and ``urn:rareflow:epcis:partyId``);
- products and lots -> ``urn:rareflow:class:<product>[:lot:<ref>]`` (exact round trip of lot
  links; a GS1 LGTIN cannot carry every record id as a lot number);
- what EPCIS has no field for (`to_country`, `use`, `re_kg`, a second quantity) -> event-level
  extension fields in the namespace ``urn:rareflow:epcis:`` (prefix ``rf``).

See docs/epcis-mapping.md ("Export").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from rareflow.epcis.event_hash import _json_prefixes, _JsonReader, event_hash_id, prehash
from rareflow.epcis.mapping import (
    PARTY_ID_ATTRIBUTE,
    RF_NS,
    SCRAP_PRODUCT,
    class_uri,
    flow_event_id,
    identifier_keys,
    party_uri,
    site_uri,
    transformation_uri,
)

__all__ = ["EPCIS_CONTEXT", "ExportCounts", "export_tables", "export_workspace"]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"rf": RF_NS}]
MDA_NAME = "urn:epcglobal:cbv:mda#name"
MDA_COUNTRY = "urn:epcglobal:cbv:mda#countryCode"
VTYPE_PARTY = "urn:epcglobal:epcis:vtype:Party"
VTYPE_LOCATION = "urn:epcglobal:epcis:vtype:Location"


@dataclass
class ExportCounts:
    flows: int = 0
    transformations: int = 0
    stocks: int = 0
    parties: int = 0

    @property
    def events(self) -> int:
        return self.flows + self.transformations + self.stocks


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.date().isoformat() if hasattr(v, "date") else str(v)
    text = str(v).strip()
    return text or None


def _num(v: Any) -> int | float | None:
    text = _s(v)
    if text is None:
        return None
    x = float(text)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _date(v: Any) -> str:
    text = _s(v) or ""
    return text[:10]


class _Identifiers:
    """Party and site URIs: the dataset's GLNs where it has them, rareflow URIs otherwise."""

    def __init__(self, mapping: pd.DataFrame | None) -> None:
        self.party: dict[str, str] = {}
        self.site: dict[str, str] = {}
        if mapping is None:
            return
        for ident, party in mapping[["gln_or_uri", "party_id"]].itertuples(index=False):
            ident, party = _s(ident), _s(party)
            if not ident or not party:
                continue
            keys = identifier_keys(ident)
            bare = re.fullmatch(r"\d{13}", ident) is not None
            for key in keys[:2 if bare else 1]:
                if "/417/" in key:
                    self.party.setdefault(party, key)
                elif re.fullmatch(r"https://id\.gs1\.org/414/\d{13}", key):
                    self.site.setdefault(party, key)

    def party_uri(self, party_id: str) -> str:
        return self.party.get(party_id) or party_uri(party_id)

    def site_uri(self, party_id: str) -> str:
        return self.site.get(party_id) or site_uri(party_id)


def _qe(product: str, lot: str | None, qty: Any, mass: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"epcClass": class_uri(product, lot), "quantity": _num(qty)}
    if mass:
        out["uom"] = "KGM"
    return out


def _time(date: str) -> dict[str, str]:
    return {"eventTime": f"{date}T12:00:00.000Z", "eventTimeZoneOffset": "+00:00"}


def _with_hash_id(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its CBV 2.0 Event Hash ID as eventID (first after type)."""
    node = _JsonReader(_json_prefixes(CONTEXT)).event(event)
    return {"type": event["type"], "eventID": event_hash_id(prehash(node)),
            **{k: v for k, v in event.items() if k != "type"}}


def flow_events(flows: pd.DataFrame, units: dict[str, str],
                ids: _Identifiers) -> Iterator[dict[str, Any]]:
    for r in flows.to_dict("records"):
        flow_id, product = _s(r.get("flow_id")), _s(r.get("product"))
        if not flow_id or not product:
            continue
        net_kg, pieces = _s(r.get("net_kg")), _s(r.get("units"))
        counted = units.get(product) == "unit"
        by_count = pieces is not None and (counted or net_kg is None)
        qty = pieces if by_count else net_kg
        to_id = _s(r.get("to_id"))
        ev: dict[str, Any] = {
            "type": "ObjectEvent", "eventID": flow_event_id(flow_id), **_time(_date(r["date"])),
            "action": "OBSERVE", "bizStep": "shipping" if to_id else "retail_selling",
            "disposition": "in_transit" if to_id else "retail_sold",
            "quantityList": [_qe(product, _s(r.get("source_ref")), qty, not by_count)],
            "sourceList": [{"type": "owning_party",
                            "source": ids.party_uri(str(_s(r.get("from_id"))))}],
        }
        if to_id:
            ev["destinationList"] = [{"type": "owning_party",
                                      "destination": ids.party_uri(to_id)}]
        for column, name in (("to_country", "rf:toCountry"), ("use", "rf:use")):
            if (v := _s(r.get(column))) is not None:
                ev[name] = v
        if (v := _num(r.get("re_kg"))) is not None:
            ev["rf:reKg"] = v
        if by_count and net_kg is not None:
            ev["rf:netKg"] = _num(net_kg)
        if not by_count and pieces is not None:
            ev["rf:units"] = _num(pieces)
        ev["rf:record"] = f"flow:{flow_id}"  # distinct Event Hash IDs for equal flows
        yield ev


def transformation_events(xs: pd.DataFrame, units: dict[str, str],
                          ids: _Identifiers) -> Iterator[dict[str, Any]]:
    for r in xs.to_dict("records"):
        tid = _s(r.get("transformation_id"))
        if not tid:
            continue
        inp, out = str(_s(r.get("input_product"))), str(_s(r.get("output_product")))
        outputs = [_qe(out, tid, r.get("output_qty"), units.get(out) != "unit")]
        if _s(r.get("scrap_kg")) is not None:
            outputs.append(_qe(SCRAP_PRODUCT, tid, r.get("scrap_kg"), True))
        yield _with_hash_id({
            "type": "TransformationEvent", **_time(_date(r["date"])),
            "inputQuantityList": [_qe(inp, _s(r.get("input_ref")), r.get("input_qty"),
                                      units.get(inp) != "unit")],
            "outputQuantityList": outputs,
            "transformationID": transformation_uri(tid),
            "bizStep": "creating_class_instance", "disposition": "active",
            "bizLocation": {"id": ids.site_uri(str(_s(r.get("party_id"))))},
        })


def stock_events(stocks: pd.DataFrame, units: dict[str, str],
                 ids: _Identifiers) -> Iterator[dict[str, Any]]:
    for r in stocks.to_dict("records"):
        product, party = _s(r.get("product")), _s(r.get("party_id"))
        if not product or not party:
            continue
        yield _with_hash_id({
            "type": "ObjectEvent", **_time(_date(r["date"])), "action": "OBSERVE",
            "bizStep": "stock_taking",
            "quantityList": [_qe(product, None, r.get("qty"), units.get(product) != "unit")],
            "bizLocation": {"id": ids.site_uri(party)},
        })


def _masterdata(parties: pd.DataFrame, used: set[str], ids: _Identifiers) -> dict[str, Any]:
    party_elements = []
    site_elements = []
    for r in parties.to_dict("records"):
        pid = _s(r.get("party_id"))
        if pid not in used:
            continue
        attrs = [{"id": PARTY_ID_ATTRIBUTE, "attribute": pid}]
        if (name := _s(r.get("name"))) is not None:
            attrs.append({"id": MDA_NAME, "attribute": name})
        if (country := _s(r.get("country"))) is not None:
            attrs.append({"id": MDA_COUNTRY, "attribute": country})
        party_elements.append({"id": ids.party_uri(pid), "attributes": attrs})
        site_elements.append({"id": ids.site_uri(pid),
                              "attributes": [{"id": PARTY_ID_ATTRIBUTE, "attribute": pid}]})
    return {"epcisMasterData": {"vocabularyList": [
        {"type": VTYPE_PARTY, "vocabularyElementList": party_elements},
        {"type": VTYPE_LOCATION, "vocabularyElementList": site_elements},
    ]}}


def _used_parties(flows: pd.DataFrame | None, xs: pd.DataFrame | None,
                  stocks: pd.DataFrame | None) -> set[str]:
    used: set[str] = set()
    for df, cols in ((flows, ("from_id", "to_id")), (xs, ("party_id",)),
                     (stocks, ("party_id",))):
        if df is None:
            continue
        for c in cols:
            used |= {v for v in (_s(x) for x in df[c]) if v}
    return used


def export_tables(out: Path, *, parties: pd.DataFrame, products: pd.DataFrame,
                  flows: pd.DataFrame | None = None, transformations: pd.DataFrame | None = None,
                  stocks: pd.DataFrame | None = None, epcis_parties: pd.DataFrame | None = None,
                  created: str | None = None) -> ExportCounts:
    """Write the document to `out`, event by event (the event list is never held whole)."""
    units = {str(p): str(u) for p, u in products[["product", "unit"]].itertuples(index=False)}
    ids = _Identifiers(epcis_parties)
    used = _used_parties(flows, transformations, stocks)
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    head = {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": created, "epcisHeader": _masterdata(parties, used, ids)}
    counts = ExportCounts(parties=len(used))
    opts = orjson.OPT_INDENT_2
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        text = orjson.dumps(head, option=opts)
        f.write(text[:-2].rstrip() + b',\n  "epcisBody": {\n    "eventList": [')
        first = True
        streams = [("flows", flows, flow_events), ("transformations", transformations,
                                                   transformation_events),
                   ("stocks", stocks, stock_events)]
        for name, df, make in streams:
            if df is None:
                continue
            for ev in make(df, units, ids):
                f.write(b"\n" if first else b",\n")
                f.write(_indent(orjson.dumps(ev, option=opts), 6))
                first = False
                setattr(counts, name, getattr(counts, name) + 1)
        f.write(b"\n    ]\n  }\n}\n")
    return counts


def _indent(text: bytes, n: int) -> bytes:
    pad = b" " * n
    return pad + text.replace(b"\n", b"\n" + pad)


def export_workspace(ws: Any, out: Path, *, created: str | None = None) -> ExportCounts:
    """Export the flows, transformations and stocks a workspace holds."""
    t = ws.tables()
    store = ws.store

    def frame(table: Any) -> pd.DataFrame | None:
        return None if table is None else store.to_pandas(table)

    mapping = store.table_or_none("epcis_parties")
    return export_tables(
        out, parties=store.to_pandas(t.parties), products=store.to_pandas(t.products),
        flows=frame(t.flows), transformations=frame(t.transformations), stocks=frame(t.stocks),
        epcis_parties=frame(mapping), created=created)
