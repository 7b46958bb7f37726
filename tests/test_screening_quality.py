"""The screening's quality on the 826 labelled name pairs of ../shared/testdata/name-matching
(nomenklatura's name benchmark, MIT): each pair goes through the whole engine (blocking in
DuckDB, then scoring) as a party and a list entity. A pair counts as found when the party's
candidates hold its entity (`match` or `possible`). The figures below are the floor this
test keeps: F1 measured 0.878 (precision 0.93, recall 0.83), precision of `match`
0.97 (issue 12's goal is F1 0.90: not
met; docs/screening.md says where the misses are)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from rareflow.screening.engine import screen
from rareflow.screening.settings import ScreeningSettings

CASES = Path(__file__).resolve().parents[2] / "shared/testdata/name-matching" \
    / "nomenklatura-name-bench-cases.csv"
F1_FLOOR = 0.87
MATCH_PRECISION_FLOOR = 0.95

pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"no {CASES}")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, list[bool]]:
    with CASES.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    parties = pd.DataFrame({"party_id": [f"p{i}" for i in range(len(rows))],
                            "name": [r["name1"] for r in rows],
                            "aliases": [[] for _ in rows], "country": "",
                            "schema": [r["schema"] for r in rows], "birth_date": "",
                            "registration_id": ""})
    entities = pd.DataFrame({"list": "bench", "entity_id": [f"p{i}" for i in range(len(rows))],
                             "name": [r["name2"] for r in rows],
                             "aliases": [[] for _ in rows], "country": "",
                             "schema": [r["schema"] for r in rows], "birth_date": "",
                             "registration_id": ""})
    return parties, entities, [r["is_match"] == "true" for r in rows]


def test_quality_on_labelled_pairs() -> None:
    parties, entities, truth = _frames()
    assert len(truth) == 826 and sum(truth) == 425
    # every pair of the file is one party and one entity; other pairs sharing names (there
    # are many variants of one name) must not crowd a pair out of its party's candidates
    s = replace(ScreeningSettings(), max_candidates=1000)
    c = screen(parties, entities, s).candidates
    own = c[c.party_id == c.entity_id].set_index("party_id").decision
    decision = [own.get(f"p{i}", "") for i in range(len(truth))]
    tp = sum(1 for d, y in zip(decision, truth, strict=True) if d and y)
    fp = sum(1 for d, y in zip(decision, truth, strict=True) if d and not y)
    fn = sum(1 for d, y in zip(decision, truth, strict=True) if not d and y)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    m_tp = sum(1 for d, y in zip(decision, truth, strict=True) if d == "match" and y)
    m_all = sum(1 for d in decision if d == "match")
    print(f"precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}; match precision "
          f"{m_tp / m_all:.3f} ({m_all} matches)")
    assert f1 >= F1_FLOOR
    assert m_tp / m_all >= MATCH_PRECISION_FLOOR
