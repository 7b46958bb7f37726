"""The offline HTML report: one self-contained page that stays a page at any dataset size.

Formatting only: every number comes from `AnalysisResult`. Each long table shows its top
rows, says how many there are, and links to the file beside the report that holds them all
(`outputs/writer.py` writes them into the same folder). plotly.js is in the page once,
gzip-compressed; the browser unpacks it and draws each chart from its figure's JSON."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from rareflow.outputs.decisions_report import decisions_section
from rareflow.outputs.report_style import (
    CHARTS_JS,
    CSS,
    FILTER_JS,
    NA,
    NA_HTML,
    Html,
    esc,
    ident,
    ids,
    missing,
    number,
    packed_plotly,
    percent,
)
from rareflow.vocabulary import CATEGORIES
from rareflow.workspace import AnalysisResult

#: One colour per attribution category, the same in the Sankey and the bar chart.
COLOURS = {"verified_use": "#2e7d32", "in_stock": "#1565c0", "reexported": "#ef6c00",
           "prohibited_use": "#c62828", "unaccounted": "#6d4c41"}
DESTINATION_COLOUR = "#78909c"
MAX_FINDINGS = 300  # rows in the page; all in findings.jsonl
MAX_BALANCES = 100
MAX_REJECTS = 200
MAX_LEDGER = 200
MAX_ROWS = 300  # any other table (exports, attribution) at country scale
FILES = ("findings.jsonl", "balances.csv", "attribution.csv", "attribution_cohort.csv",
         "licence_ledger.csv", "reconciliation.csv", "rejects.csv")


def e(value: object) -> str:
    """Escaped text for a heading, a note or an attribute (a dash for a missing value)."""
    return NA if missing(value) else html.escape(str(value), quote=True)


def kg(value: object) -> Html:
    """Kilograms, one decimal (the column's header says kg)."""
    return number(value, 1)


def pct(value: object) -> Html:
    return percent(value)


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


class _Charts:
    """Plotly figures as a div and the figure's JSON; plotly.js goes once at the page's end."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure, height: int = 380) -> str:
        self.n += 1
        fig.update_layout(margin={"l": 60, "r": 20, "t": 40, "b": 40}, height=height,
                          template="plotly_white", autosize=True)
        spec = pio.to_json(fig, validate=False).replace("</", "<\\/")
        cid = f"chart-{self.n}"
        return (f'<div id="{cid}" class="chart" style="height:{height}px">Chart not drawn '
                "yet: it needs JavaScript.</div>"
                f'<script type="application/json" data-chart="{cid}">{spec}</script>')

    def scripts(self) -> str:
        if not self.n:
            return ""
        return (f'<script type="application/octet-stream" id="plotly-gz">{packed_plotly()}'
                f"</script><script>{CHARTS_JS}</script>")


Format = Callable[[object], str]


def _html(cells: list[str], like: pd.DataFrame) -> pd.Series:
    """A column of ready markup (object dtype: pandas would turn `Html` into plain text)."""
    return pd.Series([Html(c) for c in cells], index=like.index, dtype=object)


def _table(df: pd.DataFrame, columns: dict[str, str], formats: dict[str, Format] | None = None,
           table_id: str = "", right: tuple[str, ...] = (),
           row_attrs: Callable[[dict], str] | None = None,
           cell_class: dict[str, str | Callable[[object], str]] | None = None) -> str:
    """A table of `columns` (name: header). Numbers are right-aligned; a missing value is a
    dash; every value is escaped (a formatter returns text or `Html`). `cell_class` gives a
    column's cells a class (or a function of the value that names it)."""
    formats = formats or {}
    cell_class = dict(cell_class or {})
    for c in columns:
        if c in df.columns and (c in right or (pd.api.types.is_numeric_dtype(df[c])
                                               and not pd.api.types.is_bool_dtype(df[c]))):
            cell_class.setdefault(c, "n")
    head = "".join(f'<th class="{cell_class[c]}">{e(label)}</th>' if cell_class.get(c) == "n"
                   else f"<th>{e(label)}</th>" for c, label in columns.items())
    rows = []
    for r in df.to_dict("records"):  # not iterrows: a row of text would lose `Html`
        cells = []
        for c in columns:
            v = r.get(c)
            text = NA_HTML if missing(v) else esc(formats.get(c, esc)(v))
            k = cell_class.get(c)
            k = k(v) if callable(k) else k
            cls = f' class="{k}"' if k else ""
            cells.append(f"<td{cls}>{text}</td>")
        attrs = row_attrs(r) if row_attrs else ""
        rows.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _count(shown: int, total: int, what: str, file: str, order: str = "") -> str:
    """How many rows the table shows, of how many, and the file that holds them all."""
    link = f'<a href="{e(file)}">{e(file)}</a>'
    if shown >= total:
        return f"<p class=note>All {total:,} {e(what)}; also in {link} beside this report.</p>"
    return (f'<p class="note more"><b>{shown:,} of {total:,} {e(what)} shown</b>{e(order)}; '
            f"all of them in {link} beside this report.</p>")


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{e(title)}</h2>{body}</section>'


def _summary(r: AnalysisResult) -> str:
    sev = Counter(f.severity for f in r.findings)
    n_rej = int((r.rejects.level == "reject").sum()) if len(r.rejects) else 0
    n_warn = len(r.rejects) - n_rej
    cards = [("high", sev.get("high", 0)), ("medium", sev.get("medium", 0)),
             ("low", sev.get("low", 0)), ("rows set aside", n_rej), ("warnings", n_warn)]
    items = "".join(f'<div class="card {e(k.split()[0])}"><b>{v:,}</b><span>{e(k)}</span>'
                    "</div>" for k, v in cards)
    rules = Counter(f.rule for f in r.findings)
    by_rule = ", ".join(f"{e(k)}: {v:,}" for k, v in sorted(rules.items())) or "none"
    return f'<div class="cards">{items}</div><p>Findings by rule: {by_rule}.</p>'


def _exports(r: AnalysisResult, chart: _Charts) -> str:
    ex = r.exports
    if ex.empty:
        return "<p>No shipments.</p>"
    by = ex.groupby(["year", "destination"], as_index=False)[["net_kg", "re_kg", "heavy_re_kg",
                                                               "shipments"]].sum()
    fig = go.Figure()
    for year, g in by.groupby("year"):
        fig.add_bar(name=str(year), x=g.destination, y=g.re_kg)
    fig.update_layout(barmode="group", title="Rare-earth content exported, by destination (kg)",
                      yaxis_title="rare-earth content (kg)", xaxis_title="destination")
    table = _table(by.head(MAX_ROWS),
                   {"year": "year", "destination": "destination", "net_kg": "goods (kg)",
                    "re_kg": "rare-earth content (kg)", "heavy_re_kg": "of which Dy+Tb (kg)",
                    "shipments": "declarations"},
                   {"net_kg": kg, "re_kg": kg, "heavy_re_kg": kg,
                    "shipments": lambda v: f"{int(v):,}"})
    more = (f"<p class=note>{MAX_ROWS} of {len(by):,} destination-years shown.</p>"
            if len(by) > MAX_ROWS else "")
    return chart(fig) + more + table


def _attribution(r: AnalysisResult, chart: _Charts) -> str:
    a = r.attribution
    if a is None or a.empty:
        return "<p>Not computed: needs shipments from the controlling country.</p>"
    fig = go.Figure()
    label = a.destination + " " + a.period.astype(str)
    for c in CATEGORIES:
        fig.add_bar(name=c.replace("_", " "), x=label, y=a[f"{c}_share"] * 100,
                    marker_color=COLOURS[c])
    fig.update_layout(barmode="relative", title="Where each destination's imports ended up",
                      yaxis_title="share of rare-earth content released (%)")
    sankey = _sankey(a, chart)
    cols = {"destination": "destination", "period": "period", "released_kg": "released (kg)"}
    fmt: dict[str, Format] = {"released_kg": kg}
    for c in CATEGORIES:
        cols[f"{c}_kg"] = f"{c.replace('_', ' ')} (kg)"
        cols[f"{c}_share"] = "share"
        fmt[f"{c}_kg"] = kg
        fmt[f"{c}_share"] = pct
    cols["unaccounted_sd_kg"] = "± sd of unaccounted (kg)"
    fmt["unaccounted_sd_kg"] = kg
    note = ("<p class=note>A flow account per year (contract 1.1 §1): what happened in the "
            "year, divided by the rare-earth content released to the destination in that "
            "year. Each party passes on what it received in proportion to what it did; a "
            "stock drawdown is a negative <i>in stock</i>, so <i>verified use</i> can exceed "
            "100%. The five shares of a destination and year add up to 100%.</p>")
    return (_checks(r) + sankey + chart(fig) + note
            + _count(min(len(a), MAX_ROWS), len(a), "destination-years", "attribution.csv")
            + _table(a.head(MAX_ROWS), cols, fmt) + _cohort(r, cols, fmt))


def _checks(r: AnalysisResult) -> str:
    """The analysis checks itself: attribution's unaccounted against the balances."""
    c = r.checks
    if c is None or c.empty:
        return ""
    bad = c[~c.ok.astype(bool)]
    if bad.empty:
        return (f"<p class=note>Self-check passed: for each of the {len(c)} destination-years, "
                "attribution's unaccounted kg is within the summed unaccounted of the parties "
                "the material reached plus 3 standard deviations.</p>")
    rows = _table(bad.head(MAX_ROWS), {
        "destination": "destination", "period": "period",
        "attribution_unaccounted_kg": "attribution unaccounted (kg)",
        "balances_unaccounted_kg": "balances unaccounted (kg)", "balances_sd_kg": "sd (kg)"},
        {"attribution_unaccounted_kg": kg, "balances_unaccounted_kg": kg, "balances_sd_kg": kg})
    return ("<div class=alarm><b>SELF-CHECK FAILED: this is a bug in rareflow, not a finding."
            f"</b> For {len(bad)} destination-year(s), attribution's unaccounted kg exceeds the "
            "parties' balances plus 3 standard deviations. Do not rely on the attribution "
            "below; report the dataset to the maintainers (attribution_checks.csv).</div>"
            + rows)


def _cohort(r: AnalysisResult, cols: dict, fmt: dict) -> str:
    c = r.cohort
    if c is None or c.empty:
        return ""
    return ("<h3>Cohort view: where each year's release was by the end of the data</h3>"
            "<p class=note>Follows each year's release into later years through one graph "
            "of the whole record (flows summed, stock change from the opening stock to the "
            "last report). An extra view, not the contract's attribution.</p>"
            + _count(min(len(c), MAX_ROWS), len(c), "destination-years",
                     "attribution_cohort.csv")
            + _table(c.head(MAX_ROWS), cols, fmt))


def _sankey(a: pd.DataFrame, chart: _Charts) -> str:
    """CN's exports -> each destination (released, all years) -> the five categories, each in
    the bar chart's colour. Negative amounts (a stock drawdown, a negative residual) cannot be
    drawn as bands: they are left out here and are in the table."""
    dests = sorted(a.destination.unique())
    cats = list(CATEGORIES)
    labels = ["CN exports", *dests, *[c.replace("_", " ") for c in cats]]
    colours = ["#455a64", *[DESTINATION_COLOUR] * len(dests), *[COLOURS[c] for c in cats]]
    idx = {n: i for i, n in enumerate(labels)}
    src, dst, val, col = [], [], [], []
    for d in dests:
        g = a[a.destination == d]
        src.append(0)
        dst.append(idx[d])
        val.append(float(g.released_kg.sum()))
        col.append(_rgba(DESTINATION_COLOUR, 0.35))
        for c in cats:
            v = float(g[f"{c}_kg"].sum())
            if v > 0:
                src.append(idx[d])
                dst.append(idx[c.replace("_", " ")])
                val.append(v)
                col.append(_rgba(COLOURS[c], 0.55))
    fig = go.Figure(go.Sankey(
        valueformat=",.1f", valuesuffix=" kg",
        node={"label": labels, "color": colours, "pad": 14,
              "hovertemplate": "%{label}: %{value:,.1f} kg<extra></extra>"},
        link={"source": src, "target": dst, "value": val, "color": col}))
    fig.update_layout(title="Rare-earth content (kg) from CN to each destination, all years, "
                      "and where it ended (colours as in the bar chart below)")
    return chart(fig, height=420)


def _balances(r: AnalysisResult) -> str:
    b = r.balances
    if b is None or b.empty:
        return "<p>Not computed: needs shipments or flows.</p>"
    total = len(b)
    b = b.assign(_abs=b.unaccounted_kg.abs()).sort_values("_abs", ascending=False)
    b = b.head(MAX_BALANCES)
    b = b.assign(unacc=_html([f"{kg(u)} ± {kg(s)}" for u, s in zip(
        b.unaccounted_kg, b.unaccounted_sd_kg, strict=True)], b))
    cols = {"party_id": "party", "period": "period", "received_kg": "received (kg)",
            "produced_kg": "produced (kg)", "sent_kg": "sent (kg)", "used_kg": "used (kg)",
            "scrap_kg": "scrap (kg)", "stock_change_kg": "stock change (kg)",
            "unacc": "unaccounted ± 1 sd (kg)", "nodal_z": "nodal z"}
    fmt: dict[str, Format] = {c: kg for c in cols if c.endswith("_kg")}
    fmt["nodal_z"] = lambda z: f"{round(z, 1) + 0.0:+.1f}"
    fmt["party_id"] = ident
    return (_global_tests(r) + "<h3>Per party and period</h3><p class=note>Rare-earth "
            "content in kg. ± 1 standard deviation from the sources' measurement uncertainty; "
            "nodal z = residual / sd.</p>"
            + _count(len(b), total, "party balances", "balances.csv",
                     " (the largest residuals first)")
            + _table(b, cols, fmt, right=("unacc",)))


def _traces(r: AnalysisResult, chart: _Charts) -> str:
    from rareflow.outputs.trace_view import trace_figure

    parts = ["<p class=note>Each lot a teardown found, followed back through the lot links "
             "to the customs declarations behind it (<code>rareflow trace LOT --backward</code> "
             "gives the same as text or JSON). Band width: rare-earth content (kg) that moved "
             "along the link. The certificate and the licence a declaration was made under are "
             "documents, not material: they hang on thin grey threads of no mass.</p>"]
    for title, tr in r.traces:
        fig = trace_figure(tr)
        fig.update_layout(title=title)
        parts.append(chart(fig, height=420))
    return "".join(parts)


def _global_tests(r: AnalysisResult) -> str:
    g = r.reconciliation
    if g is None or g.empty:
        return ""
    g = g.assign(verdict=["books do not close (gross error at 5%)" if x else "consistent"
                          for x in g.gross_error])
    cols = {"period": "period", "statistic": "chi-square", "dof": "degrees of freedom",
            "p_value": "p-value", "verdict": "global test", "nodes": "parties",
            "streams": "streams"}
    fmt: dict[str, Format] = {"statistic": lambda v: f"{v:,.2f}", "p_value": lambda v: f"{v:.3g}"}
    return ("<h3>Global test per period</h3><p class=note>Each period's network reconciled "
            "under the hypothesis that nothing is unaccounted (weighted least squares; "
            '<a href="reconciliation.csv">reconciliation.csv</a>).</p>'
            + _table(g.head(MAX_ROWS), cols, fmt))


def _notes(r: AnalysisResult) -> str:
    """What the analysis set aside on an analyst's word (restricted-list candidates judged
    `not_same`), so that a suppression is never silent."""
    items = "".join(f"<li>{e(n)}</li>" for n in r.notes)
    return (f"<p>{len(r.notes)} candidate(s) left out of the findings by an analyst's "
            f"judgement (screening_decisions):</p><ul>{items}</ul>")


def _findings(r: AnalysisResult) -> str:
    if not r.findings:
        return "<p>No findings.</p>"
    shown = r.findings[:MAX_FINDINGS]  # the most severe first (sort_findings)
    df = pd.DataFrame([f.model_dump() for f in shown])
    df["subject"] = _html([f"{esc(t)}<br>{ident(i)}"
                           for t, i in zip(df.subject_type, df.subject_id, strict=True)], df)
    df["evidence"] = _html([ids(list(v), 8, " (findings.jsonl)") for v in df.evidence], df)
    df["rule"] = _html([esc(x).replace("_", "_<wbr>") for x in df.rule], df)
    cols = {"id": "finding", "severity": "severity", "rule": "rule", "subject": "subject",
            "period": "period", "kg": "rare earth (kg)", "share": "share",
            "message": "message", "evidence": "evidence"}
    seen: set[str] = set()

    def anchor(row: dict) -> str:  # one anchor per id: report.html#F-...
        if row["id"] in seen:
            return ""
        seen.add(row["id"])
        return f' id="{e(row["id"])}"'

    box = ('<input id="filter" placeholder="Filter the findings shown (rule, party, id, any '
           'text)" oninput="filterRows(this.value)">')
    note = ("<p class=note>The finding id is what <code>rareflow trace ID --findings "
            "findings.jsonl</code> takes; <code>report.html#ID</code> links to its row. A long "
            "id is shortened: point at it for the full value.</p>")
    return (box + note + _count(len(shown), len(r.findings), "findings", "findings.jsonl",
                                " (the most severe first; the filter searches those shown)")
            + _table(df, cols, {"kg": kg, "share": pct}, table_id="findings",
                     row_attrs=anchor,
                     cell_class={"id": "fid", "severity": lambda v: f"sev {e(v)}"}))


def _rejects(r: AnalysisResult) -> str:
    rej = r.rejects
    if rej.empty:
        return "<p>Every row follows the contract.</p>"
    cols = {"file": "file", "line": "line", "column": "column", "reason": "reason",
            "value": "value", "level": "level"}
    return (_count(min(len(rej), MAX_REJECTS), len(rej), "rows set aside or warned about",
                   "rejects.csv", " (in file and line order)")
            + _table(rej.head(MAX_REJECTS), cols, {"line": lambda v: str(int(v)),
                                                   "value": ident}))


def _ledger(r: AnalysisResult) -> str:
    led = r.licence_ledger
    if led is None or led.empty:
        return "<p>No licences in the dataset.</p>"
    over = led.expr.status != "within"
    n_over = led.count_where(over)
    shown = led.where(over, MAX_LEDGER) if n_over else led.head(MAX_LEDGER)
    shown = shown.sort_values(["licence_id", "date", "declaration_id"], kind="stable")
    if n_over:
        what = (f"<div class=alarm><b>{n_over:,} of {led.rows:,} shipments drawn on licences "
                "go beyond the licensed quantity.</b> They are the rows shown (marked in red"
                + (f"; the first {MAX_LEDGER}" if n_over > MAX_LEDGER else "")
                + ").</div>")
    else:
        what = "<p class=note>No shipment goes beyond its licence.</p>"
    note = ("<p class=note>Goods in kg (net mass, as licences count them): what each shipment "
            "drew, the running total on its licence, the licensed quantity and what is left "
            "after it.</p>")
    cols = {"licence_id": "licence", "declaration_id": "declaration", "date": "date",
            "kg": "drawn (kg)", "cumulative_kg": "cumulative (kg)", "max_kg": "licensed (kg)",
            "remaining_kg": "left (kg)", "status": "status"}
    fmt: dict[str, Format] = {c: kg for c in ("kg", "cumulative_kg", "max_kg",
                                              "remaining_kg")}
    fmt["date"] = lambda d: str(d)[:10]
    fmt["status"] = lambda s: f"⚠ {s}" if s != "within" else s

    def mark(row: dict) -> str:
        return ' class="over"' if row["status"] != "within" else ""

    counted = _count(len(shown), led.rows, "ledger rows", "licence_ledger.csv",
                     " (those beyond their licence)" if n_over else " (the first)")
    return (what + note + counted
            + _table(shown, cols, fmt, row_attrs=mark, cell_class={"status": "status"}))


def _files_line(r: AnalysisResult) -> str:
    files = [*FILES, *(["decisions.csv"] if r.decisions is not None else [])]
    return ('<p class="files">Files beside this report (every row): '
            + " · ".join(f'<a href="{f}">{f}</a>' for f in files) + "</p>")


def render_report(r: AnalysisResult, *, dataset: str, generated_at: str) -> str:
    """The whole page as a string."""
    chart = _Charts()
    counts = pd.DataFrame(sorted(r.table_counts.items()), columns=["table", "rows"])
    decisions = ([("decisions", "", decisions_section(r.decisions))]
                 if r.decisions is not None else [])
    sections = [
        ("summary", "Summary", _summary(r)),
        ("findings", "Findings", _findings(r)),
        *([("notes", "Judged by analysts", _notes(r))] if r.notes else []),
        ("exports", "Exports by destination and year", _exports(r, chart)),
        ("attribution", "Where the material went", _attribution(r, chart)),
        *([("traces", "Teardown traces", _traces(r, chart))] if r.traces else []),
        ("balances", "Party balances", _balances(r)),
        ("ledger", "Licence ledger", _ledger(r)),
        *decisions,
        ("dataset", "Dataset", _table(counts, {"table": "table", "rows": "rows stored"},
                                      {"rows": lambda v: f"{int(v):,}"})),
        ("rejects", "Rows set aside and warnings", _rejects(r)),
    ]
    html_sections = [_section(title, body, anchor) if title else body  # decisions: whole
                     for anchor, title, body in sections]
    short = {"summary": "Summary", "findings": "Findings", "notes": "Judged",
             "exports": "Exports",
             "attribution": "Attribution", "traces": "Traces", "balances": "Balances",
             "ledger": "Licences", "decisions": "Applications", "dataset": "Dataset",
             "rejects": "Rejects"}
    present = {a for a, _, _ in sections}
    nav = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in short.items() if a in present)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>rareflow report: {e(dataset)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>rareflow report</h1><p>Dataset <code>{e(dataset)}</code> · "
            f"generated {e(generated_at)}</p><nav>{nav}</nav>{_files_line(r)}</header>"
            f"<main>{''.join(html_sections)}</main><script>{FILTER_JS}</script>"
            f"{chart.scripts()}</body></html>")


def write_report(r: AnalysisResult, path: Path, *, dataset: str, generated_at: str) -> None:
    path.write_text(render_report(r, dataset=dataset, generated_at=generated_at), "utf-8")
