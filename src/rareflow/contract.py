"""The dataset contract, loaded once from `data/contract.yaml`; everything else derives from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Column:
    """One contract column: its type and constraints."""

    name: str
    type: str
    required: bool = False
    ref: str | None = None
    soft: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    min_exclusive: float | None = None
    max: float | None = None
    years_ahead: int | None = None  # dates: how far after today a value may lie (default 1)

    @property
    def ref_table(self) -> str | None:
        return self.ref.split(".")[0] if self.ref else None

    @property
    def ref_column(self) -> str | None:
        return self.ref.split(".")[1] if self.ref else None


@dataclass(frozen=True)
class TableSpec:
    """One contract table."""

    name: str
    key: tuple[str, ...]
    columns: dict[str, Column]
    required_table: bool = False
    reference: str | None = None
    source: str | None = None
    one_of: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def refs(self) -> list[Column]:
        return [c for c in self.columns.values() if c.ref]


def _column(name: str, raw: dict) -> Column:
    return Column(
        name=name,
        type=raw["type"],
        required=bool(raw.get("required", False)) or raw["type"] == "id",
        ref=raw.get("ref"),
        soft=bool(raw.get("soft", False)),
        values=tuple(raw.get("values", ())),
        min=raw.get("min"),
        min_exclusive=raw.get("min_exclusive"),
        max=raw.get("max"),
        years_ahead=raw.get("years_ahead"),
    )


@cache
def load_contract() -> dict[str, TableSpec]:
    """Every table of the contract, in dependency order (referenced tables first)."""
    text = resources.files("rareflow.data").joinpath("contract.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    tables: dict[str, TableSpec] = {}
    for name, spec in raw["tables"].items():
        tables[name] = TableSpec(
            name=name,
            key=tuple(spec["key"]),
            columns={c: _column(c, v) for c, v in spec["columns"].items()},
            required_table=bool(spec.get("required_table", False)),
            reference=spec.get("reference"),
            source=spec.get("source"),
            one_of=tuple(tuple(g) for g in spec.get("one_of", ())),
        )
    return tables


def table_spec(name: str) -> TableSpec:
    return load_contract()[name]


def ingest_order() -> list[str]:
    """Tables ordered so that every hard reference points to a table already read."""
    tables = load_contract()
    done: list[str] = []
    pending = list(tables)
    while pending:
        for name in pending:
            deps = {c.ref_table for c in tables[name].refs() if not c.soft} - {name}
            if deps <= set(done):
                done.append(name)
                pending.remove(name)
                break
        else:  # pragma: no cover - contract.yaml is ours
            raise RuntimeError(f"reference cycle among {pending}")
    return done


TYPE_WORDS = {
    "id": "key (non-empty text)", "str": "text", "country": "ISO 3166-1 alpha-2",
    "date": "date YYYY-MM-DD", "period": "YYYY or YYYY-MM", "year": "year YYYY",
    "decimal": "number", "bool": "true/false", "list": "list (`;`-separated)",
    "enum": "one of", "hs": "HS code (6-10 digits)", "ref": "reference",
}


def _describe(col: Column) -> str:
    words = TYPE_WORDS[col.type]
    if col.type == "ref":
        words = f"reference to `{col.ref}`" + (" (unresolved: warning, row kept)"
                                               if col.soft else "")
    if col.values:
        words += ": " + ", ".join(f"`{v}`" for v in col.values)
    bounds = []
    if col.min_exclusive is not None:
        bounds.append(f"> {col.min_exclusive:g}")
    if col.min is not None:
        bounds.append(f">= {col.min:g}")
    if col.max is not None:
        bounds.append(f"<= {col.max:g}")
    if bounds:
        words += " (" + ", ".join(bounds) + ")"
    return words


def render_markdown() -> str:
    """docs/contract.md, derived from data/contract.yaml (a test keeps them in step)."""
    lines = [
        "# The dataset contract as rareflow checks it",
        "",
        "Generated from `src/rareflow/data/contract.yaml` by "
        "`python -c 'from rareflow.contract import render_markdown; print(render_markdown())'`"
        "; the prose contract is `../shared/spec/dataset.md`.",
        "",
        "A row that fails a check goes to the rejects table with file, line, column, reason "
        "and value; a row failing a *warning* check (an unresolved licence, certificate or "
        "lot reference) is kept and listed. A key seen twice in one batch, or already stored "
        "with other content, is a reject; a key already stored with the same content is "
        "skipped, so ingest is idempotent.",
        "",
    ]
    for name, spec in load_contract().items():
        lines += [f"## {name}", ""]
        notes = [f"key: {', '.join(f'`{k}`' for k in spec.key)}"]
        if spec.required_table:
            notes.append("required table")
        if spec.reference:
            notes.append(f"the project ships defaults (`data/{spec.reference}`); the "
                         "dataset's rows replace them")
        if spec.source == "certificates":
            notes.append("filled from the certificate documents")
        for group in spec.one_of:
            notes.append(f"one of {', '.join(f'`{c}`' for c in group)} is required")
        lines += [f"- {n}" for n in notes] + ["", "| column | type | required |",
                                              "|---|---|---|"]
        for col in spec.columns.values():
            lines.append(f"| {col.name} | {_describe(col)} | {'yes' if col.required else ''} |")
        lines.append("")
    return "\n".join(lines)
