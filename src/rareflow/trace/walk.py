"""The trace computation: the tree of records behind (backward) or after (forward) a lot, a
shipment, a flow, a transformation, an observation, a certificate, a licence or a finding,
with quantities and rare-earth content.

Backward follows the lot links to the records the goods came from (flow `source_ref`,
transformation `input_ref`) up to the export declarations and their certificates and
licences; forward follows the same links the other way, down to final sales, exports and
teardown observations. Every hop is an array lookup in the store's trace index
(`rareflow.trace.index`): no query per hop. This supersedes the single-parent chain walk
of `diversion.teardown_trace` for interactive use.

Pure: no file is read here and nothing is drawn. A finding id is looked up through the
`FindingSource` the caller passes (`rareflow.trace.query` reads findings.jsonl); the views
(`render_tree`, `summary_lines`, `trace_figure`) are in `rareflow.outputs.trace_view`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rareflow.errors import RareflowError
from rareflow.trace.index import TraceIndex, Walk

DIRECTIONS = ("backward", "forward", "both")
#: The link column by the kind of the record that holds it.
_RELATION = {"flow": "source_ref", "transformation": "input_ref", "observation": "ref"}
_SHIPMENT_RELATION = {"certificate": "certificate_id", "licence": "licence_id"}


class FindingSource(Protocol):
    """Where a finding id is looked up (for a trace that starts from a finding)."""

    @property
    def name(self) -> str:
        """How messages name the source (e.g. the findings file)."""
        ...

    def find(self, finding_id: str) -> dict[str, Any] | None:
        """The finding `finding_id`, or None."""
        ...


class TraceError(RareflowError):
    """An id that names nothing traceable, or a findings file that cannot be used."""

    exit_code = 1


@dataclass
class Trace:
    """One trace: per start record, the tree of what it came from (`backward`) and/or what
    was made of it (`forward`); every link followed, in the direction the material moved;
    what the walk reached, summed up; the parties involved."""

    query: str
    query_kind: str
    direction: str
    depth: int | None
    starts: list[str]
    backward: list[dict[str, Any]] = field(default_factory=list)
    forward: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    parties: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    not_traced: list[str] = field(default_factory=list)
    finding: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "query_kind": self.query_kind, "direction": self.direction,
            "depth": self.depth, "starts": self.starts, "truncated": self.truncated,
            "finding": self.finding, "not_traced": self.not_traced, "summary": self.summary,
            "backward": self.backward, "forward": self.forward, "links": self.links,
            "parties": self.parties,
        }

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()


def relation(child: dict[str, Any], parent: dict[str, Any]) -> str:
    """The column of `child` that names `parent`."""
    if child["kind"] == "shipment":
        return _SHIPMENT_RELATION.get(parent["kind"], "certificate_id")
    return _RELATION.get(child["kind"], "ref")


def trace(index: TraceIndex, query: str, direction: str = "both", depth: int | None = None,
          max_nodes: int | None = 2000, findings: FindingSource | None = None) -> Trace:
    """Trace `query` (a record id, or a finding id found in `findings`) over `index`."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if depth is not None and depth < 0:
        raise TraceError("--depth must be 0 or more")
    start = index.lookup(query)
    finding = None
    not_traced: list[str] = []
    if start is not None:
        starts = [start]
        query_kind = str(index.records([start])[0]["kind"])
    else:
        finding = findings.find(query) if findings is not None else None
        if finding is None:
            raise TraceError(_unknown(index, query, findings), id=query)
        starts = []
        for e in dict.fromkeys(str(x) for x in finding.get("evidence") or []):
            i = index.lookup(e)
            if i is None:
                not_traced.append(e)
            elif i not in starts:
                starts.append(i)
        if not starts:
            raise TraceError(f"finding {query} names no record the store can trace (evidence: "
                             f"{', '.join(not_traced) or 'none'})", id=query)
        query_kind = "finding"
    walks = [index.walk(starts, d, depth, max_nodes) for d in
             (("backward", "forward") if direction == "both" else (direction,))]
    return _assemble(index, query, query_kind, direction, depth, starts, walks, finding,
                     not_traced)


def _unknown(index: TraceIndex, query: str, findings: FindingSource | None) -> str:
    if query in index.parties:
        return (f"{query} is a party, not a record: trace one of its shipments, flows or "
                "transformations (or a finding about it, with --findings)")
    where = f" nor a finding in {findings.name}" if findings is not None else (
        "; for a finding id, give the findings file with --findings OUT/findings.jsonl")
    return (f"unknown id {query}: not a lot, shipment, flow, transformation, observation, "
            f"certificate or licence in the store{where}")


def _assemble(index: TraceIndex, query: str, query_kind: str, direction: str,
              depth: int | None, starts: list[int], walks: list[Walk],
              finding: dict[str, Any] | None, not_traced: list[str]) -> Trace:
    reached: list[int] = list(dict.fromkeys(n for w in walks for n in w.parent))
    recs = dict(zip(reached, index.records(reached), strict=True))
    out = Trace(query=query, query_kind=query_kind, direction=direction, depth=depth,
                starts=[recs[s]["id"] for s in starts], finding=finding,
                not_traced=not_traced, truncated=any(w.truncated for w in walks))
    out.records = {r["id"]: r for r in recs.values()}
    seen_links: set[tuple[int, int]] = set()
    for w in walks:
        trees = _trees(w, recs, starts)
        if w.direction == "backward":
            out.backward = trees
        else:
            out.forward = trees
        for a, b in w.links:
            src, dst = (b, a) if w.direction == "backward" else (a, b)  # material direction
            if (src, dst) in seen_links:
                continue
            seen_links.add((src, dst))
            child, parent = (recs[a], recs[b]) if w.direction == "backward" else (
                recs[b], recs[a])
            out.links.append({"source": recs[src]["id"], "target": recs[dst]["id"],
                              "relation": relation(child, parent),
                              "content_kg": _link_content(recs[src], recs[dst])})
    parties = sorted({p for r in recs.values() for p in (r["from_id"], r["to_id"]) if p})
    out.parties = {p: {"name": index.parties.get(p, ("", ""))[0],
                       "country": index.parties.get(p, ("", ""))[1]} for p in parties}
    out.summary = summarise(list(recs.values()))
    return out


def _link_content(src: dict[str, Any], dst: dict[str, Any]) -> float | None:
    """Rare-earth content that moved along a link: what the derived record took in."""
    if dst["kind"] == "transformation" and dst.get("in_content_kg") is not None:
        return dst["in_content_kg"]
    if dst["kind"] in ("flow", "shipment") and dst.get("content_kg") is not None:
        return dst["content_kg"]
    return src.get("content_kg")


def _trees(w: Walk, recs: dict[int, dict[str, Any]], starts: Sequence[int]
           ) -> list[dict[str, Any]]:
    made: dict[int, dict[str, Any]] = {}
    for n, p in w.parent.items():  # insertion order = breadth-first discovery order
        node = {**recs[n], "hops": w.level[n], "relation": None, "children": []}
        if p >= 0:
            child, parent = (recs[n], recs[p]) if w.direction == "forward" else (
                recs[p], recs[n])
            node["relation"] = relation(child, parent)
            made[p]["children"].append(node)
        made[n] = node
    return [made[s] for s in starts]


def flow_role(r: dict[str, Any]) -> str | None:
    """What a flow is at the end of a chain: a final sale, an export, or a transfer."""
    if r["kind"] != "flow":
        return None
    if r.get("to_country"):
        return "export"
    return "final_sale" if not r.get("to_id") else "transfer"


def summarise(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The records a trace reached, by what they are, with their rare-earth content."""

    def group(rows: list[dict[str, Any]]) -> dict[str, Any]:
        kg = sum(r["content_kg"] or 0.0 for r in rows)
        return {"ids": sorted(r["id"] for r in rows), "content_kg": round(kg, 3)}

    by = {
        "shipments": [r for r in recs if r["kind"] == "shipment"],
        "certificates": [r for r in recs if r["kind"] == "certificate"],
        "licences": [r for r in recs if r["kind"] == "licence"],
        "transformations": [r for r in recs if r["kind"] == "transformation"],
        "transfers": [r for r in recs if flow_role(r) == "transfer"],
        "final_sales": [r for r in recs if flow_role(r) == "final_sale"],
        "exports": [r for r in recs if flow_role(r) == "export"],
        "teardowns": [r for r in recs if r["kind"] == "observation"
                      and r.get("subkind") == "teardown"],
        "observations": [r for r in recs if r["kind"] == "observation"
                         and r.get("subkind") != "teardown"],
        "unrecorded": [r for r in recs if not r["recorded"]],
    }
    out = {k: group(v) for k, v in by.items()}
    out["records"] = len(recs)
    return out
