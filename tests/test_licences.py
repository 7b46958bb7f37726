"""`licence_violation` and the drawdown ledger on hand-made cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import append_rows
from rareflow.workspace import Workspace

pytestmark = pytest.mark.example_tables("licences", "products")  # what the rule reads

# exporter, consignee, end user, destination, product, kg, licence, date
ROW = "{id},{date},{exp},{con},{eu},{dest},{prod},850511,{kg},,,,,{lic},"


def ship(id: str, date: str = "2025-06-01", exp: str = "EX-CN-01", con: str = "EX-IN-01",
         eu: str = "EX-IN-01", dest: str = "IN", prod: str = "ndfeb_magnet", kg: float = 100,
         lic: str = "EX-L-01") -> str:
    return ROW.format(**locals())


def findings_by_subject(ws: Workspace) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in ws.findings():
        if f.rule == "licence_violation":
            out.setdefault(f.subject_id, []).append(f.message)
    return out


def test_honest_example_raises_nothing(example_ws: Workspace) -> None:
    ws = example_ws  # the example, ingested once per test process (conftest)
    assert findings_by_subject(ws) == {}
    ledger = ws.licence_ledger()
    assert list(ledger.remaining_kg) == [1800.0, 300.0]
    assert set(ledger.status) == {"within"}


def test_each_breach_is_found(ws: Workspace, example_dir: Path) -> None:
    append_rows(
        example_dir / "shipments.csv",
        ship("S-NOLIC", lic="", prod="dy_metal"),
        ship("S-UNKNOWN", lic="L-NOT-ISSUED"),
        ship("S-LATE", date="2026-01-15"),
        ship("S-EARLY", date="2025-02-01"),
        ship("S-CONS", con="EX-IN-02"),
        ship("S-EU", eu="EX-IN-02"),
        ship("S-DEST", dest="VN"),
        ship("S-OVER", date="2025-07-01", kg=500),  # 1200 + 1500 + ... beyond 3000
    )
    ws.ingest(example_dir)
    found = findings_by_subject(ws)
    assert "without a licence" in found["S-NOLIC"][0]
    assert "not in the licence register" in found["S-UNKNOWN"][0]
    assert any("outside licence EX-L-01's validity" in m for m in found["S-LATE"])
    assert any("validity" in m for m in found["S-EARLY"])
    assert any("consignee EX-IN-02 differs" in m for m in found["S-CONS"])
    assert any("end user EX-IN-02 differs" in m for m in found["S-EU"])
    assert any("destination VN differs" in m for m in found["S-DEST"])
    over = [f for f in ws.findings() if f.subject_id == "S-OVER" and "overdrawn" in f.message]
    assert len(over) == 1
    # in date order: 100 (Feb, S-EARLY) + 1200 (Mar) + 1500 (May) + 3 x 100 (Jun) = 3100
    # before S-OVER, already beyond 3000: all of S-OVER's 500 kg is excess
    assert over[0].kg == 500.0
    assert over[0].evidence == ["S-OVER", "EX-L-01"]
    ledger = ws.licence_ledger()
    assert ledger.iloc[-1].declaration_id == "S-LATE"  # 2026: last in date order
    assert ledger.iloc[-1].cumulative_kg == 3700.0


def test_partial_overdraw_counts_only_the_excess(ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "shipments.csv", ship("S-PART", kg=400))  # 2700 + 400 = 3100
    ws.ingest(example_dir)
    f = [x for x in ws.findings() if x.subject_id == "S-PART"]
    assert len(f) == 1 and f[0].kg == 100.0 and abs(f[0].share - 100 / 3000) < 1e-9
    assert ws.licence_ledger().iloc[-1].status == "over (in part)"


def test_uncontrolled_items_and_dates_need_no_licence(ws: Workspace, example_dir: Path) -> None:
    append_rows(
        example_dir / "shipments.csv",
        ship("S-MOTOR", prod="traction_motor", lic=""),  # a component, not on the list
        ship("S-2024", prod="dy_metal", date="2024-12-01", lic=""),  # before No. 18
    )
    ws.ingest(example_dir)
    found = findings_by_subject(ws)
    assert "S-MOTOR" not in found and "S-2024" not in found


def test_ndfeb_without_heavy_content_is_not_controlled(ws: Workspace,
                                                       example_dir: Path) -> None:
    line = ("S-LIGHT,2025-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,100,,31,0,,,")
    append_rows(example_dir / "shipments.csv", line)
    ws.ingest(example_dir)
    assert "S-LIGHT" not in findings_by_subject(ws)
