"""`rareflow trace`: the tree of records and parties behind (backward) or after (forward) a
lot, a shipment, a flow, a transformation, an observation, a certificate, a licence or a
finding, with quantities and rare-earth content.

Backward follows the lot links to the records the goods came from (flow `source_ref`,
transformation `input_ref`) up to the export declarations and their certificates and
licences; forward follows the same links the other way, down to final sales, exports and
teardown observations. Every hop is an array lookup in the store's trace index
(`rareflow.trace_index`): no query per hop. This supersedes the single-parent chain walk
of `diversion.teardown_trace` for interactive use.

Pure presentation lives here too: `render_tree` (a rich Tree), `Trace.to_dict` (JSON) and
`trace_figure` (a plotly Sankey the report can embed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from rareflow.errors import RareflowError
from rareflow.trace_index import TraceIndex, Walk, open_index

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from rich.tree import Tree

    from rareflow.store.base import Store

DIRECTIONS = ("backward", "forward", "both")
#: The link column by the kind of the record that holds it.
_RELATION = {"flow": "source_ref", "transformation": "input_ref", "observation": "ref"}
_SHIPMENT_RELATION = {"certificate": "certificate_id", "licence": "licence_id"}


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


def read_finding(path: Path, finding_id: str) -> dict[str, Any] | None:
    """The finding `finding_id` in a findings.jsonl file, or None."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise TraceError(f"cannot read findings file {path}: {exc.strerror}",
                         file=str(path)) from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"{path}, line {n}: not a JSON object ({exc})",
                             file=str(path), line=n) from exc
        if isinstance(row, dict) and row.get("id") == finding_id:
            return row
    return None


def trace(index: TraceIndex, query: str, direction: str = "both", depth: int | None = None,
          max_nodes: int | None = 2000, findings: Path | None = None) -> Trace:
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
        finding = read_finding(findings, query) if findings is not None else None
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


def _unknown(index: TraceIndex, query: str, findings: Path | None) -> str:
    if query in index.parties:
        return (f"{query} is a party, not a record: trace one of its shipments, flows or "
                "transformations (or a finding about it, with --findings)")
    where = f" nor a finding in {findings}" if findings is not None else (
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


# --- entry point for surfaces -------------------------------------------------------------
def trace_store(store: Store, query: str, direction: str = "both", depth: int | None = None,
                max_nodes: int | None = 2000, findings: Path | None = None) -> Trace:
    """Open (or build once) the store's trace index and trace `query`."""
    return trace(open_index(store), query, direction, depth, max_nodes, findings)


# --- text -----------------------------------------------------------------------------------
def _num(v: float | None, unit: str | None = None) -> str:
    if v is None:
        return "?"
    text = f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    return f"{text} {unit}" if unit else text


def label(r: dict[str, Any]) -> str:
    """One line of the text tree: what the record is, who, how much, how much rare earth
    (rich markup; the record's own text escaped)."""
    from rich.markup import escape

    r = {k: escape(v) if isinstance(v, str) else v for k, v in r.items()}
    kind, rid = r["kind"], r["id"]
    via = f"[dim]{r['relation']}[/dim] " if r.get("relation") else ""
    head = f"{via}[bold]{kind}[/bold] [cyan]{rid}[/cyan]"
    if not r["recorded"]:
        return f"{head} [red]no record in the store[/red]"
    date = f" {r['date']}" if r.get("date") else ""
    re_kg = (f" [green]RE {_num(r['content_kg'], 'kg')}[/green]"
             if r.get("content_kg") is not None else "")
    if kind == "transformation":
        scrap = f", scrap {_num(r['scrap_kg'], 'kg')}" if r.get("scrap_kg") else ""
        return (f"{head}{date} {r['from_id']}: {_num(r['in_qty'])} {r['in_product']} "
                f"(RE {_num(r['in_content_kg'], 'kg')}) -> {_num(r['qty'])} {r['product']}"
                f"{scrap}{re_kg}")
    if kind == "observation":
        return f"{head}{date} {r['subkind']} at {r['from_id']}: {r.get('detail') or ''}"
    if kind in ("certificate", "licence"):
        limit = f" max {_num(r['qty'], 'kg')}" if r.get("qty") is not None else ""
        what = f" {r['product']}" if r.get("product") else ""
        use = f" for {r['use']}" if r.get("use") else ""
        cond = f" \\[{r['detail']}]" if r.get("detail") else ""
        who = (f" end user {r.get('from_id') or '?'}" if kind == "certificate" else
               f" {r.get('from_id') or '?'} -> {r.get('to_id') or '?'} "
               f"({r.get('to_country') or '?'})")
        return f"{head}{date}{who}{limit}{what}{use}{cond}"
    to = r.get("to_id") or "final customers"
    if r.get("to_country") and kind == "flow":
        to = f"{to} ({r['to_country']})" if r.get("to_id") else f"export to {r['to_country']}"
    use = f" for {r['use']}" if r.get("use") else ""
    unit = "units" if r.get("unit") == "unit" else r.get("unit")
    return (f"{head}{date} {r['from_id']} -> {to}: {_num(r['qty'], unit)} "
            f"{r['product']}{use}{re_kg}")


def render_tree(t: Trace) -> Tree:
    """The trace as a rich Tree: per start, 'came from' and/or 'went to' branches."""
    from rich.markup import escape
    from rich.tree import Tree

    what = f"finding {t.query}" if t.query_kind == "finding" else f"{t.query_kind} {t.query}"
    depth = f", depth {t.depth}" if t.depth is not None else ""
    root = Tree(f"[bold]trace {what}[/bold] ({t.direction}{depth})")
    if t.finding:
        root.add(f"[yellow]{escape(str(t.finding.get('rule')))}[/yellow] "
                 f"{escape(str(t.finding.get('message', '')))}")

    def add(branch: Tree, node: dict[str, Any]) -> None:
        for c in node["children"]:
            add(branch.add(label(c)), c)

    back = {n["id"]: n for n in t.backward}
    fwd = {n["id"]: n for n in t.forward}
    starts = set(t.starts)
    for sid in t.starts:
        start = back.get(sid) or fwd.get(sid)
        assert start is not None
        top = root.add(label({**start, "relation": None}))
        # a link to another start of the same trace: that one has its own branch
        up_to = [x for x in t.links if x["target"] == sid and x["source"] in starts]
        down_to = [x for x in t.links if x["source"] == sid and x["target"] in starts]
        if sid in back:
            up = top.add("[magenta]came from[/magenta]") if t.direction == "both" else top
            add(up, back[sid])
            for x in up_to:
                up.add(f"[dim]{x['relation']}[/dim] {escape(x['source'])} (its own branch)")
        if sid in fwd:
            down = top.add("[magenta]went to[/magenta]") if t.direction == "both" else top
            add(down, fwd[sid])
            for x in down_to:
                down.add(f"[dim]{x['relation']}[/dim] {escape(x['target'])} (its own branch)")
    if t.not_traced:
        root.add(f"[dim]not records (not traced): {escape(', '.join(t.not_traced))}[/dim]")
    if t.truncated:
        root.add("[yellow]truncated: raise --depth or --max-nodes to see more[/yellow]")
    return root


def summary_lines(t: Trace) -> list[str]:
    """What the trace reached, one line per kind of record that it reached."""
    names = {"shipments": "export declarations", "certificates": "certificates",
             "licences": "licences", "final_sales": "final sales", "exports": "exports",
             "teardowns": "teardowns", "observations": "other observations",
             "unrecorded": "references with no record"}
    lines = []
    for key, name in names.items():
        g = t.summary.get(key) or {}
        if g.get("ids"):
            kg = f", RE {_num(g['content_kg'], 'kg')}" if g["content_kg"] else ""
            shown = ", ".join(g["ids"][:8]) + (" ..." if len(g["ids"]) > 8 else "")
            lines.append(f"{name} ({len(g['ids'])}{kg}): {shown}")
    return lines


# --- figure ---------------------------------------------------------------------------------
def trace_figure(t: Trace | dict[str, Any]) -> go.Figure:
    """The trace as a plotly Sankey: records as nodes, lot links as bands in the direction
    the material moved, band width = rare-earth content (kg) that moved along the link."""
    import plotly.graph_objects as go

    d = t.to_dict() if isinstance(t, Trace) else t
    records = t.records if isinstance(t, Trace) else _records_of(d)
    ids = list(dict.fromkeys([*d["starts"], *(x for link in d["links"]
                                                for x in (link["source"], link["target"]))]))
    pos = {i: k for k, i in enumerate(ids)}
    colour = {"shipment": "#1f77b4", "flow": "#2ca02c", "transformation": "#ff7f0e",
              "observation": "#d62728", "certificate": "#9467bd", "licence": "#8c564b"}
    labels, colours, hover = [], [], []
    for i in ids:
        r = records.get(i, {"kind": "?", "id": i, "recorded": False})
        labels.append(f"{r['kind']} {i}")
        colours.append(colour.get(r["kind"], "#7f7f7f"))
        who = " -> ".join(p for p in (r.get("from_id"), r.get("to_id")) if p)
        kg = r.get("content_kg")
        hover.append(f"{r['kind']} {i}<br>{who}<br>"
                     + (f"RE {kg:,.2f} kg" if kg is not None else "no RE content"))
    values = [max(float(link["content_kg"] or 0.0), 1e-3) for link in d["links"]]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colours, "customdata": hover,
              "hovertemplate": "%{customdata}<extra></extra>", "pad": 12},
        link={"source": [pos[link["source"]] for link in d["links"]],
              "target": [pos[link["target"]] for link in d["links"]],
              "value": values,
              "label": [link["relation"] for link in d["links"]]},
    ))
    fig.update_layout(title=f"Trace of {d['query']} ({d['direction']}): rare-earth content, kg",
                      font_size=11)
    return fig


def _records_of(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    stack = [*d.get("backward", []), *d.get("forward", [])]
    while stack:
        n = stack.pop()
        out.setdefault(n["id"], n)
        stack.extend(n.get("children", []))
    return out
