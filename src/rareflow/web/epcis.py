"""EPCIS 2.0 over the web: the capture interface (`POST /capture`, a capture id to poll at
`GET /capture/{id}`) and the event query (`GET /events` with the EPCIS 2.0 query
parameters), over the project's EPCIS reader and writer (`rareflow.epcis`).

A captured document is filed like an upload (`upload.py`): kept in its own folder as
`epcis/capture.json` (or .xml), read by the project's ingest (docs/epcis-mapping.md) through
the server's one writer, with provenance. An importer's capture is refused whole when one
of its events names another party as the owner of what it moves, transforms or counts.

The events answered are the store's chain data (flows, transformations, stocks, whatever
file they came from) as `rareflow epcis export` writes them: the same event, and Event Hash
ID, for the same row; paged as the EPCIS 2.0 REST binding has it (`perPage`, a `Link`
header to the next page with its `nextPageToken`; `query`)."""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rareflow.errors import RareflowError
from rareflow.web.auth import Principal
from rareflow.web.models import Upload, audit
from rareflow.web.service import Snapshot, StoreService
from rareflow.web.upload import UploadRefused
from rareflow.web.views import REDACTED

MAX_BYTES = 50 * 1024 * 1024
#: the party column of each chain table that an importer's capture must name as its own
OWNER = {"flows": "from_id", "transformations": "party_id", "stocks": "party_id"}
QUERY_PARAMS = ("eventType", "GE_eventTime", "LT_eventTime", "EQ_bizStep", "EQ_action",
                "EQ_bizLocation", "MATCH_anyEPCClass", "perPage", "nextPageToken")

_EVENTS: dict[int, tuple[Snapshot, list[tuple[dict[str, Any], frozenset[str]]],
                         list[tuple[str, str]]]] = {}


def events(snap: Snapshot) -> tuple[list[tuple[dict[str, Any], frozenset[str]]],
                                    list[tuple[str, str]]]:
    """Every chain row of the store as its EPCIS event, with the parties it concerns, in the
    order of their keys (`_key`: eventTime, then a digest of eventID), and those keys (for
    a page token's position); built once per store state."""
    hit = _EVENTS.get(id(snap))
    if hit is not None and hit[0] is snap:
        return hit[1], hit[2]
    from rareflow.epcis.writer import (
        _Identifiers,
        flow_events,
        stock_events,
        transformation_events,
    )

    products = snap.table("products")
    units = ({str(p): str(u) for p, u in products[["product", "unit"]].itertuples(index=False)}
             if not products.empty else {})
    mapping = snap.tables.get("epcis_parties")
    ids = _Identifiers(mapping)
    out: list[tuple[dict[str, Any], frozenset[str]]] = []
    for table, make, owners in (("flows", flow_events, ("from_id", "to_id")),
                                ("transformations", transformation_events, ("party_id",)),
                                ("stocks", stock_events, ("party_id",))):
        df = snap.table(table)
        if df.empty:
            continue
        df = df[[c for c in df.columns if not c.startswith("_")]]
        parties = [frozenset(str(r[c]) for c in owners if isinstance(r.get(c), str))
                   for r in df.to_dict("records")]
        made = list(make(df, units, ids))
        if len(made) == len(parties):
            out += list(zip(made, parties, strict=True))
        else:  # a row the writer skips (no id): match by position is lost; own rows only
            out += [(ev, frozenset()) for ev in made]
    out.sort(key=_key)
    keys = [_key(e) for e in out]
    _EVENTS.clear()
    _EVENTS[id(snap)] = (snap, out, keys)
    parties = snap.table("parties")
    _URIS.clear()
    for pid in ([] if parties.empty else parties.party_id.astype(str)):
        _URIS[pid] = {ids.party_uri(pid), ids.site_uri(pid)}
    return out, keys


def _key(item: Any) -> tuple[str, str]:
    """An event's place in the pages: its eventTime, then a digest of its eventID (a page
    token carries the key of the page's last event: no identifier in it to redact)."""
    ev = item[0] if isinstance(item, tuple) else item
    digest = hashlib.sha256(str(ev.get("eventID", "")).encode()).hexdigest()[:24]
    return (str(ev.get("eventTime", "")), digest)


_URIS: dict[str, set[str]] = {}  # each party's URIs in the events (PGLN, site, rareflow's)


def _hide(obj: Any, uris: set[str]) -> Any:
    if isinstance(obj, str):
        return REDACTED if obj in uris else obj
    if isinstance(obj, list):
        return [_hide(x, uris) for x in obj]
    if isinstance(obj, dict):
        return {k: _hide(v, uris) for k, v in obj.items()}
    return obj


PER_PAGE = 30  # the EPCIS 2.0 REST binding's default `perPage`
MAX_PER_PAGE = 1000  # this server's upper limit (a larger perPage is answered with this many)


@dataclass(frozen=True)
class Page:
    """One page of a query: the document, and the token of the next page (None: the last)."""

    document: dict[str, Any]
    next_token: str | None


def _filters(params: dict[str, str]) -> str:
    """The query's filters (every parameter but the paging ones), canonical: a page token
    belongs to one query."""
    keep = sorted((k, v) for k, v in params.items() if k not in ("perPage", "nextPageToken"))
    return hashlib.sha256(json.dumps(keep).encode()).hexdigest()[:16]


def _token(ev: dict[str, Any], params: dict[str, str]) -> str:
    """The next page's token: the position after `ev` in the events' order (`_key`) and
    the query it belongs to. A position, not an offset: it stays valid while
    uploads add events (those sorting after it show on the pages to come)."""
    raw = json.dumps([*_key(ev), _filters(params)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class BadToken(ValueError):
    pass


def _position(token: str, params: dict[str, str]) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        time, eid, query = json.loads(raw)
        if not all(isinstance(x, str) for x in (time, eid, query)):
            raise TypeError
    except (ValueError, TypeError, binascii.Error):
        raise BadToken("nextPageToken: not a token this server gave (follow the Link "
                       "header of the previous page)") from None
    if query != _filters(params):
        raise BadToken("nextPageToken: it belongs to another query (keep the query "
                       "parameters of the first page, as the Link header does)")
    return time, eid


def query(snap: Snapshot, party: str | None, params: dict[str, str]) -> Page:
    """One page of the EPCISQueryDocument of the events matching the EPCIS 2.0 query
    parameters (`QUERY_PARAMS`; a list parameter is pipe- or comma-separated), `party`'s
    only when given. Paged as the EPCIS 2.0 REST binding says: at most `perPage` events
    (default 30, at most `MAX_PER_PAGE`), in the order of eventTime (`_key`); the page
    after the one given by `nextPageToken`. BadToken for a token that is not this query's."""
    from rareflow.epcis.writer import CONTEXT

    types = _list(params.get("eventType"))
    steps = _list(params.get("EQ_bizStep"))
    actions = _list(params.get("EQ_action"))
    locations = _list(params.get("EQ_bizLocation"))
    classes = _list(params.get("MATCH_anyEPCClass"))
    ge, lt = params.get("GE_eventTime"), params.get("LT_eventTime")
    per_page = min(int(params.get("perPage") or PER_PAGE), MAX_PER_PAGE)
    evs, keys = events(snap)
    start = 0
    if params.get("nextPageToken"):
        start = bisect.bisect_right(keys, _position(params["nextPageToken"], params))
    hidden = ({u for p, us in _URIS.items() if p != party for u in us}
              if party is not None else set())
    found = []
    more = False
    for ev, parties in evs[start:]:
        if party is not None and party not in parties:
            continue
        if types and ev.get("type") not in types:
            continue
        step = str(ev.get("bizStep", ""))
        if steps and not any(step == s or step.endswith(":" + s) or s.endswith(":" + step)
                             or s.endswith("/" + step) for s in steps):
            continue
        if actions and ev.get("action") not in actions:
            continue
        if locations and (ev.get("bizLocation") or {}).get("id") not in locations:
            continue
        if classes and not any(_matches(q["epcClass"], classes) for q in _quantities(ev)):
            continue
        t = str(ev.get("eventTime", ""))
        if (ge and t < ge) or (lt and t >= lt):
            continue
        if len(found) == per_page:
            more = True
            break
        found.append(ev)
    last = found[-1] if found else None
    if party is not None:  # another party's GLN or URI: as the pages redact it
        found = [_hide(ev, hidden) for ev in found]
    doc = {"@context": CONTEXT, "type": "EPCISQueryDocument", "schemaVersion": "2.0",
           "creationDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
           "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
                                          "resultsBody": {"eventList": found}}}}
    return Page(doc, _token(last, params) if more and last is not None else None)


def _list(v: str | None) -> list[str]:
    """A list parameter: pipe-delimited as the REST binding has it (`style: pipeDelimited`),
    or comma-separated."""
    return [x.strip() for x in re.split(r"[|,]", v or "") if x.strip()]


def _quantities(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return [q for k in ("quantityList", "inputQuantityList", "outputQuantityList")
            for q in ev.get(k, []) if isinstance(q, dict) and "epcClass" in q]


def _matches(epc_class: str, patterns: list[str]) -> bool:
    return any(epc_class == p or (p.endswith("*") and epc_class.startswith(p[:-1]))
               for p in patterns)


def check_params(params: dict[str, str]) -> str | None:
    """The first query parameter this server does not answer (a 400), if any."""
    for k in params:
        if k not in QUERY_PARAMS:
            return (f"query parameter {k} is not supported here; supported: "
                    + ", ".join(QUERY_PARAMS))
    for k in ("GE_eventTime", "LT_eventTime"):
        if params.get(k):
            try:
                datetime.fromisoformat(params[k].replace("Z", "+00:00"))
            except ValueError:
                return f"{k}: not a date-time (e.g. 2025-01-31T00:00:00Z)"
    if params.get("perPage") and not (params["perPage"].isdigit()
                                      and int(params["perPage"]) > 0):
        return "perPage: not a whole number of events (1 or more)"
    if params.get("nextPageToken"):
        try:
            _position(params["nextPageToken"], params)
        except BadToken as exc:
            return str(exc)
    return None


def capture(service: StoreService, db, uploads: Path, who: Principal, data: bytes,
            xml: bool) -> Upload:
    """File one EPCIS document: the `Upload` record is the capture job (its id the capture
    id). Never raises for bad input: a refusal is a status with its errors."""
    name = "capture.xml" if xml else "capture.json"
    up = Upload(user=who.name, party_id=who.party_id, filename=f"epcis/{name}",
                status="refused", rejects=[])
    db.add(up)
    db.flush()
    folder = uploads / f"upload-{up.id:06d}"
    up.folder = str(folder)
    try:
        if not data.strip():
            raise UploadRefused("an empty body: send an EPCIS 2.0 document")
        if len(data) > MAX_BYTES:
            raise UploadRefused(f"larger than {MAX_BYTES // 2**20} MiB")
        (folder / "epcis").mkdir(parents=True)
        doc = folder / "epcis" / name
        doc.write_bytes(data)
        read = service.read_epcis([doc])
        notes = [_error(r, folder) for r in read.rejects]  # rejects and warnings
        if who.importer:
            notes += _foreign(read.tables, who.party_id or "", folder)
        errors = [r for r in notes if r["level"] not in ("warning", "info")]
        n = sum(t.num_rows for t in read.tables.values())
        up.rejects = notes
        if errors and who.importer:
            up.rejected = len(errors)
            raise UploadRefused(f"{len(errors)} event(s) refused; nothing stored")
        if n == 0:
            up.rejected = len(errors)
            raise UploadRefused("no event of the document gives a flow, transformation or "
                                "stock row; nothing stored" + (" (see the errors)" if notes
                                                                else ""))
        report, _ = service.ingest(folder)
        up.loaded = sum(t.loaded for t in report.tables.values())
        up.rejected = len(errors)
        up.status = "stored"
        up.message = (f"{up.loaded} new row(s) stored from {n} event(s), {len(errors)} "
                      f"event(s) set aside; the analysis is up to date "
                      f"(state {service.generation})")
    except RareflowError as exc:
        up.status = "refused"
        up.message = exc.message.replace(str(folder) + "/", "")
    audit(db, who.name, "upload", f"EPCIS capture {up.id}: {up.status}; {up.loaded} stored, "
          f"{up.rejected} set aside")
    return up


def _error(r: dict[str, Any], folder: Path) -> dict[str, Any]:
    f = str(r.get("file") or "")
    with contextlib.suppress(ValueError):
        f = str(Path(f).relative_to(folder))
    return {"file": f, "line": r.get("line"), "column": str(r.get("column") or ""),
            "reason": str(r.get("reason") or ""),
            "value": None if r.get("value") is None else str(r.get("value")),
            "level": str(r.get("level") or "reject")}


def _foreign(tables: dict[str, Any], party: str, folder: Path) -> list[dict[str, Any]]:
    """Events of an importer's capture whose owner is another party."""
    out = []
    for table, col in OWNER.items():
        t = tables.get(table)
        if t is None or t.num_rows == 0 or col not in t.column_names:
            continue
        df = t.select([c for c in (col, "_file", "_line") if c in t.column_names]).to_pandas()
        for r in df.to_dict("records"):
            if r[col] != party:
                out.append(_error({"file": r.get("_file"), "line": _int(r.get("_line")),
                                   "column": col, "value": r[col], "level": "reject",
                                   "reason": f"{col} must be your own party ({party}): an "
                                   "importer captures only its own events"}, folder))
    return out


def _int(v: Any) -> int | None:
    try:
        return None if v is None or pd.isna(v) else int(v)
    except (TypeError, ValueError):
        return None
