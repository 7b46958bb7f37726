"""The report's section on licence applications: one row per decision of `rareflow assess`."""

from __future__ import annotations

import html

import pandas as pd

COLOURS = {"approve": "#e8f5e9", "request_information": "#fff8e1", "deny": "#ffebee"}
COLUMNS = {"application_id": "Application", "date": "Date", "exporter_id": "Exporter",
           "consignee_id": "Consignee", "end_user_id": "End user",
           "destination": "Destination", "product": "Product", "kg": "kg",
           "certificate_id": "Certificate", "decision": "Decision", "reasons": "Reasons",
           "explanation": "Explanation", "evidence": "Evidence"}


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def _cell(col: str, value: object) -> str:
    if col == "kg" and isinstance(value, int | float) and not pd.isna(value):
        return f'<td style="text-align:right">{value:,.0f}</td>'
    if col == "decision":
        colour = COLOURS.get(str(value), "#eceff1")
        return f'<td style="background:{colour}"><b>{_e(value)}</b></td>'
    if col in ("reasons", "evidence"):
        sep = "; " if col == "reasons" else ";"
        parts = [p for p in ("" if value is None else str(value)).split(sep) if p]
        return f"<td>{'<br>'.join(_e(p) for p in parts)}</td>"
    return f"<td>{_e(value)}</td>"


def decisions_section(decisions: pd.DataFrame) -> str:
    """An HTML fragment (a `<section>` with a summary and a table) of `decisions`, every
    value escaped."""
    counts = decisions["decision"].value_counts() if len(decisions) else pd.Series(dtype=int)
    summary = ", ".join(f"{_e(k)}: {int(counts.get(k, 0))}" for k in COLOURS)
    cols = [c for c in COLUMNS if c in decisions.columns]
    head = "".join(f"<th>{_e(COLUMNS[c])}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(_cell(c, r[c]) for c in cols) + "</tr>"
                   for r in decisions.to_dict("records"))
    note = ("<p class=note>Each application judged as of its date against its certificate, "
            "the policy in force, the parties' history and the end user's declared "
            "capacity; the decision is the most severe of its reasons' "
            "(docs/commands/assess.md).</p>")
    if decisions.empty:
        body = "<p>No licence applications in the dataset.</p>"
    else:
        body = (f"<p>{len(decisions)} applications: {summary}.</p>{note}"
                f'<table id="decisions-table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>")
    return f'<section id="decisions"><h2>Licence applications</h2>{body}</section>'
