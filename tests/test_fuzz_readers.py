"""Fuzz tests of the dataset readers (issue 9): random and mutated CSV and Parquet tables of
every contract table, starting from the contract's example files, never raise a traceback
from `validate` / `ingest` (Python API and CLI), and rows in = rows loaded + rows rejected.

Profiles, chosen by RAREFLOW_HYPOTHESIS_PROFILE: `ci` (default, `make test`; a few hundred
examples in all, half of them for the tests that ingest, derandomized, well under a minute),
`all` (`make test-all`: every test's full count) and `fuzz` (thousands; `make fuzz`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import EXAMPLE
from rareflow.cli.main import app
from rareflow.errors import RareflowError, UnreadableFileError
from rareflow.ingest import ingest
from rareflow.readers.csvlines import read_csv_lines
from rareflow.store.duckdb_store import DuckDBStore
from rareflow.workspace import Workspace

PROFILE = os.environ.get("RAREFLOW_HYPOTHESIS_PROFILE", "ci")
SCALE = 20 if PROFILE == "fuzz" else 1  # examples per test = its full count * SCALE
_OWN = {  # registered here unless another test module did first (tests/test_properties.py)
    "ci": {"derandomize": True, "database": None},
    "all": {"derandomize": True, "database": None},  # make test-all: as ci here
    "dev": {"derandomize": True, "database": None},
    "fuzz": {},
}
try:
    _BASE = settings.get_profile(PROFILE)
except Exception:  # not registered yet
    with contextlib.suppress(Exception):  # registered meanwhile
        settings.register_profile(PROFILE, deadline=None, **_OWN.get(PROFILE, {}))
    _BASE = settings.get_profile(PROFILE)


def examples(n: int, ci: int | None = None) -> settings:
    """`n` examples (`ci` of them under the `ci` profile, if given), `n * SCALE` under `fuzz`;
    never a deadline (an ingest is slow to compile), derandomized but under `fuzz` so that
    `make test` is repeatable."""
    count = ci if PROFILE == "ci" and ci is not None else n * SCALE
    return settings(_BASE, max_examples=count, deadline=None,
                    derandomize=PROFILE != "fuzz",
                    suppress_health_check=list(HealthCheck))


CSV_TABLES = sorted(p.stem for p in EXAMPLE.glob("*.csv"))
SOURCES = {name: (EXAMPLE / f"{name}.csv").read_bytes() for name in CSV_TABLES}
CELLS = ["", "NaN", "inf", "-inf", "1e308", "-0", "0", "9999-12-31", "0001-01-01",
         "2025-02-30", "CN[/red]X", ":x:", "=1+1", "\u202egnp.exe", "x" * 3000, "\ufeff",
         "\x1b[31mred", "é", "\u00a0", '"', '""', ",", ";", "\t", "|", "\r", "\n", "\r\n",
         "EX-CN-01", "ndfeb_magnet", "IN", "true", "  12  ", "1,000", "1e-400"]
BYTES = [b'"', b"\r", b"\n", b"\r\n", b",", b";", b"\x00", b"\xff", b"\xe9", b"\xef\xbb\xbf",
         b"\t", b"\\", b"x" * 5000]


@st.composite
def mutated_csv(draw: st.DrawFn, name: str | None = None) -> tuple[str, bytes]:
    """An example table, then a few byte, cell, line, quote or encoding mutations."""
    name = name or draw(st.sampled_from(CSV_TABLES))
    data = SOURCES[name]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "cell", "line", "dup", "swap",
                                   "truncate", "encode", "random_row", "header"]))
        lines = data.split(b"\n")
        if op == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.sampled_from(BYTES) | st.binary(max_size=8)) + data[at:]
        elif op == "delete" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + data[at + draw(st.integers(1, 20)):]
        elif op == "cell" and len(lines) > 1:
            i = draw(st.integers(1, max(1, len(lines) - 1)))
            cells = lines[i].split(b",")
            j = draw(st.integers(0, len(cells) - 1))
            cells[j] = draw(st.sampled_from(CELLS) | st.text(max_size=12)).encode(
                "utf-8", "surrogatepass")
            lines[i] = b",".join(cells)
            data = b"\n".join(lines)
        elif op == "line":
            at = draw(st.integers(0, len(lines)))
            lines.insert(at, draw(st.binary(max_size=40)))
            data = b"\n".join(lines)
        elif op == "dup" and len(lines) > 1:
            i = draw(st.integers(1, len(lines) - 1))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif op == "swap" and len(lines) > 2:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "encode":
            enc = draw(st.sampled_from(["latin-1", "utf-16", "crlf", "cr"]))
            if enc == "crlf":
                data = data.replace(b"\n", b"\r\n")
            elif enc == "cr":
                data = data.replace(b"\n", b"\r")
            else:
                data = data.decode("utf-8", "replace").encode(enc, "replace")
        elif op == "random_row":
            row = draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=20))
            data = data.rstrip(b"\n") + b"\n" + ",".join(row).encode("utf-8", "replace") + b"\n"
        elif op == "header":
            lines[0] = lines[0].replace(b",", draw(st.sampled_from([b";", b"\t", b"|", b",,"])))
            data = b"\n".join(lines)
    return name, data


def _write(root: Path, name: str, data: bytes) -> Path:
    path = root / f"{name}.csv"
    path.write_bytes(data)
    return path


# --- readers alone: cheap, many examples ----------------------------------------------------
@examples(200)
@given(mutated_csv())
def test_careful_reader_never_raises_and_accounts_for_every_line(case) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), name, data)
        try:
            got = read_csv_lines(path)
        except UnreadableFileError as exc:
            assert str(path) in exc.message
            return
    starts = got.lines + [r["line"] for r in got.rejects]
    assert len(starts) == len(set(starts))  # a line is a row or a reject, never both
    assert all(len(r) == len(got.header) for r in got.rows)
    assert all(r["value"] is None or len(r["value"]) <= 80 for r in got.rejects)
    physical = len(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n")
                   .split(b"\n"))
    assert all(1 < n <= physical for n in starts)


@pytest.fixture(scope="module")
def scratch() -> DuckDBStore:
    store = DuckDBStore(None)
    yield store
    store.close()


@examples(60)
@given(case=mutated_csv())
def test_engine_reader_never_raises_and_lines_are_true(scratch: DuckDBStore, case) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), name, data)
        try:
            read = scratch.read_csv_raw(path)
        except UnreadableFileError as exc:
            assert str(path) in exc.message
            return
        lines = list(scratch.to_pandas(read.table.select("_line"))["_line"])
        bad = [r["line"] for r in read.structural_rejects]
        assert len(set(lines + bad)) == len(lines) + len(bad)
        try:  # where the careful reader can read the file, both agree on what is a row
            careful = read_csv_lines(path)
        except UnreadableFileError:
            return
        if read.structural_rejects or lines == careful.lines:
            assert sorted(lines) == careful.lines
            assert sorted(bad) == sorted(r["line"] for r in careful.rejects)


# --- the whole ingest: fewer, costlier examples -----------------------------------------------
def _dataset(root: Path, name: str, data: bytes) -> Path:
    ds = root / "ds"
    ds.mkdir()
    for base in ("parties", "shipments"):
        shutil.copy(EXAMPLE / f"{base}.csv", ds / f"{base}.csv")
    _write(ds, name, data)
    return ds


def _balanced(report) -> None:
    for t in report.tables.values():
        assert t.read == t.loaded + t.unchanged + t.rejected, t
        assert min(t.read, t.loaded, t.unchanged, t.rejected, t.warnings) >= 0


def _ingest_checked(ds: Path) -> None:
    ws = Workspace.open(None)
    try:
        report = ingest(ws.store, ds)
    except RareflowError as exc:  # a clear error that names the file or the folder
        assert str(ds) in exc.message
        ws.close()
        return
    try:
        _balanced(report)
        for name, t in report.tables.items():
            stored = ws.store.table_or_none(name)
            n = int(ws.store.scalar(stored.count())) if stored is not None else 0
            assert n == t.loaded, name
        r = ws.rejects()
        assert all(len(v) <= 80 for v in r.value.dropna())
        assert not any("\x1b" in v or "\n" in v for v in r.value.dropna())
        assert (r.file.str.len() > 0).all() and r.line.notna().all()
    finally:
        ws.close()


@examples(14, ci=7)
@given(case=mutated_csv())
def test_ingest_of_mutated_csv_balances(tmp_path_factory, case) -> None:
    name, data = case
    root = tmp_path_factory.mktemp("fz")
    _ingest_checked(_dataset(root, name, data))


@st.composite
def mutated_parquet(draw: st.DrawFn) -> tuple[str, pa.Table]:
    """An example table as Parquet (typed or all strings), with mutated cells."""
    name, data = draw(mutated_csv())  # as text, then into Parquet cell by cell
    rows = [line.split(b",") for line in data.replace(b"\r", b"").split(b"\n") if line]
    if not rows:
        rows = [[b"x"]]
    head = [c.decode("utf-8", "replace") or f"c{i}" for i, c in enumerate(rows[0])]
    head = [h if head.index(h) == i else f"{h}_{i}" for i, h in enumerate(head)]
    cols: dict[str, list] = {h: [] for h in head}
    for r in rows[1:]:
        for i, h in enumerate(head):
            cols[h].append(r[i].decode("utf-8", "replace") if i < len(r) else None)
    table = pa.table({h: pa.array(v, pa.string()) for h, v in cols.items()})
    if draw(st.booleans()):  # a float column with NaN and inf, as a user's pandas writes it
        n = table.num_rows
        floats = draw(st.lists(st.sampled_from([float("nan"), float("inf"), -1.0, 1e308, 5.0]),
                               min_size=n, max_size=n))
        col = draw(st.sampled_from(head))
        table = table.set_column(head.index(col), col, pa.array(floats, pa.float64()))
    return name, table


@examples(8, ci=4)
@given(case=mutated_parquet())
def test_ingest_of_mutated_parquet_balances(tmp_path_factory, case) -> None:
    name, table = case
    root = tmp_path_factory.mktemp("fzp")
    ds = _dataset(root, name, b"")
    (ds / f"{name}.csv").unlink()
    pq.write_table(table, ds / f"{name}.parquet")
    _ingest_checked(ds)


runner = CliRunner()


@examples(4, ci=2)
@given(case=mutated_csv())
def test_cli_never_shows_a_traceback(tmp_path_factory, case) -> None:
    name, data = case
    root = tmp_path_factory.mktemp("fzc")
    ds = _dataset(root, name, data)
    for args in (["validate", str(ds)], ["ingest", str(ds), "--db", str(root / "s.duckdb")]):
        res = runner.invoke(app, args)
        assert res.exception is None or isinstance(res.exception, SystemExit), (
            args, res.exception)
        assert res.exit_code in (0, 1, 2), res.output
        assert "Traceback" not in res.output
