"""The offline HTML report: one self-contained page (plotly's JavaScript inlined once).

Formatting only: every number comes from `AnalysisResult`."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from rareflow.outputs.decisions_report import decisions_section
from rareflow.outputs.report_style import CSS, FILTER_JS
from rareflow.vocabulary import CATEGORIES
from rareflow.workspace import AnalysisResult

COLOURS = {"verified_use": "#2e7d32", "in_stock": "#1565c0", "reexported": "#ef6c00",
           "prohibited_use": "#c62828", "unaccounted": "#6d4c41"}
MAX_REJECTS = 200
MAX_LEDGER = 200  # ledger rows in the page (all in licence_ledger.csv)


def e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def kg(value: float | None) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{value / 1000:,.2f} t" if abs(value) >= 10_000 else f"{value:,.1f} kg"


def pct(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.1%}"


class _Charts:
    """Plotly figures as HTML fragments; the library is inlined with the first only."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure) -> str:
        self.n += 1
        fig.update_layout(margin={"l": 60, "r": 20, "t": 40, "b": 40}, height=380,
                          template="plotly_white")
        return fig.to_html(full_html=False, include_plotlyjs=self.n == 1,
                           div_id=f"chart-{self.n}", config={"displaylogo": False})


def _table(df: pd.DataFrame, columns: dict[str, str], formats: dict | None = None,
           table_id: str = "") -> str:
    formats = formats or {}
    head = "".join(f"<th>{e(label)}</th>" for label in columns.values())
    rows = []
    for _, r in df.iterrows():
        cells = "".join(f"<td>{e(formats.get(c, str)(r[c]) if c in r else '')}</td>"
                        for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{e(title)}</h2>{body}</section>'


def _summary(r: AnalysisResult) -> str:
    sev = Counter(f.severity for f in r.findings)
    n_rej = int((r.rejects.level == "reject").sum()) if len(r.rejects) else 0
    n_warn = len(r.rejects) - n_rej
    cards = [("high", sev.get("high", 0)), ("medium", sev.get("medium", 0)),
             ("low", sev.get("low", 0)), ("rows set aside", n_rej), ("warnings", n_warn)]
    items = "".join(f'<div class="card {e(k.split()[0])}"><b>{v}</b><span>{e(k)}</span></div>'
                    for k, v in cards)
    rules = Counter(f.rule for f in r.findings)
    by_rule = ", ".join(f"{e(k)}: {v}" for k, v in sorted(rules.items())) or "none"
    return f'<div class="cards">{items}</div><p>Findings by rule: {by_rule}.</p>'


def _exports(r: AnalysisResult, chart: _Charts) -> str:
    ex = r.exports
    if ex.empty:
        return "<p>No shipments.</p>"
    by = ex.groupby(["year", "destination"], as_index=False)[["net_kg", "re_kg", "heavy_re_kg",
                                                               "shipments"]].sum()
    fig = go.Figure()
    for year, g in by.groupby("year"):
        fig.add_bar(name=str(year), x=g.destination, y=g.re_kg / 1000)
    fig.update_layout(barmode="group", title="Rare-earth content exported, by destination",
                      yaxis_title="rare-earth content (t)", xaxis_title="destination")
    table = _table(by, {"year": "year", "destination": "destination", "net_kg": "goods",
                        "re_kg": "rare-earth content", "heavy_re_kg": "of which Dy+Tb",
                        "shipments": "declarations"},
                   {"net_kg": kg, "re_kg": kg, "heavy_re_kg": kg})
    return chart(fig) + table


def _attribution(r: AnalysisResult, chart: _Charts) -> str:
    a = r.attribution
    if a is None or a.empty:
        return "<p>Not computed: needs shipments from the controlling country.</p>"
    fig = go.Figure()
    label = a.destination + " " + a.period.astype(str)
    for c in CATEGORIES:
        fig.add_bar(name=c.replace("_", " "), x=label, y=a[f"{c}_share"] * 100,
                    marker_color=COLOURS[c])
    fig.update_layout(barmode="stack", title="Where each destination's imports ended up",
                      yaxis_title="share of rare-earth content released (%)")
    sankey = _sankey(a, chart)
    cols = {"destination": "destination", "period": "period", "released_kg": "released"}
    fmt = {"released_kg": kg}
    for c in CATEGORIES:
        cols[f"{c}_kg"] = c.replace("_", " ")
        cols[f"{c}_share"] = "share"
        fmt[f"{c}_kg"] = kg
        fmt[f"{c}_share"] = pct
    cols["unaccounted_sd_kg"] = "± sd (unaccounted)"
    fmt["unaccounted_sd_kg"] = kg
    note = ("<p class=note>A flow account per year (contract 1.1 §1): what happened in the "
            "year, divided by the rare-earth content released to the destination in that "
            "year. Each party passes on what it received in proportion to what it did; a "
            "stock drawdown is a negative <i>in stock</i>, so <i>verified use</i> can exceed "
            "100%. The five shares of a destination and year add up to 100%.</p>")
    return (_checks(r) + sankey + chart(fig) + note + _table(a, cols, fmt)
            + _cohort(r, cols, fmt))


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
    rows = _table(bad, {"destination": "destination", "period": "period",
                        "attribution_unaccounted_kg": "attribution unaccounted",
                        "balances_unaccounted_kg": "balances unaccounted",
                        "balances_sd_kg": "sd"},
                  {"attribution_unaccounted_kg": kg, "balances_unaccounted_kg": kg,
                   "balances_sd_kg": kg})
    return ("<div class=alarm><b>SELF-CHECK FAILED: this is a bug in rareflow, not a finding."
            f"</b> For {len(bad)} destination-year(s), attribution's unaccounted kg exceeds the "
            "parties' balances plus 3 standard deviations. Do not rely on the attribution "
            "below; report the dataset to the maintainers.</div>" + rows)


def _cohort(r: AnalysisResult, cols: dict, fmt: dict) -> str:
    c = r.cohort
    if c is None or c.empty:
        return ""
    return ("<h3>Cohort view: where each year's release was by the end of the data</h3>"
            "<p class=note>Follows each year's release into later years through one graph "
            "of the whole record (flows summed, stock change from the opening stock to the "
            "last report). An extra view, not the contract's attribution: "
            "<code>attribution_cohort.csv</code>.</p>" + _table(c, cols, fmt))


def _sankey(a: pd.DataFrame, chart: _Charts) -> str:
    dests = sorted(a.destination.unique())
    labels = ["CN (exports)", *dests, *[c.replace("_", " ") for c in CATEGORIES]]
    idx = {n: i for i, n in enumerate(labels)}
    src, dst, val, col = [], [], [], []
    for d in dests:
        g = a[a.destination == d]
        src.append(0)
        dst.append(idx[d])
        val.append(float(g.released_kg.sum()))
        col.append("rgba(120,120,120,0.4)")
        for c in CATEGORIES:
            v = float(g[f"{c}_kg"].sum())
            if v > 0:
                src.append(idx[d])
                dst.append(idx[c.replace("_", " ")])
                val.append(v)
                col.append(COLOURS[c])
    fig = go.Figure(go.Sankey(node={"label": labels, "pad": 14},
                              link={"source": src, "target": dst, "value": val, "color": col}))
    fig.update_layout(title="Rare-earth content (kg) from the controlling country to its ends")
    return chart(fig)


def _balances(r: AnalysisResult) -> str:
    b = r.balances
    if b is None or b.empty:
        return "<p>Not computed: needs shipments or flows.</p>"
    b = b.assign(_abs=b.unaccounted_kg.abs()).sort_values("_abs", ascending=False).head(100)
    b = b.assign(unacc=[f"{kg(u)} ± {kg(s)}" for u, s in zip(b.unaccounted_kg,
                                                             b.unaccounted_sd_kg, strict=True)])
    cols = {"party_id": "party", "period": "period", "received_kg": "received",
            "produced_kg": "produced", "sent_kg": "sent", "used_kg": "used", "scrap_kg": "scrap",
            "stock_change_kg": "stock change", "unacc": "unaccounted (± 1 sd)"}
    cols["nodal_z"] = "nodal z"
    fmt = {c: kg for c in cols if c.endswith("_kg")}
    fmt["nodal_z"] = lambda z: "" if pd.isna(z) else f"{z:+.1f}"
    return (_global_tests(r) + "<p class=note>Rare-earth content; the largest residuals first "
            "(100 at most); all in balances.csv. ± 1 standard deviation from the sources' "
            "measurement uncertainty; nodal z = residual / sd.</p>" + _table(b, cols, fmt))


def _traces(r: AnalysisResult, chart: _Charts) -> str:
    from rareflow.outputs.trace_view import trace_figure

    parts = ["<p class=note>Each lot a teardown found, followed back through the lot links "
             "to the customs declarations, certificates and licences behind it "
             "(`rareflow trace` gives the same as text or JSON).</p>"]
    for title, tr in r.traces:
        fig = trace_figure(tr)
        fig.update_layout(title=title)
        parts.append(chart(fig))
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
    fmt = {"statistic": lambda v: f"{v:,.2f}", "p_value": lambda v: f"{v:.3g}"}
    return ("<h3>Global test per period</h3><p class=note>Each period's network reconciled "
            "under the hypothesis that nothing is unaccounted (weighted least squares); "
            "reconciliation.csv.</p>" + _table(g, cols, fmt))


def _findings(r: AnalysisResult) -> str:
    if not r.findings:
        return "<p>No findings.</p>"
    df = pd.DataFrame([f.model_dump() for f in r.findings])
    df["evidence"] = df.evidence.map(lambda ids: ", ".join(ids))
    cols = {"severity": "severity", "rule": "rule", "subject_type": "subject",
            "subject_id": "id", "period": "period", "kg": "rare-earth content",
            "share": "share", "message": "message", "evidence": "evidence"}
    box = ('<input id="filter" placeholder="Filter findings (rule, party, text)" '
           'oninput="filterRows(this.value)">')
    return box + _table(df, cols, {"kg": kg, "share": pct}, table_id="findings")


def _rejects(r: AnalysisResult) -> str:
    rej = r.rejects
    if rej.empty:
        return "<p>Every row follows the contract.</p>"
    note = (f"<p class=note>{len(rej)} in all; the first {MAX_REJECTS} shown, all in "
            "rejects.csv.</p>" if len(rej) > MAX_REJECTS else "")
    cols = {"file": "file", "line": "line", "column": "column", "reason": "reason",
            "value": "value", "level": "level"}
    return note + _table(rej.head(MAX_REJECTS), cols)


def _ledger(r: AnalysisResult) -> str:
    led = r.licence_ledger
    if led is None or led.empty:
        return "<p>No licences in the dataset.</p>"
    over = led.expr.status != "within"
    n_over = led.count_where(over)
    shown = led.where(over, MAX_LEDGER) if n_over else led.head(MAX_LEDGER)
    what = (f"{n_over:,} of {led.rows:,} shipments drawn on licences go beyond the licensed "
            "quantity; " + (f"the first {MAX_LEDGER} are shown" if n_over > MAX_LEDGER
                            else "all are shown")
            if n_over else
            f"no shipment goes beyond its licence; the first {min(led.rows, MAX_LEDGER)} of "
            f"{led.rows:,} rows are shown")
    note = f"<p class=note>{what}; every row in licence_ledger.csv.</p>"
    cols = {"licence_id": "licence", "declaration_id": "declaration", "date": "date",
            "kg": "goods", "cumulative_kg": "cumulative", "max_kg": "licensed",
            "remaining_kg": "left", "status": "status"}
    fmt = {c: kg for c in ("kg", "cumulative_kg", "max_kg", "remaining_kg")}
    fmt["date"] = lambda d: str(d)[:10]
    return note + _table(shown, cols, fmt)


def render_report(r: AnalysisResult, *, dataset: str, generated_at: str) -> str:
    """The whole page as a string."""
    chart = _Charts()
    counts = pd.DataFrame(sorted(r.table_counts.items()), columns=["table", "rows"])
    sections = [
        _section("Summary", _summary(r), "summary"),
        _section("Findings", _findings(r), "findings"),
        _section("Exports by destination and year", _exports(r, chart), "exports"),
        _section("Where the material went", _attribution(r, chart), "attribution"),
        *([_section("Teardown traces", _traces(r, chart), "traces")] if r.traces else []),
        _section("Party balances", _balances(r), "balances"),
        _section("Licence ledger", _ledger(r), "ledger"),
        *([decisions_section(r.decisions)] if r.decisions is not None else []),
        _section("Dataset", _table(counts, {"table": "table", "rows": "rows stored"}),
                 "dataset"),
        _section("Rows set aside and warnings", _rejects(r), "rejects"),
    ]
    nav = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("summary", "Summary"), ("findings", "Findings"), ("exports", "Exports"),
        ("attribution", "Attribution"), ("traces", "Traces"), ("balances", "Balances"),
        ("ledger", "Licences"), ("decisions", "Applications"),
        ("dataset", "Dataset"), ("rejects", "Rejects")))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>rareflow report: {e(dataset)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>rareflow report</h1><p>Dataset <code>{e(dataset)}</code> · "
            f"generated {e(generated_at)}</p><nav>{nav}</nav></header>"
            f"<main>{''.join(sections)}</main><script>{FILTER_JS}</script></body></html>")


def write_report(r: AnalysisResult, path: Path, *, dataset: str, generated_at: str) -> None:
    path.write_text(render_report(r, dataset=dataset, generated_at=generated_at), "utf-8")
