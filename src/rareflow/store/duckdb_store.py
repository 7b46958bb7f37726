"""The embedded default engine: one DuckDB file, no server."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.common.exceptions
import ibis.expr.operations as ops
import ibis.expr.types as ir

from rareflow.errors import ConfigError, StoreBusyError, UnreadableFileError
from rareflow.readers.excerpt import escape
from rareflow.store import compiled
from rareflow.store.base import Capabilities, RawRead, Store


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


CSV_OPTIONS = "header=true, all_varchar=true, delim=',', quote='\"', escape='\"'"


def _csv_source(path: Path, extra: str = "") -> str:
    """The engine's reader on `path`, every cell as text."""
    return f"read_csv({_q(str(path))}, {CSV_OPTIONS}{', ' + extra if extra else ''})"


def _ends(text: bytes) -> int:
    """Line ends in `text`: CRLF, LF and a lone CR each end one line."""
    return text.count(b"\n") + text.count(b"\r") - text.count(b"\r\n")


def _line_shape(path: Path, chunk: int = 1 << 24) -> tuple[int, int, bool]:
    """(lines, lead, nul): the lines of `path` as `readers.csvlines` counts them, leaving
    out the blank lines before the first line with text (`lead` of them: the engine skips
    them) and after the last; and whether the file holds a NUL byte. Read in chunks (memory
    stays flat); in a file without CR, only LF is counted."""
    ends = lead = 0
    pending = b""  # CR/LF bytes not yet known to lie between two lines with text
    started = nul = False
    with path.open("rb") as f:
        if f.read(3) != b"\xef\xbb\xbf":  # a byte-order mark is not text
            f.seek(0)
        while block := f.read(chunk):
            nul = nul or b"\x00" in block
            if not started:
                text = block.lstrip(b"\r\n")
                pending += block[:len(block) - len(text)]
                if not text:
                    continue
                lead, pending, started, block = _ends(pending), b"", True, text
            body = block.rstrip(b"\r\n")
            if not body:
                pending += block
                continue
            ends += _ends(pending) + (_ends(body) if b"\r" in body else body.count(b"\n"))
            if pending.endswith(b"\r") and body.startswith(b"\n"):
                ends -= 1  # one CRLF, split between the two
            pending = block[len(body):]
    return (ends + 1 if started else 0), lead, nul


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DuckDBStore(Store):
    caps = Capabilities(name="duckdb", exact_line_numbers=True, structural_csv_rejects=True,
                        persistent=True)

    def __init__(self, path: str | Path | None = None, *,
                 lock_wait: float | None = None) -> None:
        self.path = Path(path) if path else None
        con = connect(self.path, lock_wait=lock_wait)
        compiled.install(con)
        super().__init__(con)

    def has(self, name: str) -> bool:
        """One catalog lookup (Ibis's `list_tables` asks three queries and lists them all);
        the same tables and views: the database's and the temporary ones, current schema.
        A name DuckDB cannot resolve at all is answered without a query (binding it costs
        ~0.1 ms, the catalog query ~2 ms); a name it resolves may be a system view, so the
        catalog is asked."""
        if _PLAIN.fullmatch(name):  # a dotted or quoted name would be read as qualified
            try:
                self.raw.table(name)
            except duckdb.CatalogException:
                return False
        return self.raw.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_catalog "
            "IN (current_database(), 'temp') AND table_schema = current_schema() LIMIT 1",
            [name]).fetchone() is not None

    def table(self, name: str) -> ir.Table:
        """The stored table `name`, as Ibis's `con.table` makes it (the columns' types
        from DuckDB's DESCRIBE), with each type's text parsed once per process."""
        try:
            rows = self.raw.execute(f"DESCRIBE {_ident(name)}").fetchall()
        except duckdb.CatalogException:
            raise ibis.common.exceptions.TableNotFound(name) from None
        schema = ibis.schema({col: _dtype(self.con, typ, null == "YES")
                              for col, typ, null, *_ in rows})
        return ops.DatabaseTable(name, schema=schema, source=self.con,
                                 namespace=ops.Namespace()).to_expr()

    def table_or_none(self, name: str) -> ir.Table | None:
        return self.table(name) if self.has(name) else None

    def materialize(self, name: str, expr: ir.Table, *, temp: bool = False) -> ir.Table:
        """As Ibis's `create_table` does it (the table declared with the expression's
        column types, then filled; a table that exists is replaced by a new one, so that the
        expression may read it), with the expression's SQL from the compiled cache."""
        if expr.schema().null_fields:  # Ibis's own error for a column of no type
            return super().materialize(name, expr, temp=temp)
        self.con._run_pre_execute_hooks(expr)  # register the memtables the SQL names
        sql = self.con.compile(expr)
        exists = self.has(name)
        target = self.temp_name(f"{name}_new") if exists else name
        kind = "TEMP TABLE" if temp else "TABLE"
        self.raw.execute(f"CREATE {kind} {_ident(target)} ({_column_defs(expr.schema())})")
        self.raw.execute(f"INSERT INTO {_ident(target)} {sql}")
        if exists:
            self.raw.execute(f"DROP TABLE {_ident(name)}")
            self.raw.execute(f"ALTER TABLE {_ident(target)} RENAME TO {_ident(name)}")
        return self.table(name)

    def _insert(self, name: str, expr: ir.Table) -> None:
        """One INSERT of the expression's SQL, from the compiled cache."""
        self.con._run_pre_execute_hooks(expr)
        names = ", ".join(_ident(c) for c in expr.columns)
        self.raw.execute(f"INSERT INTO {_ident(name)} ({names}) {self.con.compile(expr)}")

    @property
    def raw(self) -> Any:
        """The DuckDB connection itself, for the reads Ibis does not expose."""
        return self.con.con

    def read_csv_raw(self, path: Path) -> RawRead:
        """The fast path: DuckDB's own reader. A file it fails on, or in which it sets rows
        aside, or whose records do not each fill one line (a cell holding a line break, a
        blank line between records), is read again line by line (`readers.csvlines`), so
        that every bad line is a reject with its true line number and the rest is loaded.

        The fast path reads the file once here, writing nothing: every cell goes through
        the parser (which sets aside what it cannot read), the records are counted, and the
        file's lines are counted from its bytes. It returns a view on the file: the
        validation reads it straight from the file, in the scan that types and checks it,
        instead of from a copy of its text."""
        rej = self.temp_name(f"csvrej_{path.stem}")
        scan = f"{rej}_scan"
        src = _csv_source(path)
        careful = False
        try:
            cols = [c for (c,) in self.raw.execute(
                f"SELECT column_name FROM (DESCRIBE SELECT * FROM {src})").fetchall()]
            lines, lead, nul = _line_shape(path)
            stored = (f"store_rejects=true, rejects_table={_q(rej)}, "
                      f"rejects_scan={_q(scan)}")
            # every column named, so that the parser converts (and checks) every cell;
            # fetchall: the rejects table is written when the query ends
            counts = ", ".join(["count(*)", *(f"count({_ident(c)})" for c in cols)])
            n_rows = self.raw.execute(
                f"SELECT {counts} FROM {_csv_source(path, stored)}").fetchall()[0][0]
            n_errors = self.raw.execute(f"SELECT count(*) FROM {_ident(rej)}").fetchone()[0]
            careful = bool(n_errors) or nul or n_rows != lines - 1
        except Exception:  # duckdb raises several types; the careful reader says why
            careful = True
        finally:
            for t in (rej, scan):
                self.raw.execute(f"DROP TABLE IF EXISTS {_ident(t)}")
        if careful:
            return self._read_csv_careful(path)
        name = self.temp_name(f"csv_{path.stem}")
        # every record on a line of its own: record k is on line k + 1, after the blank
        # lines the engine skipped before the header
        self.raw.execute(
            f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS SELECT * EXCLUDE (ordinality), "
            f"CAST(ordinality + {1 + lead} AS BIGINT) AS _line FROM {src} WITH ORDINALITY")
        return RawRead(self.table(name), [])

    def _read_csv_careful(self, path: Path) -> RawRead:
        import pyarrow as pa

        from rareflow.readers.csvlines import read_csv_lines

        got = read_csv_lines(path)
        columns = list(zip(*got.rows, strict=True)) if got.rows else [()] * len(got.header)
        data = {c: pa.array(list(v), pa.string()) for c, v in zip(got.header, columns,
                                                                  strict=True)}
        data["_line"] = pa.array(got.lines, pa.int64())
        table = self.from_arrow(self.temp_name(f"csvl_{path.stem}"), pa.table(data))
        return RawRead(table, got.rejects)

    def read_parquet_raw(self, path: Path) -> RawRead:
        name = self.temp_name(f"pq_{path.stem}")
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
            raise UnreadableFileError(str(path), _why(exc)) from exc
        return RawRead(self.table(name), [])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction: everything done inside is committed together, or rolled
        back on any error (or interrupt)."""
        self.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def drop(self, name: str) -> None:
        """The table or view `name`, if there is one."""
        try:
            self.raw.execute(f"DROP TABLE IF EXISTS {_ident(name)}")
        except duckdb.CatalogException:  # a view
            self.raw.execute(f"DROP VIEW IF EXISTS {_ident(name)}")

    def with_value(self, name: str, table: ir.Table, column: str, value: str,
                   order: list[str]) -> ir.Table:
        """A temporary view: the value in the view's SQL, the table read by its name (or
        through its compiled SQL)."""
        op = table.op()
        if isinstance(op, ops.DatabaseTable):
            src = _ident(op.name)
        else:
            self.con._run_pre_execute_hooks(table)
            src = f"({self.con.compile(table)})"
        cols = ", ".join(f"{_q(value)} AS {_ident(c)}" if c == column else _ident(c)
                         for c in order)
        self.raw.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS "
                         f"SELECT {cols} FROM {src}")
        return self.table(name)

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """A temporary view (gone with the connection; never written to the store file)."""
        self.con._run_pre_execute_hooks(expr)  # register the memtables the SQL names
        self.raw.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS "
                         f"{self.con.compile(expr)}")
        return self.table(name)

    def excerpt_rejects(self, name: str) -> ir.Table:
        from rareflow.readers.excerpt import REASON_CHARS, excerpt_sql

        self.raw.execute(f"UPDATE {_ident(name)} SET value = {excerpt_sql('value')}, "
                         f"reason = {excerpt_sql('reason', REASON_CHARS)}")
        return self.table(name)

    def delete_matching(self, name: str, keys: ir.Table, key: tuple[str, ...]) -> None:
        tmp = self.temp_name(f"{name}_del")
        self.con.create_table(tmp, keys.select(*key).distinct(), temp=True, overwrite=True)
        cond = " AND ".join(f"t.{_ident(c)} IS NOT DISTINCT FROM k.{_ident(c)}" for c in key)
        self.raw.execute(f"DELETE FROM {_ident(name)} t USING {_ident(tmp)} k WHERE {cond}")
        self.raw.execute(f"DROP TABLE IF EXISTS {_ident(tmp)}")

    def _add_columns(self, name: str, columns: dict[str, Any]) -> None:
        for col, dtype in columns.items():
            self.raw.execute(
                f"ALTER TABLE {_ident(name)} ADD COLUMN {_ident(col)} {_duck_type(dtype)}"
            )


def _why(exc: Exception) -> str:
    """The engine's whole message (not only its first line), escaped and bounded."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = escape(text)
    return text if len(text) <= 600 else text[:599] + "\u2026"


_DEFS: dict[Any, str] = {}
_DTYPES: dict[tuple[str, bool], Any] = {}


def _dtype(con: Any, text: str, nullable: bool) -> Any:
    """Ibis's data type for DuckDB's type `text` (parsed by sqlglot: kept once parsed)."""
    dtype = _DTYPES.get((text, nullable))
    if dtype is None:
        dtype = con.compiler.type_mapper.from_string(text, nullable=nullable)
        if len(_DTYPES) < 4096:
            _DTYPES[text, nullable] = dtype
    return dtype


def _column_defs(schema: Any) -> str:
    """`"name" TYPE, ...` for a CREATE TABLE of an Ibis schema, as Ibis writes them."""
    defs = _DEFS.get(schema)
    if defs is None:
        defs = ", ".join(d.sql("duckdb") for d in schema.to_sqlglot_column_defs("duckdb"))
        if len(_DEFS) < 4096:
            _DEFS[schema] = defs
    return defs


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


# --- connecting: one writer per file --------------------------------------------------------

LOCK_WAIT_ENV = "RAREFLOW_LOCK_WAIT"
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def lock_wait_setting() -> float:
    """Seconds to wait for a store another process holds: $RAREFLOW_LOCK_WAIT, default 0."""
    text = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{LOCK_WAIT_ENV}={text!r}: give a number of seconds (0 or more)")
    return value


def _lock_holder(exc: Exception) -> tuple[bool, int | None]:
    """Whether `exc` is DuckDB's "Could not set lock on file" error, and the pid its
    message names (None when it names none)."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return False, None
    hit = _LOCK_PID.search(text)
    return True, int(hit.group(1)) if hit else None


def connect(path: Path | None, *, lock_wait: float | None = None) -> ibis.BaseBackend:
    """An Ibis DuckDB connection to `path` (None: in memory). A file another process holds
    raises StoreBusyError naming its pid, after retrying for `lock_wait` seconds (default
    $RAREFLOW_LOCK_WAIT, else 0)."""
    if path is None:
        return ibis.duckdb.connect(":memory:")
    wait = lock_wait_setting() if lock_wait is None else max(float(lock_wait), 0.0)
    started = time.monotonic()
    pause = 0.05
    while True:
        try:
            return ibis.duckdb.connect(str(path))
        except Exception as exc:  # duckdb.IOException, wrapped or not by ibis
            busy, pid = _lock_holder(exc)
            if not busy:
                if not Path(path).parent.is_dir():
                    raise UnreadableFileError(str(path), "its folder does not exist") from None
                raise UnreadableFileError(str(path), _why(exc)) from None
            waited = time.monotonic() - started
            if waited >= wait:
                raise StoreBusyError(str(path), pid, round(wait, 3)) from None
        time.sleep(min(pause, max(wait - waited, 0.0)))
        pause = min(pause * 2, 0.5)
