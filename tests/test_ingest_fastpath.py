"""The ingest's fast paths give what the plain definitions give (issue 11): a cell is cleaned
(`checks.clean`) and a row hashed (`validate.row_hash` of its cleaned cells) as before, whether
or not its row is taken as already clean; a CSV file's records keep their true lines, blank
lines between them or before the header included."""

from __future__ import annotations

import random
from pathlib import Path

import ibis
import pyarrow as pa

from rareflow.contract import load_contract
from rareflow.readers.checks import clean
from rareflow.readers.csvlines import read_csv_lines
from rareflow.readers.validate import row_hash, validate
from rareflow.store.duckdb_store import DuckDBStore, _line_shape

ATOMS = ["", " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2028", "\u3000", "\x85",
         "\x01", "a", "B", "1", "2024-01-05", "12.5", "-3", "nan", "1e308", "IN", "in", "ZZ",
         "ndfeb_magnet", "EX-CN-01", "\u241f", "\u2400", "é", "x y", "8505.11.10", ";",
         "exporter; importer", '"', ","]


def _cells(n: int, seed: int) -> dict[str, list[str | None]]:
    rnd = random.Random(seed)
    spec = load_contract()["shipments"]
    names = [*spec.column_names, "note"]

    def cell() -> str | None:
        if rnd.random() < 0.1:
            return None
        if rnd.random() < 0.5:  # most rows: plain cells, nothing to trim
            return rnd.choice(["EX-CN-01", "IN", "2024-01-05", "12.5", "ndfeb_magnet", "x"])
        return "".join(rnd.choice(ATOMS) for _ in range(rnd.randint(0, 4)))

    return {c: [cell() for _ in range(n)] for c in names}


def test_cleaned_cells_and_hash_match_the_plain_definitions() -> None:
    con = ibis.duckdb.connect()
    data = _cells(4000, seed=11)
    n = len(next(iter(data.values())))
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in data.items()},
                      "_file": pa.array(["f"] * n), "_line": pa.array(range(2, n + 2))})
    raw = con.create_table("raw", table)
    spec = load_contract()["shipments"]
    v = validate(raw, spec, {})
    plain = raw.select("_line", h=row_hash({c: clean(raw[c]) for c in data}),
                       **{c: clean(raw[c]) for c in ("declaration_id", "exporter_id", "note")})
    got = con.to_pyarrow(v.typed.select("_line", h=v.typed._hash, declaration_id="declaration_id",
                                        exporter_id="exporter_id", note="note")
                         .order_by("_line"))
    want = con.to_pyarrow(plain.order_by("_line"))
    assert got.equals(want)


def test_line_shape_counts_lines_as_the_careful_reader(tmp_path: Path) -> None:
    rnd = random.Random(5)
    path = tmp_path / "f.csv"
    for _ in range(300):
        data = b"".join(rnd.choice([b"a", b"b,c", b"\n", b"\r\n", b"\r", b"\x00", b" "])
                        for _ in range(rnd.randint(0, 25)))
        path.write_bytes(data)
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        first = next((i for i, x in enumerate(lines) if x), len(lines))
        last = max((i for i, x in enumerate(lines) if x), default=-1)
        want = (last - first + 1 if last >= 0 else 0, first if last >= 0 else 0,
                b"\x00" in data)
        for chunk in (1, 3, 1 << 20):
            assert _line_shape(path, chunk) == want, data


def test_blank_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    store = DuckDBStore(None)
    cases = {"between.csv": b"a,b\n1,x\n\n2,x\n3,x\n\n\n",
             "before.csv": b"\na,b\n1,x\n2,x\n",
             "crlf.csv": b"a,b\r\n1,x\r\n2,x\r\n"}
    want = {"between.csv": [2, 4, 5], "before.csv": [3, 4], "crlf.csv": [2, 3]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        read = store.read_csv_raw(path)
        lines = sorted(store.to_pandas(read.table.select("_line"))["_line"])
        assert lines == want[name], name
        if name != "before.csv":  # the careful reader wants the header on line 1
            assert lines == read_csv_lines(path).lines
    store.close()
