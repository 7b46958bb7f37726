"""Flow accounting rules on hand-made changes to the contract's (honest) example.

Each test changes its copy of the example (`example_dir`) and stores it as the store of the
example, ingested once per test process (`example_ws`), plus the files the test changed
(`_ingest_changes`): the same rows as an ingest of the changed folder, for a fraction of the
cost (one or two tables read instead of sixteen)."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE, Built, append_rows
from rareflow.ingest import ingest
from rareflow.workspace import AnalysisResult, Workspace


def _by_rule(result: AnalysisResult, rule: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.findings:
        if f.rule == rule:
            out.setdefault(f.subject_id, []).append(f)
    return out


def test_honest_example_books_close(analysed_example: Built) -> None:
    r = analysed_example.result  # the example, ingested and analysed once (conftest)
    assert r.findings == []
    b = r.balances.set_index("party_id")
    assert b.unaccounted_kg.abs().max() < 1e-6
    assert b.loc["EX-IN-01", "received_kg"] == pytest.approx(837.0)  # 372 declared + 1500*.31
    a = r.attribution.iloc[0]
    assert a.released_kg == pytest.approx(837.0)
    assert a.verified_use_kg == pytest.approx(342.24 + 6.2)  # scooters sold + scrap recycled
    assert a.in_stock_kg == pytest.approx(483.6 + 4.96)
    shares = [a[f"{c}_share"] for c in ("verified_use", "in_stock", "reexported",
                                        "prohibited_use", "unaccounted")]
    assert sum(shares) == pytest.approx(1.0)


def _ingest_changes(ws: Workspace, example_dir: Path) -> None:
    """Store `example_dir` in `ws`, which holds the example as it is (`example_ws`): ingest
    the files of `example_dir` that differ from the example's, a changed row replacing the
    stored one (as `--replace` with a corrected file). Every row of them is stored: none is
    set aside."""
    assert sorted(p.name for p in example_dir.iterdir()) == sorted(
        p.name for p in EXAMPLE.iterdir())  # no file added or removed
    changed = [p for p in sorted(example_dir.iterdir())
               if p.is_file() and not filecmp.cmp(p, EXAMPLE / p.name, shallow=False)]
    assert changed
    delta = example_dir.parent / "changes"
    delta.mkdir()
    for p in changed:
        shutil.copy(p, delta / p.name)
    report = ingest(ws.store, delta, replace=True)
    assert report.rejected == 0 and report.n_reject_rows == 0, report.rejects
    for p in changed:  # no row of the example left over: the store holds the file's rows
        rows = len([line for line in p.read_text().splitlines()[1:] if line.strip()])
        assert ws.store.scalar(ws.store.table(p.stem).count()) == rows, p.name


def test_vanished_stock_is_unaccounted(example_ws: Workspace, example_dir: Path) -> None:
    path = example_dir / "stocks.csv"
    path.write_text(path.read_text().replace("EX-IN-01,2025-06-30,ndfeb_magnet,1560",
                                             "EX-IN-01,2025-06-30,ndfeb_magnet,560"))
    ws = example_ws
    _ingest_changes(ws, example_dir)
    r = ws.analyze()
    found = _by_rule(r, "unaccounted_material")
    f = found["EX-IN-01"][0]
    assert f.kg == pytest.approx(1000 * 0.31)
    assert f.share == pytest.approx(310 / 837, abs=1e-4)
    assert f.severity == "medium"  # a mass-balance estimate (contract 1.1 §8)
    assert r.attribution.iloc[0].unaccounted_kg == pytest.approx(310.0)


def _reduce_stock(example_dir: Path, kg: int) -> None:
    """Keep the books closed: what a flow takes out, the stock no longer holds."""
    path = example_dir / "stocks.csv"
    path.write_text(path.read_text().replace("EX-IN-01,2025-06-30,ndfeb_magnet,1560",
                                             f"EX-IN-01,2025-06-30,ndfeb_magnet,{1560 - kg}"))


def test_reexport_against_the_promise(example_ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "flows.csv",
                "X-F-1,2025-07-01,EX-IN-01,,US,ndfeb_magnet,500,,,EX-D-0002,")
    _reduce_stock(example_dir, 500)
    ws = example_ws
    _ingest_changes(ws, example_dir)
    r = ws.analyze()
    f = _by_rule(r, "unauthorised_reexport")["EX-IN-01"][0]
    assert f.kg == pytest.approx(155.0)
    assert "a country the promise names" in f.message
    assert {"X-F-1", "EX-EUC-01", "EX-L-01"} <= set(f.evidence)
    assert r.attribution.iloc[0].reexported_kg == pytest.approx(155.0)


def test_final_goods_exported_are_not_reexports(example_ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "flows.csv",
                "X-F-2,2025-07-01,EX-IN-02,,NP,e_scooter,,5,,,ev_motor")
    append_rows(example_dir / "stocks.csv", "EX-IN-02,2025-07-31,traction_motor,5")
    append_rows(example_dir / "transformations.csv",
                "X-T-1,2025-07-01,EX-IN-02,traction_motor,5,,e_scooter,5,0")
    ws = example_ws
    _ingest_changes(ws, example_dir)
    assert _by_rule(ws.analyze(), "unauthorised_reexport") == {}


def test_restricted_party_and_prohibited_use(example_ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "parties.csv",
                "X-IN-9,EXAMPLE DEFENCE DRONES PRIVATE LIMITED,IN,manufacturer,,,,,,,")
    append_rows(example_dir / "flows.csv",
                "X-F-3,2025-07-01,EX-IN-01,X-IN-9,,ndfeb_magnet,100,,,EX-D-0002,")
    _reduce_stock(example_dir, 100)
    ws = example_ws
    _ingest_changes(ws, example_dir)
    r = ws.analyze()
    assert "normalised name" in _by_rule(r, "restricted_party")["X-IN-9"][0].message
    p = _by_rule(r, "prohibited_end_use")["X-IN-9"][0]
    assert p.kg == pytest.approx(31.0) and "X-F-3" in p.evidence
    assert r.attribution.iloc[0].prohibited_use_kg == pytest.approx(31.0)


def test_military_sale_and_teardown(example_ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "flows.csv",
                "X-F-4,2025-07-01,EX-IN-02,,,e_scooter,,3,,EX-T-0002,military",
                "X-F-5,2025-07-02,EX-IN-01,,,traction_motor,,2,,EX-T-0001,military")
    append_rows(example_dir / "observations.csv",
                "X-O-1,2025-09-01,EX-IN-02,teardown,EX-F-0003,lot found in a seized scooter")
    ws = example_ws
    _ingest_changes(ws, example_dir)
    result = ws.analyze()
    # motors are components, controlled items: a military sale is a prohibited end use
    motors = _by_rule(result, "prohibited_end_use")["EX-IN-01"]
    assert any("military use" in f.message and f.severity == "high" for f in motors)
    # scooters are final goods, not controlled (contract 1.1 §4): a low red flag
    flags = [f for f in _by_rule(result, "red_flag").get("EX-IN-02", [])
             if f.message.startswith("final_goods_military_use")]
    assert len(flags) == 1 and flags[0].severity == "low"
    assert flags[0].evidence == ["X-F-4"]
    found = _by_rule(result, "prohibited_end_use")["EX-IN-02"]
    tear = [f for f in found if "Teardown" in f.message][0]
    # scooters <- motors (T-0002) <- F-0001 <- T-0001 <- declaration EX-D-0001
    assert tear.evidence[:6] == ["X-O-1", "EX-F-0003", "EX-T-0002", "EX-F-0001", "EX-T-0001",
                                 "EX-D-0001"]
    assert "EX-EUC-01" in tear.evidence


def test_capacity_mismatch_level_and_growth(example_ws: Workspace, example_dir: Path) -> None:
    path = example_dir / "capacity.csv"
    path.write_text(path.read_text().replace("EX-IN-01,2025,traction_motor,2400,capacity",
                                             "EX-IN-01,2025,traction_motor,300,capacity"))
    ws = example_ws
    _ingest_changes(ws, example_dir)
    f = _by_rule(ws.analyze(), "capacity_mismatch")["EX-IN-01"][0]
    # 300 motors x 0.496 = 148.8 kg (+25%: 186) + 483.6 kg of stock built; 837 received
    assert f.kg == pytest.approx(837 - 148.8 * 1.25 - 483.6, abs=0.01)


def test_capacity_growth_reenacts_137_vs_5(example_ws: Workspace, example_dir: Path) -> None:
    append_rows(example_dir / "capacity.csv", "EX-IN-01,2024,traction_motor,2286,capacity")
    append_rows(example_dir / "shipments.csv",
                "X-D-24,2024-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,1139.24,"
                ",353.16,,,,")  # 2025 receipts 837 = 2024 receipts x 2.37
    ws = example_ws
    _ingest_changes(ws, example_dir)
    growth = [f for f in _by_rule(ws.analyze(), "capacity_mismatch").get("EX-IN-01", [])
              if f.period == "2024/2025"]
    assert len(growth) == 1
    # expected 2025 receipts = 353.16 x 2400/2286 = 370.8; excess = 466.2 kg
    assert growth[0].kg == pytest.approx(837 - 353.16 * 2400 / 2286, rel=1e-4)
    assert "+137%" in growth[0].message and "+5%" in growth[0].message
