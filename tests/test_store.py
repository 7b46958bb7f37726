"""Ingest into a DuckDB file: idempotent, incremental, never a silent overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import EXAMPLE, Built, append_rows
from rareflow.workspace import Workspace

HEADER = ("declaration_id,date,exporter_id,consignee_id,end_user_id,destination,product,"
          "hs_code,net_kg,units,re_kg,heavy_re_kg,value_usd,licence_id,certificate_id")


def test_ingest_twice_changes_nothing(tmp_path: Path, example_dir: Path) -> None:
    append_rows(example_dir / "shipments.csv", "BAD,2025-99-01,EX-CN-01,EX-IN-01,,IN,"
                "ndfeb_magnet,850511,1,,,,,,")
    db = tmp_path / "s.duckdb"
    ws = Workspace.open(db)
    first = ws.ingest(example_dir)
    counts, rejects = ws.table_counts(), ws.rejects()
    ws.close()
    ws = Workspace.open(db)  # a new process would see the same file
    second = ws.ingest(example_dir)
    assert ws.table_counts() == counts
    # the example's revocations.csv is header only: a warning, not a reject (issue 9)
    assert ws.rejects().equals(rejects)
    assert list(rejects[rejects.level == "reject"].line) == [4]
    assert sum(t.loaded for t in second.tables.values()) == 0
    assert sum(t.unchanged for t in second.tables.values()) == sum(
        t.loaded for t in first.tables.values())
    assert second.new_rejects == 0


def test_second_folder_adds_next_months_rows(tmp_path: Path, example_ws: Workspace) -> None:
    nxt = tmp_path / "next"
    nxt.mkdir()
    shutil.copy(EXAMPLE / "parties.csv", nxt / "parties.csv")
    (nxt / "shipments.csv").write_text(
        HEADER + "\nEX-D-0003,2025-06-10,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,"
        "8505111000,300,,,,,EX-L-01,EX-EUC-01\n")
    ws = example_ws  # a store file holding the example, ingested once (conftest)
    report = ws.ingest(nxt)
    assert report.tables["shipments"].loaded == 1
    assert report.tables["parties"].unchanged == 5
    assert ws.table_counts()["shipments"] == 3
    assert (ws.rejects().level != "reject").all()  # empty revocations.csv: a warning


def test_changed_row_is_a_reject_not_an_overwrite(tmp_path: Path, example_ws: Workspace,
                                                  ingested_example: Built) -> None:
    nxt = tmp_path / "next"
    nxt.mkdir()
    (nxt / "parties.csv").write_text((EXAMPLE / "parties.csv").read_text())
    (nxt / "shipments.csv").write_text(
        HEADER + "\nEX-D-0001,2025-03-10,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,"
        "8505111000,9999,,372,24,86400,EX-L-01,EX-EUC-01\n")
    ws = example_ws  # a store file holding the example, ingested once (conftest) ...
    example_dir = ingested_example.data  # ... from this folder
    report = ws.ingest(nxt)
    assert report.tables["shipments"].rejected == 1
    r = ws.rejects()
    r = r[r.level == "reject"]
    assert "already loaded with other content" in r.reason.iloc[0]
    assert str(example_dir / "shipments.csv") in r.reason.iloc[0]
    kept = ws.store.to_pandas(ws.store.table("shipments").filter(
        ws.store.table("shipments").declaration_id == "EX-D-0001"))
    assert list(kept.net_kg) == [1200.0]


def test_dataset_products_override_defaults(example_ws: Workspace) -> None:
    ws = example_ws  # the example, ingested once per test process (conftest)
    products = ws.store.to_pandas(ws.tables().products).set_index("product")
    assert products.loc["traction_motor", "re_kg_per_unit"] == 0.496  # the dataset's
    assert products.loc["ndfeb_magnet", "re_kg_per_unit"] == 0.31  # the project's default
    assert products.index.is_unique
