"""Lot links are followed exactly: material re-exported from a named lot is charged to that
lot's shipment, not spread over every shipment the party received."""

from __future__ import annotations

from pathlib import Path

import pytest

from rareflow.workspace import Workspace

PARTIES = """party_id,name,country,roles
CN-1,Magnet Exporter,CN,exporter
IN-1,Motor Maker,IN,importer;manufacturer;end_user
"""
SHIPMENTS = """declaration_id,date,exporter_id,consignee_id,destination,product,net_kg,re_kg
D1,2024-03-01,CN-1,IN-1,IN,ndfeb_magnet,100,30
D2,2025-03-01,CN-1,IN-1,IN,ndfeb_magnet,100,30
"""


def _world(root: Path, linked: bool) -> Path:
    root.mkdir()
    (root / "parties.csv").write_text(PARTIES)
    (root / "shipments.csv").write_text(SHIPMENTS)
    ref = "D1" if linked else ""
    (root / "flows.csv").write_text(
        "flow_id,date,from_id,to_id,to_country,product,net_kg,re_kg,source_ref,use\n"
        f"F-OUT,2025-06-01,IN-1,,US,ndfeb_magnet,50,15,{ref},\n"
        "F-SALE,2025-07-01,IN-1,,,ndfeb_magnet,150,45,,ev_motor\n")
    return root


def _attribution(root: Path):
    ws = Workspace.open(None)
    ws.ingest(root)
    att = ws.analyze().attribution.set_index("period")
    ws.close()
    return att


@pytest.mark.parametrize("linked", [True, False])
def test_reexport_charged_to_its_lot(tmp_path: Path, linked: bool) -> None:
    att = _attribution(_world(tmp_path / "w", linked))
    if linked:  # exact: D1's lot left the country; D2 was all sold at home
        assert att.loc["2024", "reexported_kg"] == pytest.approx(15.0)
        assert att.loc["2025", "reexported_kg"] == pytest.approx(0.0, abs=1e-9)
        assert att.loc["2024", "verified_use_kg"] == pytest.approx(15.0)
    else:  # mass balance: the party's mix, a quarter of each shipment
        assert att.loc["2024", "reexported_kg"] == pytest.approx(7.5)
        assert att.loc["2025", "reexported_kg"] == pytest.approx(7.5)
    shares = att[[c for c in att.columns if c.endswith("_share")]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx([1.0, 1.0])
