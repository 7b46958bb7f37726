"""The cluster engine: the same Ibis code on PySpark. The only module that imports pyspark."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from rareflow.errors import UnreadableFileError
from rareflow.store.base import Capabilities, RawRead, Store

CORRUPT = "_corrupt_record"


def local_session(warehouse: str | Path | None = None, cores: int = 1,
                  conf: Mapping[str, str] | None = None) -> Any:
    """A local Spark session for tests and single machines (Java 17 must be installed).

    `conf`: further Spark settings, over these (e.g. the driver's JVM flags). They must come
    through here: `SparkSession.builder` is a new builder at each access (PySpark 4), so a
    setting made on it elsewhere never reaches this session."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(f"local[{cores}]").appName("rareflow")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "2g"))
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", str(warehouse))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkStore(Store):
    caps = Capabilities(name="spark", exact_line_numbers=True, structural_csv_rejects=True,
                        persistent=True)

    def __init__(self, session: Any = None, warehouse: str | Path | None = None) -> None:
        self.session = session or local_session(warehouse)
        super().__init__(ibis.pyspark.connect(self.session))

    def has(self, name: str) -> bool:
        """One catalog lookup, no query (Ibis's `list_tables` runs two Spark queries: the
        current database's name, then SHOW TABLES): a temporary view or a table of the
        current database, as SHOW TABLES lists them (the name matched as Spark matches
        names, whatever its case)."""
        return self.session.catalog.tableExists(name)

    def names(self) -> set[str]:
        """Every table's name: one SHOW TABLES (the current database's tables and the
        temporary views), without Ibis's query for the current database's name."""
        return {row.tableName for row in self.session.sql("SHOW TABLES").collect()}

    def materialize(self, name: str, expr: ir.Table, *, temp: bool = False) -> ir.Table:
        if not temp:
            return self.con.create_table(name, expr, overwrite=True)
        self.con._run_pre_execute_hooks(expr)  # register the memtables the SQL names
        df = self.session.sql(self.con.compile(expr)).cache()
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def write_csv(self, expr: ir.Table, path: Path) -> None:
        """One CSV file: Spark writes one part into a folder beside it, moved into place."""
        import shutil

        parts = path.with_name(path.name + ".parts")
        self.con._run_pre_execute_hooks(expr)
        df = self.session.sql(self.con.compile(expr))
        df.coalesce(1).write.mode("overwrite").option("header", True).csv(str(parts))
        shutil.move(str(next(parts.glob("part-*.csv"))), path)
        shutil.rmtree(parts, ignore_errors=True)

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """Cached once on the cluster: each later job reads the cache."""
        return self.materialize(name, expr, temp=True)

    def from_arrow(self, name: str, data: pa.Table) -> ir.Table:
        # rows, not pandas: pandas 3 turns a missing string into NaN, which Spark then
        # stores as the text "NaN" instead of a null
        rows = [tuple(r.values()) for r in data.to_pylist()]
        df = self.session.createDataFrame(rows, schema=_spark_schema(data.schema))
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def with_value(self, name: str, table: ir.Table, column: str, value: str,
                   order: list[str]) -> ir.Table:
        """A temporary view over the table's DataFrame, the value a literal of Spark's."""
        from pyspark.sql.functions import col, lit

        self.con._run_pre_execute_hooks(table)
        df = self.session.sql(self.con.compile(table))
        df.select(*[lit(value).alias(c) if c == column else col(f"`{c}`")
                    for c in order]).createOrReplaceTempView(name)
        return self.con.table(name)

    def _with_lines(self, df: Any, name: str, first: int) -> ir.Table:
        """`df` (a file read, its records in file order) with `_line`: record k (from 0)
        on line k + `first`. Numbered in the JVM (rows never go through Python workers, as
        with `rdd.zipWithIndex`): Spark's row id holds the partition in its upper bits and
        the row's place in the partition in its lower 33; one small job counts each
        partition's rows, from which each partition's first line follows. A file scan
        splits the file the same way on each run, so both passes see the same ids."""
        from pyspark.sql import functions as F

        mid = F.monotonically_increasing_id()
        counts = (df.select(F.shiftright(mid, 33).alias("p")).groupBy("p").count()
                  .orderBy("p").collect())
        start, offsets = first, [F.lit(0), F.lit(first)]  # a typed map, rows or none
        for row in counts:
            offsets += [F.lit(row["p"]), F.lit(start)]
            start += row["count"]
        tagged = df.withColumn("_rf_mid", mid)
        line = (F.col("_rf_mid").bitwiseAND((1 << 33) - 1)
                + F.element_at(F.create_map(*offsets), F.shiftright(F.col("_rf_mid"), 33)))
        out = tagged.select(*[F.col(f"`{c}`") for c in df.columns],
                            line.cast("long").alias("_line")).cache()
        out.createOrReplaceTempView(name)
        return self.con.table(name)

    def read_csv_raw(self, path: Path) -> RawRead:
        from pyspark.sql.types import StringType, StructField, StructType

        try:
            header = self.session.read.option("header", "false").csv(str(path)).first()
            names = [str(c) for c in header] if header else []
            schema = StructType([StructField(c, StringType()) for c in [*names, CORRUPT]])
            df = (self.session.read.option("header", "true").option("mode", "PERMISSIVE")
                  .option("columnNameOfCorruptRecord", CORRUPT).option("multiLine", "false")
                  .schema(schema).csv(str(path)))
            table = self._with_lines(df, self.temp_name(f"csv_{path.stem}"), 2)
        except Exception as exc:
            raise UnreadableFileError(str(path), str(exc).splitlines()[0]) from exc
        bad = self.to_pandas(table.filter(table[CORRUPT].notnull()).select("_line", CORRUPT))
        structural = [{"line": int(line), "column": "", "value": value,
                       "reason": "malformed CSV row (wrong number of columns); row not loaded"}
                      for line, value in bad.itertuples(index=False, name=None)]
        table = table.filter(table[CORRUPT].isnull()).drop(CORRUPT)
        return RawRead(table, structural)

    def read_parquet_raw(self, path: Path) -> RawRead:
        from pyspark.sql.functions import col

        try:
            df = self.session.read.parquet(str(path))
            df = df.select(*[col(c).cast("string").alias(c) for c in df.columns])
            table = self._with_lines(df, self.temp_name(f"pq_{path.stem}"), 1)
        except Exception as exc:
            raise UnreadableFileError(str(path), str(exc).splitlines()[0]) from exc
        return RawRead(table, [])

    def _add_columns(self, name: str, columns: dict[str, Any]) -> None:
        from ibis.backends.pyspark.datatypes import PySparkType

        cols = ", ".join(f"`{c}` {PySparkType.from_ibis(t).simpleString()}"
                         for c, t in columns.items())
        self.session.sql(f"ALTER TABLE `{name}` ADD COLUMNS ({cols})")

    def close(self) -> None:
        """Leave the session running: it is shared by the process."""


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType([StructField(f.name, LongType() if pa.types.is_integer(f.type)
                                   else StringType()) for f in schema])
