"""The report's section on licence applications: one row per decision of `rareflow assess`
(the most severe decisions first, the first `MAX_DECISIONS`; all in decisions.csv)."""

from __future__ import annotations

import pandas as pd

from rareflow.outputs.report_style import NA_HTML, esc, ident, ids, missing, number

COLOURS = {"approve": "#e8f5e9", "request_information": "#fff8e1", "deny": "#ffebee"}
ORDER = {"deny": 0, "request_information": 1, "approve": 2}
MAX_DECISIONS = 200
#: The table's columns: header -> the decision columns each cell shows (one per line).
COLUMNS = {"Application": ("application_id", "date"),
           "Parties": ("exporter_id", "consignee_id", "end_user_id"),
           "Goods": ("product", "kg", "destination"),
           "Certificate": ("certificate_id",), "Decision": ("decision",),
           "Reasons": ("reasons",), "Explanation": ("explanation",),
           "Evidence": ("evidence",)}
LABELS = {"exporter_id": "exporter", "consignee_id": "consignee", "end_user_id": "end user",
          "destination": "to"}
IDS = {"application_id", "exporter_id", "consignee_id", "end_user_id", "certificate_id"}


def _e(value: object) -> str:
    return str(esc(value))


def _codes(value: object) -> str:
    """Codes (`certificate_quantity_exceeded`) that may wrap after an underscore."""
    return _e(value).replace("_", "_<wbr>")


def _part(col: str, value: object) -> str:
    if col == "kg":
        return f"{number(value, 0)} kg" if not missing(value) else str(NA_HTML)
    if missing(value):
        return str(NA_HTML)
    if col == "reasons":
        return "<br>".join(_codes(p) for p in str(value).split("; ") if p)
    if col == "evidence":
        return ids([p for p in str(value).split(";") if p], 12, " (decisions.csv)")
    if col == "decision":
        return f"<b>{_codes(value)}</b>"
    if col in IDS:
        return ident(value)
    if col == "product":
        return _codes(value)
    return _e(value)


def _cell(header: str, row: dict) -> str:
    cols = [c for c in COLUMNS[header] if c in row]
    parts = []
    for c in cols:
        text = _part(c, row[c])
        parts.append(f'<span class="na">{LABELS[c]}</span> {text}' if c in LABELS and
                     len(cols) > 1 else text)
    style = ""
    if header == "Decision":
        style = f' style="background:{COLOURS.get(str(row.get("decision")), "#eceff1")}"'
    return f"<td{style}>{'<br>'.join(parts) or NA_HTML}</td>"


def decisions_section(decisions: pd.DataFrame) -> str:
    """An HTML fragment (a `<section>` with a summary and a table) of `decisions`, every
    value escaped."""
    counts = decisions["decision"].value_counts() if len(decisions) else pd.Series(dtype=int)
    summary = ", ".join(f"{_e(k)}: {int(counts.get(k, 0)):,}" for k in COLOURS)
    cols = [h for h, parts in COLUMNS.items() if set(parts) & set(decisions.columns)]
    head = "".join(f"<th>{_e(h)}</th>" for h in cols)
    shown = decisions
    if "decision" in decisions.columns:
        shown = decisions.iloc[decisions["decision"].map(lambda d: ORDER.get(d, 3))
                               .argsort(kind="stable")]
    shown = shown.head(MAX_DECISIONS)
    rows = "".join("<tr>" + "".join(_cell(h, r) for h in cols) + "</tr>"
                   for r in shown.to_dict("records"))
    link = '<a href="decisions.csv">decisions.csv</a>'
    if len(decisions) > len(shown):
        count = (f'<p class="note more"><b>{len(shown):,} of {len(decisions):,} applications '
                 f"shown</b> (denials first, then requests for information); all of them in "
                 f"{link} beside this report.</p>")
    else:
        count = f"<p class=note>All {len(decisions):,} applications; also in {link}.</p>"
    note = ("<p class=note>Each application judged as of its date against its certificate, "
            "the policy in force, the parties' history and the end user's declared "
            "capacity; the decision is the most severe of its reasons' "
            "(docs/commands/assess.md).</p>")
    if decisions.empty:
        body = "<p>No licence applications in the dataset.</p>"
    else:
        body = (f"<p>{len(decisions):,} applications: {summary}.</p>{note}{count}"
                f'<table id="decisions-table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>")
    return f'<section id="decisions"><h2>Licence applications</h2>{body}</section>'
