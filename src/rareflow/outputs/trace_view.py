"""Views of a trace (`rareflow.trace.walk.Trace`): the text tree (`render_tree`, rich), its
summary lines, and the plotly Sankey the report embeds (`trace_figure`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rareflow.trace.walk import Trace

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from rich.tree import Tree


# --- text -----------------------------------------------------------------------------------
def _num(v: float | None, unit: str | None = None) -> str:
    if v is None or v != v:  # None or NaN
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
DOCUMENTS = ("certificate", "licence")  # records that authorise material but carry none
MATERIAL_LINK = "rgba(84,110,122,0.35)"
DOCUMENT_LINK = "rgba(158,158,158,0.9)"


def _kg(v: object) -> float | None:
    """A rare-earth content, or None when the record has none (None or NaN)."""
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def trace_figure(t: Trace | dict[str, Any]) -> go.Figure:
    """The trace as a plotly Sankey: records as nodes, lot links as bands in the direction
    the material moved, band width = rare-earth content (kg) that moved along the link.

    A certificate or a licence is a document, not material: its link to the declaration made
    under it is a thin grey thread of no mass (drawn at a token width, 0.5% of the widest
    band, so that the document shows beside the declaration without adding to it); hovering
    says "document, no material"."""
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
        doc = r["kind"] in DOCUMENTS
        labels.append(f"{r['kind']} {i}" + (" (document)" if doc else ""))
        colours.append(colour.get(r["kind"], "#7f7f7f"))
        who = " -> ".join(str(p) for p in (r.get("from_id"), r.get("to_id"))
                          if p and p == p)
        kg = _kg(r.get("content_kg"))
        what = ("a document: carries no material" if doc else
                f"RE {kg:,.2f} kg" if kg is not None else "no RE content recorded")
        hover.append(f"{r['kind']} {i}<br>{who}<br>{what}")

    def is_document(link: dict[str, Any]) -> bool:
        kinds = {records.get(link[k], {}).get("kind") for k in ("source", "target")}
        return bool(kinds & set(DOCUMENTS))

    material = [max(_kg(link["content_kg"]) or 0.0, 1e-3) for link in d["links"]
                if not is_document(link)]
    thread = max(max(material, default=1.0) * 0.005, 1e-3)
    values, link_colours, link_hover = [], [], []
    for link in d["links"]:
        if is_document(link):
            values.append(thread)
            link_colours.append(DOCUMENT_LINK)
            link_hover.append(f"{link['source']} -> {link['target']} ({link['relation']}): "
                              "a document, no material")
        else:
            kg = _kg(link["content_kg"])
            values.append(max(kg or 0.0, 1e-3))
            link_colours.append(MATERIAL_LINK)
            link_hover.append(f"{link['source']} -> {link['target']} ({link['relation']}): "
                              + (f"RE {kg:,.2f} kg" if kg is not None else "RE not recorded"))
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colours, "customdata": hover,
              "hovertemplate": "%{customdata}<extra></extra>", "pad": 12},
        link={"source": [pos[link["source"]] for link in d["links"]],
              "target": [pos[link["target"]] for link in d["links"]],
              "value": values, "color": link_colours, "customdata": link_hover,
              "hovertemplate": "%{customdata}<extra></extra>",
              "label": [link["relation"] for link in d["links"]]},
    ))
    fig.update_layout(title=f"Trace of {d['query']} ({d['direction']}): rare-earth content, kg",
                      font_size=11)
    if any(is_document(link) for link in d["links"]):
        fig.add_annotation(text="grey threads: certificates and licences, documents of no "
                           "mass; bands: rare-earth content (kg)", x=0, y=-0.08,
                           xref="paper", yref="paper", showarrow=False,
                           font={"size": 11, "color": "#616161"}, xanchor="left")
    return fig


def _records_of(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    stack = [*d.get("backward", []), *d.get("forward", [])]
    while stack:
        n = stack.pop()
        out.setdefault(n["id"], n)
        stack.extend(n.get("children", []))
    return out
