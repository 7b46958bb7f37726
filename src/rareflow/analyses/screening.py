"""Parties that must not receive controlled material: restricted-list candidates found by the
screening engine (`rareflow.screening`: blocking in DuckDB, names transliterated and compared
token by token, countries and identifiers as features), and parties with a
`military_contract` observation.

The `match` decisions make a party prohibited (`prohibited_end_use`, the `prohibited_use`
share; `FlowModel.matches`). `screen_model` gives every
candidate at or above the `possible` threshold, for the `restricted_party` rule, after the
analysts' judgements of the dataset's `screening_decisions` table (the project's extension
to the contract): a `not_same` pair is left out (`screening_suppressed` lists it, with who
judged it and when), a `same` pair is a `match` whatever its score."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from rareflow.screening.engine import (
    RESULT_COLUMNS,
    SUPPRESSED_COLUMNS,
    ScreeningResult,
    screen,
)
from rareflow.screening.settings import ScreeningSettings
from rareflow.screening.sources import DECISION_COLUMNS, ENTITY_COLUMNS, PARTY_COLUMNS

if TYPE_CHECKING:
    from rareflow.analyses.model import FlowModel

MATCH_COLUMNS = ["party_id", "list", "entity_id", "matched_name", "how", "score", "decision"]


def _split(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    if isinstance(value, str) and value:
        return [a.strip() for a in value.split(";") if a.strip()]
    return []


def _text(frame: pd.DataFrame, col: str) -> list[str]:
    if col not in frame.columns:
        return [""] * len(frame)
    return ["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
            for v in frame[col]]


def party_frame(parties: pd.DataFrame) -> pd.DataFrame:
    """The contract's parties table -> the screening engine's parties."""
    out = pd.DataFrame({"party_id": _text(parties, "party_id"), "name": _text(parties, "name"),
                        "aliases": [_split(v) for v in parties.get(
                            "aliases", pd.Series([None] * len(parties)))]})
    for c in ("country", "schema", "birth_date", "registration_id"):
        out[c] = _text(parties, c)
    return out[PARTY_COLUMNS]


def entity_frame(restricted: pd.DataFrame) -> pd.DataFrame:
    """The contract's restricted_parties table -> the screening engine's entities."""
    out = pd.DataFrame({"list": _text(restricted, "list"),
                        "entity_id": _text(restricted, "entity_id"),
                        "name": _text(restricted, "name"),
                        "aliases": [_split(v) for v in restricted.get(
                            "aliases", pd.Series([None] * len(restricted)))]})
    for c in ("country", "schema", "birth_date", "registration_id"):
        out[c] = _text(restricted, c)
    return out[ENTITY_COLUMNS]


def screen_tables(parties: pd.DataFrame, restricted: pd.DataFrame,
                  settings: ScreeningSettings | None = None,
                  decisions: pd.DataFrame | None = None) -> ScreeningResult:
    """Screen the contract's parties against its restricted_parties."""
    return screen(party_frame(parties), entity_frame(restricted), settings, decisions)


def _as_matches(result: ScreeningResult) -> pd.DataFrame:
    c = result.candidates
    return pd.DataFrame({"party_id": c.party_id, "list": c.list, "entity_id": c.entity_id,
                         "matched_name": c.entity_name, "how": c.explanation,
                         "score": c.score, "decision": c.decision}, columns=MATCH_COLUMNS)


def decisions_frame(decisions: pd.DataFrame) -> pd.DataFrame:
    """The stored `screening_decisions` table -> the engine's judgements (DECISION_COLUMNS, as
    text; a date as YYYY-MM-DD, a missing `by`, `date` or `note` as empty)."""
    def clean(col: str) -> list[str]:
        if col not in decisions.columns:
            return [""] * len(decisions)
        return ["" if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v))
                else str(v).strip() for v in decisions[col]]

    out = pd.DataFrame({c: clean(c) for c in DECISION_COLUMNS}, columns=DECISION_COLUMNS)
    out["date"] = [d[:10] for d in out.date]  # a stored date (or timestamp) as YYYY-MM-DD
    return out


def screening_result(m: FlowModel) -> ScreeningResult:
    """The dataset's parties screened against its restricted_parties with the policy's
    `analysis.screening` settings and the dataset's judgements, once per analysis."""
    def compute() -> ScreeningResult:
        if m.t.restricted_parties is None:
            return ScreeningResult(pd.DataFrame(columns=RESULT_COLUMNS),
                                   pd.DataFrame(columns=SUPPRESSED_COLUMNS))
        cols = [c for c in ("party_id", "name", "aliases", "country", "registration_id")
                if c in m.t.parties.columns]
        parties = m.pull(m.t.parties.select(*cols))
        decisions = (None if m.t.screening_decisions is None
                     else decisions_frame(m.pull(m.t.screening_decisions)))
        return screen_tables(parties, m.pull(m.t.restricted_parties),
                             m.settings(ScreeningSettings), decisions)
    return m.once("screening_result", compute)


def screen_model(m: FlowModel) -> pd.DataFrame:
    """Every candidate (`match` and `possible`) of the dataset's parties that no analyst
    judged `not_same`, once per analysis; a pair judged `same` is a `match` and its `how`
    ends in `confirmed the same by BY on DATE: NOTE`."""
    return m.once("screening", lambda: _as_matches(screening_result(m)))


def screening_suppressed(m: FlowModel) -> pd.DataFrame:
    """The candidates an analyst judged `not_same` (engine.SUPPRESSED_COLUMNS: party_id,
    list, entity_id, entity_name, score, by, date, note): no finding, no prohibition."""
    return screening_result(m).suppressed


def suppressed_notes(m: FlowModel) -> list[str]:
    """One line per suppressed candidate, for the analysis result's notes."""
    out = []
    for r in screening_suppressed(m).itertuples(index=False):
        who = " on ".join(x for x in (str(r.by), str(r.date)) if x) or "an analyst"
        note = f": {r.note}" if r.note else ""
        out.append(f"restricted_party: {r.party_id} ~ '{r.entity_name}' (list {r.list}, "
                   f"entity {r.entity_id}, score {float(r.score):.2f}) suppressed by "
                   f"{who}{note}")
    return out
