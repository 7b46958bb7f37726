"""The embedded default engine: one DuckDB file, no server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis

from rareflow.errors import UnreadableFileError
from rareflow.store.base import Capabilities, RawRead, Store


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBStore(Store):
    caps = Capabilities(name="duckdb", exact_line_numbers=True, structural_csv_rejects=True,
                        persistent=True)

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        con = ibis.duckdb.connect(str(path) if path else ":memory:")
        super().__init__(con)

    @property
    def raw(self) -> Any:
        """The DuckDB connection itself, for the reads Ibis does not expose."""
        return self.con.con

    def read_csv_raw(self, path: Path) -> RawRead:
        name = self.temp_name("csv")
        rej = self.temp_name("csvrej")
        scan = f"{rej}_scan"
        opts = (f"header=true, all_varchar=true, delim=',', quote='\"', escape='\"', "
                f"store_rejects=true, rejects_table={_q(rej)}, rejects_scan={_q(scan)}")
        try:
            self.raw.execute(
                f"CREATE OR REPLACE TEMP TABLE {_ident(name)} AS SELECT * "
                f"FROM read_csv({_q(str(path))}, {opts}) WITH ORDINALITY"
            )
            errors = self.raw.execute(
                f"SELECT line, column_name, error_type, csv_line, error_message "
                f"FROM {_ident(rej)} ORDER BY line"
            ).fetchall()
        except Exception as exc:  # duckdb raises several types for unreadable files
            raise UnreadableFileError(str(path), str(exc).splitlines()[0]) from exc
        structural: list[dict[str, Any]] = []
        seen: set[int] = set()
        for line, _col, etype, csv_line, msg in errors:  # one per line: the first error
            if int(line) in seen:
                continue
            seen.add(int(line))
            structural.append({
                "line": int(line), "column": "", "value": csv_line,
                "reason": f"malformed CSV row ({etype.lower()}): {msg.splitlines()[0]}; "
                          "row not loaded"})
        self._fix_line_numbers(name, [r["line"] for r in structural])
        for t in (rej, scan):
            self.raw.execute(f"DROP TABLE IF EXISTS {_ident(t)}")
        return RawRead(self.con.table(name), structural)

    def _fix_line_numbers(self, name: str, reject_lines: list[int]) -> None:
        """`ordinality` counts accepted records; turn it into the physical line (header = 1),
        skipping the lines the parser set aside."""
        t = _ident(name)
        if not reject_lines:
            self.raw.execute(f"ALTER TABLE {t} RENAME COLUMN ordinality TO _line")
            self.raw.execute(f"UPDATE {t} SET _line = _line + 1")
            return
        # accepted record k sits at line k + 1 + #{j : r_j - j <= k} (r_j sorted, j from 1)
        thresholds = [(r - j, j) for j, r in enumerate(sorted(reject_lines), start=1)]
        values = ", ".join(f"({th}, {j})" for th, j in thresholds)
        self.raw.execute(
            f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT r.* EXCLUDE (ordinality), "
            f"CAST(r.ordinality + 1 + coalesce((SELECT max(j) FROM (VALUES {values}) v(th, j) "
            f"WHERE v.th <= r.ordinality), 0) AS BIGINT) AS _line FROM {t} r"
        )

    def read_parquet_raw(self, path: Path) -> RawRead:
        name = self.temp_name("pq")
        try:
            cols = self.raw.execute(
                f"SELECT name FROM parquet_schema({_q(str(path))}) WHERE num_children IS NULL"
            ).fetchall()
            casts = ", ".join(f"CAST({_ident(c)} AS VARCHAR) AS {_ident(c)}" for (c,) in cols)
            self.raw.execute(
                f"CREATE OR REPLACE TEMP TABLE {_ident(name)} AS SELECT {casts}, "
                f"CAST(file_row_number + 1 AS BIGINT) AS _line "
                f"FROM read_parquet({_q(str(path))}, file_row_number=true)"
            )
        except Exception as exc:
            raise UnreadableFileError(str(path), str(exc).splitlines()[0]) from exc
        return RawRead(self.con.table(name), [])

    def _add_columns(self, name: str, columns: dict[str, Any]) -> None:
        for col, dtype in columns.items():
            self.raw.execute(
                f"ALTER TABLE {_ident(name)} ADD COLUMN {_ident(col)} {_duck_type(dtype)}"
            )


def _duck_type(dtype: Any) -> str:
    if dtype.is_string():
        return "VARCHAR"
    if dtype.is_floating():
        return "DOUBLE"
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_boolean():
        return "BOOLEAN"
    if dtype.is_date():
        return "DATE"
    return "VARCHAR"
