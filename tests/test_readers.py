"""Reading every contract table from CSV and Parquet, and setting bad rows aside (a test on
one table reads the required tables and that one: `conftest.example_subset`)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import Built, append_rows, example_subset
from rareflow.contract import load_contract
from rareflow.errors import DatasetError, UnreadableFileError
from rareflow.workspace import Workspace

EXAMPLE_COUNTS = {
    "parties": 5, "products": 2, "licences": 1, "certificates": 1, "certificate_items": 1,
    "shipments": 2, "keys": 2, "revocations": 0, "flows": 3, "transformations": 2,
    "stocks": 3, "capacity": 2, "trade_stats": 3, "restricted_parties": 1, "observations": 1,
    "applications": 1,
}


def test_every_example_table_reads_from_csv(ingested_example: Built,
                                            example_ws: Workspace) -> None:
    report = ingested_example.report  # the example, ingested once per test process
    assert {t: r.loaded for t, r in report.tables.items()} == EXAMPLE_COUNTS
    assert report.rejected == 0
    assert example_ws.table_counts() == EXAMPLE_COUNTS
    assert report.unknown_files == ["EXAMPLE-SECRET-KEYS.txt"]


def test_every_example_table_reads_from_parquet(ws: Workspace, example_dir: Path) -> None:
    for path in example_dir.glob("*.csv"):
        table = pacsv.read_csv(path)  # typed columns, as a user's Parquet would have
        pq.write_table(table, path.with_suffix(".parquet"))
        path.unlink()
    report = ws.ingest(example_dir)
    assert {t: r.loaded for t, r in report.tables.items()} == EXAMPLE_COUNTS
    assert report.rejected == 0
    s = ws.store.to_pandas(ws.store.table("shipments").order_by("declaration_id"))
    assert list(s.net_kg) == [1200.0, 1500.0]
    assert list(s._line) == [1, 2]  # Parquet: the record's 1-based position


def test_contract_covers_every_spec_table() -> None:
    spec_tables = {"parties", "ownership", "products", "uses", "shipments", "licences",
                   "certificates", "keys", "revocations", "flows", "transformations", "stocks",
                   "capacity", "trade_stats", "restricted_parties", "observations",
                   "applications"}
    assert spec_tables <= set(load_contract())


def test_columns_not_in_contract_are_kept(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    path = example_dir / "parties.csv"
    rows = list(csv.reader(path.open()))
    rows[0].append("risk_note")
    for r in rows[1:]:
        r.append("note " + r[0])
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    ws.ingest(example_dir)
    parties = ws.store.to_pandas(ws.store.table("parties"))
    assert set(parties.risk_note) == {f"note {p}" for p in parties.party_id}


BAD_SHIPMENTS = [
    ("B-DATE,2025-13-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,100,,,,,,",
     "date", "not a date"),
    ("B-PARTY,2025-05-12,EX-CN-99,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,100,,,,,,",
     "exporter_id", "unknown party"),
    ("B-CTRY,2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,ZZ,ndfeb_magnet,8505111000,100,,,,,,",
     "destination", "ISO 3166-1"),
    ("B-NEG,2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,-5,,,,,,",
     "net_kg", "must be > 0"),
    ("B-NAN,2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,abc,,,,,,",
     "net_kg", "not a number"),
    ("B-HS,2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,12,100,,,,,,",
     "hs_code", "HS code"),
    ("B-PROD,2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,unobtainium,8505111000,100,,,,,,",
     "product", "unknown product"),
    (",2025-05-12,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,100,,,,,,",
     "declaration_id", "missing value"),
    ("EX-D-0001,2025-03-10,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,999,,,,,,",
     "declaration_id", "duplicate key (first at line 2)"),
    ("B-SHORT,2025-05-12,EX-CN-01", "", "malformed CSV row"),
]


def test_each_kind_of_bad_row_lands_in_rejects(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    good = "B-GOOD,2025-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505.11,50,,,,,EX-L-01,"
    append_rows(example_dir / "shipments.csv", *[b[0] for b in BAD_SHIPMENTS], good)
    report = ws.ingest(example_dir)
    rejects = ws.rejects()
    rejects = rejects[rejects.level == "reject"]
    for i, (_, column, reason) in enumerate(BAD_SHIPMENTS):
        line = 4 + i  # header + 2 example rows, then ours
        hit = rejects[(rejects.line == line) & (rejects.column == column)]
        assert len(hit) == 1, f"line {line}: {rejects.to_dict('records')}"
        assert reason in hit.reason.iloc[0]
        assert hit.file.iloc[0].endswith("shipments.csv")
    assert report.tables["shipments"].loaded == 3
    loaded = ws.store.to_pandas(ws.store.table("shipments"))
    good_row = loaded[loaded.declaration_id == "B-GOOD"].iloc[0]
    assert good_row.hs_code == "850511"  # normalised
    assert good_row._line == 4 + len(BAD_SHIPMENTS)  # line numbers stay exact after a bad row


def test_unknown_licence_is_a_warning_and_the_row_is_kept(ws: Workspace,
                                                          tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "licences")
    append_rows(example_dir / "shipments.csv",
                "W-1,2025-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,850511,50,,,,,"
                "L-FAKE,")
    ws.ingest(example_dir)
    rejects = ws.rejects()
    warn = rejects[rejects.column == "licence_id"]
    assert list(warn.level) == ["warning"] and warn.value.iloc[0] == "L-FAKE"
    ids = set(ws.store.to_pandas(ws.store.table("shipments")).declaration_id)
    assert "W-1" in ids


def test_list_and_enum_values_are_checked(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "observations")
    append_rows(example_dir / "parties.csv", "X-1,Bad Roles Ltd,IN,importer;pirate,,,,,,,")
    append_rows(example_dir / "observations.csv", "X-O,2025-01-01,EX-IN-01,rumour,,")
    ws.ingest(example_dir)
    r = ws.rejects()
    assert "list items must be among" in r[r.column == "roles"].reason.iloc[0]
    assert "not one of" in r[r.column == "kind"].reason.iloc[0]


def test_required_column_missing_from_header(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "flows")
    path = example_dir / "flows.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    idx = header.index("from_id")
    path.write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != idx)
                              for line in lines) + "\n")
    report = ws.ingest(example_dir)
    r = ws.rejects()
    hit = r[(r.column == "from_id") & (r.line == 1)]
    assert "missing from the header" in hit.reason.iloc[0]
    assert report.tables["flows"].loaded == 0


def test_unreadable_file_is_one_clear_error(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "stocks")
    (example_dir / "stocks.csv").unlink()
    (example_dir / "stocks.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(UnreadableFileError) as err:
        ws.ingest(example_dir)
    assert "stocks.parquet" in str(err.value)


def test_missing_required_table(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    (example_dir / "shipments.csv").unlink()
    with pytest.raises(DatasetError, match="shipments"):
        ws.ingest(example_dir)


def test_bad_certificate_json_is_a_reject(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "certificates")
    (example_dir / "certificates" / "broken.json").write_text("{not json")
    ws.ingest(example_dir)
    r = ws.rejects()
    hit = r[r.file.str.endswith("broken.json")]
    assert "not a JSON document" in hit.reason.iloc[0]
    assert ws.table_counts()["certificates"] == 1
