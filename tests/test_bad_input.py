"""Messy and hostile input (issue 9, points 1, 2, 3, 7, 9): every bad row a reject with its
true file, line, column and reason, nothing outside the dataset read, nothing half stored.
A test on one table ingests the two required tables and that table of the contract's example
(`conftest.example_subset`); whole-dataset and whole-analysis tests use all of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import EXAMPLE, Built, append_rows, example_subset
from rareflow.cli.main import app
from rareflow.errors import RareflowError
from rareflow.ingest import ingest
from rareflow.workspace import Workspace

runner = CliRunner()
SHIP = ("{id},2025-06-01,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,{kg},,,,,"
        "EX-L-01,")


def rejects_of(ws: Workspace, level: str = "reject") -> pd.DataFrame:
    r = ws.rejects()
    return r[r.level == level]


def balanced(report) -> None:
    """Rows in = rows loaded (new, unchanged or replacing) + rows set aside, per table."""
    for t in report.tables.values():
        assert t.read == t.loaded + t.unchanged + t.rejected, t


def appended_bad_rows(tmp_path_factory: pytest.TempPathFactory, name: str,
                      rows: list[str]) -> tuple[pd.DataFrame, object]:
    """The rejects and the report of one ingest of the required tables with `rows` appended
    to shipments.csv (line 4 onwards, after the example's two rows): a parametrised test
    whose cases each add one bad row reads them all at once, each case asserting on its own
    line (every cell is read and checked on its own: no row changes another's verdict)."""
    example_dir = example_subset(tmp_path_factory.mktemp(name) / "example")
    append_rows(example_dir / "shipments.csv", *rows)
    ws = Workspace.open(None)
    try:
        report = ws.ingest(example_dir)
        return rejects_of(ws), report
    finally:
        ws.close()


# --- 1. numbers that are not finite, empty tables -----------------------------------------
NON_FINITE = ["NaN", "nan", "inf", "-Infinity", "1e308", "1e400"]


@pytest.fixture(scope="module")
def non_finite(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, object]:
    return appended_bad_rows(tmp_path_factory, "non_finite",
                             [SHIP.format(id=f"B-X{i}", kg=v) for i, v in enumerate(NON_FINITE)])


@pytest.mark.xdist_group("non_finite")  # one worker: the dataset is ingested once
@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_or_huge_mass_is_a_reject(non_finite: tuple[pd.DataFrame, object],
                                             value: str) -> None:
    r, report = non_finite
    line = 4 + NON_FINITE.index(value)  # its row, after the example's two
    hit = r[(r.column == "net_kg") & (r.line == line)]
    assert len(hit) == 1, r.to_dict("records")
    assert hit.file.iloc[0].endswith("shipments.csv")
    assert "finite" in hit.reason.iloc[0] or "too large" in hit.reason.iloc[0] \
        or "not a number" in hit.reason.iloc[0]
    assert report.tables["shipments"].loaded == 2
    balanced(report)


def test_nan_in_parquet_is_a_reject(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "stocks")
    path = example_dir / "stocks.csv"
    t = pacsv.read_csv(path)
    qty = pa.array([float("nan"), float("inf"), 5.0])
    pq.write_table(t.set_column(t.schema.get_field_index("qty"), "qty", qty),
                   example_dir / "stocks.parquet")
    path.unlink()
    report = ws.ingest(example_dir)
    r = rejects_of(ws)
    assert sorted(r[r.column == "qty"].line) == [1, 2]  # Parquet: the record's position
    assert report.tables["stocks"].loaded == 1
    balanced(report)


def _analyze(data: Path, tmp_path: Path, name: str) -> object:
    out = tmp_path / f"out-{name}"
    res = runner.invoke(app, ["analyze", str(data), "--out", str(out),
                              "--db", str(tmp_path / f"{name}.duckdb")])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code in (0, 1, 2), res.output
    if res.exit_code in (0, 1):
        assert (out / "rejects.csv").exists() and (out / "report.html").exists()
    else:
        assert "error" in res.output
    return res


def test_analyze_survives_nan_header_only_and_all_rejected(example_dir: Path,
                                                           tmp_path: Path) -> None:
    nan = tmp_path / "nan"
    shutil.copytree(example_dir, nan)
    ship = (nan / "shipments.csv").read_text().splitlines()
    ship[1] = ship[1].replace(",1200,", ",NaN,")
    (nan / "shipments.csv").write_text("\n".join(ship) + "\n")
    res = _analyze(nan, tmp_path, "nan")
    assert res.exit_code == 1
    assert "NaN" in (tmp_path / "out-nan" / "rejects.csv").read_text()

    empty = tmp_path / "empty"
    shutil.copytree(example_dir, empty)
    (empty / "shipments.csv").write_text(ship[0] + "\n")
    res = _analyze(empty, tmp_path, "empty")
    assert res.exit_code == 0, res.output

    allbad = tmp_path / "allbad"
    shutil.copytree(example_dir, allbad)
    t = pacsv.read_csv(allbad / "shipments.csv")
    kg = pa.array([float("nan")] * t.num_rows)
    pq.write_table(t.set_column(t.schema.get_field_index("net_kg"), "net_kg", kg),
                   allbad / "shipments.parquet")
    (allbad / "shipments.csv").unlink()
    res = _analyze(allbad, tmp_path, "allbad")
    assert res.exit_code == 1


def test_analyze_demo_world_with_header_only_shipments(tmp_path: Path,
                                                       demo_world: Built) -> None:
    data = tmp_path / "world"
    shutil.copytree(demo_world.data, data)
    ship = data / "shipments.csv"
    ship.write_text(ship.read_text().splitlines()[0] + "\n")
    res = _analyze(data, tmp_path, "world")
    assert res.exit_code in (0, 1)


# --- 2. bad lines read around; one transaction ---------------------------------------------
def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_unclosed_quote_is_one_reject_at_its_true_line(ws: Workspace,
                                                       tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    append_rows(example_dir / "shipments.csv",
                SHIP.format(id="B-1", kg=10),
                SHIP.format(id="B-2", kg=10).replace("EX-CN-01", '"EX-CN-01'),
                SHIP.format(id="B-3", kg=10),
                SHIP.format(id="B-4", kg=10))
    report = ws.ingest(example_dir)
    r = rejects_of(ws)
    assert list(r.line) == [5] and "unclosed quote" in r.reason.iloc[0]
    ids = ws.store.to_pandas(ws.store.table("shipments")).set_index("declaration_id")
    assert ids.loc["B-3", "_line"] == 6 and ids.loc["B-4", "_line"] == 7
    balanced(report)


def test_crlf_file_with_one_lf_row_appended(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    path = example_dir / "shipments.csv"
    lines = _lines(path)
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n"
                     + lines[1].replace("EX-D-0001", "B-LF").encode() + b"\n")
    report = ws.ingest(example_dir)
    assert report.tables["shipments"].loaded == 3
    assert rejects_of(ws).empty
    s = ws.store.to_pandas(ws.store.table("shipments")).set_index("declaration_id")
    assert s.loc["B-LF", "_line"] == 4 and s.loc["B-LF", "certificate_id"] == "EX-EUC-01"


def test_ten_megabyte_field_is_one_reject(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    append_rows(example_dir / "shipments.csv", SHIP.format(id="B-BIG", kg=5) + "X" * 10**7,
                SHIP.format(id="B-AFTER", kg=5))
    report = ws.ingest(example_dir)
    r = rejects_of(ws)
    assert list(r.line) == [4]
    assert len(r.value.iloc[0]) <= 80  # an excerpt, not the field
    ids = set(ws.store.to_pandas(ws.store.table("shipments")).declaration_id)
    assert "B-AFTER" in ids and "B-BIG" not in ids
    balanced(report)


def test_quoted_line_break_keeps_true_line_numbers(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    append_rows(example_dir / "parties.csv", 'X-ML,"Two\nLines Ltd",IN,importer,,,,,,,',
                "X-AFTER,After Ltd,IN,importer,,,,,,,")
    ws.ingest(example_dir)
    p = ws.store.to_pandas(ws.store.table("parties")).set_index("party_id")
    assert p.loc["X-ML", "_line"] == 7 and p.loc["X-AFTER", "_line"] == 9
    assert p.loc["X-ML", "name"] == "Two\nLines Ltd"


def test_failing_file_stores_nothing_of_the_dataset(tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "stocks")
    (example_dir / "stocks.csv").unlink()
    (example_dir / "stocks.parquet").write_bytes(b"PAR1 this is not parquet")
    db = tmp_path / "s.duckdb"
    res = runner.invoke(app, ["ingest", str(example_dir), "--db", str(db)])
    assert res.exit_code == 2
    assert "stocks.parquet" in res.output and "nothing of" in res.output
    ws = Workspace.open(db)
    assert not ws.store.has("parties") and not ws.store.has("shipments")
    ws.close()


@pytest.mark.example_tables()  # the message, whatever the tables: the required ones
def test_successful_ingest_says_all_was_stored(tmp_path: Path, example_dir: Path) -> None:
    res = runner.invoke(app, ["ingest", str(example_dir), "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    assert "all of" in res.output and "one transaction" in " ".join(res.output.split())


def test_engine_message_is_whole(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "stocks")
    (example_dir / "stocks.csv").unlink()
    (example_dir / "stocks.parquet").write_bytes(b"garbage\nsecond line of nothing")
    with pytest.raises(RareflowError) as err:
        ws.ingest(example_dir)
    assert "stocks.parquet" in err.value.message and "\n" not in err.value.message


# --- 3. nothing outside the folder; short escaped excerpts ---------------------------------
def test_symlink_out_of_the_dataset_is_refused(tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "certificates", "observations")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-CONTENT:/root:/bin/bash\n" * 20)
    os.symlink(secret, example_dir / "certificates" / "evil.json")
    os.symlink(secret, example_dir / "flows.csv.tmp")  # not a contract file: left alone
    (example_dir / "observations.csv").unlink()
    os.symlink(secret, example_dir / "observations.csv")
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(example_dir), "--out", str(out),
                              "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 1, res.output
    rejects = (out / "rejects.csv").read_text()
    assert "evil.json" in rejects and "observations.csv" in rejects
    assert "symbolic link" in rejects
    for text in (rejects, (out / "report.html").read_text(), res.output):
        assert "SECRET-CONTENT" not in text and "root:x" not in text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_not_read(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "certificates")
    os.mkfifo(example_dir / "certificates" / "pipe.json")  # reading it would block forever
    os.mkfifo(example_dir / "capacity.csv")
    report = ws.ingest(example_dir)
    r = rejects_of(ws)
    refused = r[r.reason.str.contains("not a regular file")]
    assert {Path(f).name for f in refused.file} == {"pipe.json", "capacity.csv"}
    balanced(report)


def test_excerpts_are_short_and_escaped(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "certificates")
    append_rows(example_dir / "shipments.csv",
                SHIP.format(id="B-ESC", kg="\x1b[31mred" + "9" * 300))
    (example_dir / "certificates" / "broken.json").write_text("\x1b]0;pwned\x07" + "x" * 500)
    ws.ingest(example_dir)
    r = rejects_of(ws)
    for v in r.value.dropna():
        assert len(v) <= 80 and "\x1b" not in v and "\x07" not in v
    assert any("\\x1b" in v for v in r.value.dropna())


# --- 7. corrections --------------------------------------------------------------------------
HEADER = ("declaration_id,date,exporter_id,consignee_id,end_user_id,destination,product,"
          "hs_code,net_kg,units,re_kg,heavy_re_kg,value_usd,licence_id,certificate_id")
CHANGED = ("EX-D-0001,2025-03-10,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,8505111000,9999,,"
           "372,24,86400,EX-L-01,EX-EUC-01")


def _next_month(tmp_path: Path) -> Path:
    nxt = tmp_path / "next"
    nxt.mkdir()
    shutil.copy(EXAMPLE / "parties.csv", nxt / "parties.csv")
    (nxt / "shipments.csv").write_text(HEADER + "\n" + CHANGED + "\n")
    return nxt


def test_changed_row_reject_is_shown_and_says_how_to_correct(tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(example_dir), "--db", str(db)]).exit_code == 0
    nxt = _next_month(tmp_path)
    report = ingest(Workspace.open(db).store, nxt)
    assert report.tables["shipments"].rejected == 1
    shown = report.rejects[report.rejects.level == "reject"]  # this run's, not the old ones
    assert len(shown) == 1 and shown.line.iloc[0] == 2
    assert "already loaded with other content" in shown.reason.iloc[0]
    assert "--replace" in shown.reason.iloc[0]
    res = runner.invoke(app, ["ingest", str(nxt), "--db", str(db)])
    assert res.exit_code == 1
    assert "--replace" in res.output


def test_replace_supersedes_and_keeps_provenance(tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(example_dir), "--db", str(db)]).exit_code == 0
    nxt = _next_month(tmp_path)
    res = runner.invoke(app, ["ingest", str(nxt), "--db", str(db), "--replace"])
    assert res.exit_code == 0, res.output
    ws = Workspace.open(db)
    s = ws.store.table("shipments")
    rows = ws.store.to_pandas(s.filter(s.declaration_id == "EX-D-0001"))
    assert list(rows.net_kg) == [9999.0] and rows._file.iloc[0].endswith("next/shipments.csv")
    old = ws.store.to_pandas(ws.store.table("replaced_shipments"))
    assert list(old.net_kg) == [1200.0] and list(old._line) == [2]
    assert old._file.iloc[0] == str(example_dir / "shipments.csv")
    assert old._replaced_by_file.iloc[0].endswith("next/shipments.csv")
    assert old._replaced_at.iloc[0]
    assert ws.table_counts()["shipments"] == 2
    again = ingest(ws.store, nxt, replace=True)  # idempotent: the same row is unchanged now
    assert again.tables["shipments"].unchanged == 1 and again.tables["shipments"].replaced == 0
    ws.close()


def test_demo_and_synth_refuse_a_non_empty_folder(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "mine.txt").write_text("keep me")
    for cmd in (["synth", "--out", str(d)], ["demo", "--out", str(d)]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2 and "--force" in res.output, res.output
    w = tmp_path / "w"
    assert runner.invoke(app, ["synth", "--out", str(w)]).exit_code == 0
    assert runner.invoke(app, ["synth", "--out", str(w)]).exit_code == 0  # same world
    assert runner.invoke(app, ["synth", "--out", str(w), "--seed", "8"]).exit_code == 2
    (w / "mine.txt").write_text("keep me")
    res = runner.invoke(app, ["synth", "--out", str(w), "--seed", "8", "--force"])
    assert res.exit_code == 0 and (w / "mine.txt").read_text() == "keep me"
    assert '"seed": 8' in (w / "planted.json").read_text()


# --- 9. silent acceptance --------------------------------------------------------------------
def test_misspelt_column_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example")
    path = example_dir / "shipments.csv"
    lines = _lines(path)
    lines[0] = lines[0].replace(",re_kg,", ",rekg,")
    path.write_text("\n".join(lines) + "\n")
    ws = Workspace.open(None)
    report = ingest(ws.store, example_dir)
    w = rejects_of(ws, "warning")
    hit = w[w.column == "rekg"]
    assert hit.reason.iloc[0].startswith(
        "unknown column `rekg` in shipments.csv: did you mean `re_kg`?")
    assert hit.file.iloc[0].endswith("shipments.csv") and hit.line.iloc[0] == 1
    assert report.rejected == 0
    res = runner.invoke(app, ["validate", str(example_dir)])
    assert "rekg" in res.output and "re_kg" in res.output
    assert res.exit_code == 0  # a warning does not count


IMPLAUSIBLE = ["0001-01-01", "1989-12-31", "9999-12-31"]


@pytest.fixture(scope="module")
def implausible(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return appended_bad_rows(tmp_path_factory, "implausible", [
        SHIP.format(id=f"B-D{i}", kg=5).replace("2025-06-01", d)
        for i, d in enumerate(IMPLAUSIBLE)])[0]


@pytest.mark.xdist_group("implausible")  # one worker: the dataset is ingested once
@pytest.mark.parametrize("date", IMPLAUSIBLE)
def test_implausible_dates_are_rejects(implausible: pd.DataFrame, date: str) -> None:
    r = implausible
    line = 4 + IMPLAUSIBLE.index(date)  # its row, after the example's two
    hit = r[(r.column == "date") & (r.line == line)]
    assert "plausible window" in hit.reason.iloc[0]


def test_licence_valid_for_years_is_plausible(ws: Workspace, tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "licences")
    path = example_dir / "licences.csv"
    lines = _lines(path)
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("valid_to")] = "2035-12-31"
    path.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    ws.ingest(example_dir)
    assert rejects_of(ws).empty


def test_empty_optional_table_is_a_warning_saying_what_it_means(ws: Workspace,
                                                                tmp_path: Path) -> None:
    example_dir = example_subset(tmp_path / "example", "licences")
    path = example_dir / "licences.csv"
    path.write_text(_lines(path)[0] + "\n")
    report = ws.ingest(example_dir)
    w = rejects_of(ws, "warning")
    hit = w[w.file.str.endswith("licences.csv")]
    assert "licence register is empty" in hit.reason.iloc[0]
    assert report.tables["licences"].warnings == 1


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_other_delimiter_is_named(ws: Workspace, tmp_path: Path, delim: str) -> None:
    example_dir = example_subset(tmp_path / "example", "flows")
    path = example_dir / "flows.csv"
    path.write_text("\n".join(line.replace(",", delim) for line in _lines(path)) + "\n")
    report = ws.ingest(example_dir)
    r = rejects_of(ws)
    hit = r[r.file.str.endswith("flows.csv")]
    assert len(hit) == 1 and "separated" in hit.reason.iloc[0]
    assert hit.line.iloc[0] == 1
    assert report.tables["flows"].loaded == 0
    balanced(report)


def test_certificate_nested_too_deep_is_a_reject(tmp_path: Path) -> None:
    """A certificate nested 100,000 levels deep is set aside unread (contract "Bad input"),
    as validate and analyze read it: no RecursionError, the rest is loaded."""
    from rareflow.workspace import Workspace

    data = example_subset(tmp_path / "d", "certificates")
    (data / "certificates" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    ws = Workspace.open(tmp_path / "s.duckdb")
    report = ws.ingest(data)
    rej = ws.rejects()
    hit = rej[rej.file.str.endswith("deep.json")]
    assert len(hit) == 1 and "nested deeper than" in hit.reason.iloc[0]
    assert report.tables["certificates"].loaded >= 1
    ws.close()


def test_analyze_replace_corrects_a_stored_value(tmp_path: Path) -> None:
    """A corrected row: without --replace it is set aside (exit 1) and the stored value
    stays; `analyze --replace` stores the new value and exits 0."""
    data = example_subset(tmp_path / "d")
    db = tmp_path / "s.duckdb"
    args = ["analyze", str(data), "--db", str(db)]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "o1")]).exit_code == 0
    path = data / "parties.csv"
    path.write_text(path.read_text().replace("Pune Example Motors Pvt Ltd",
                                             "Pune Example Motors Private Limited"))
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "o2")])
    assert second.exit_code == 1, second.output
    fixed = runner.invoke(app, [*args, "--out", str(tmp_path / "o3"), "--replace"])
    assert fixed.exit_code == 0, fixed.output
    ws = Workspace.open(db)
    names = ws.store.to_pandas(ws.tables().parties.select("party_id", "name"))
    assert "Pune Example Motors Private Limited" in set(names.name)
    ws.close()
