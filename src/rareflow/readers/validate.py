"""Validation of one raw table against its contract spec, as lazy Ibis expressions.

Produces the typed rows that pass and a rejects expression (file, line, column, reason,
value, level). Duplicate keys inside the batch and keys already stored with other content
are rejects too; keys already stored with the same content are skipped (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from rareflow.contract import TableSpec
from rareflow.readers.checks import Check, clean, column_checks, has_space, typed_value

PROVENANCE = ("_file", "_line", "_hash")
REJECT_COLUMNS = ("table", "file", "line", "column", "reason", "value", "level")


@dataclass
class Validated:
    """The outcome of validating one file, still lazy."""

    typed: ir.Table  # every row with typed columns and `_bad` (true = set aside)
    checks: list[Check]
    raw: ir.Table


def key_text(t: ir.Table, key: tuple[str, ...]) -> ir.StringValue:
    parts = [t[k].cast("string").fill_null("") for k in key]
    return parts[0] if len(parts) == 1 else ibis.literal("|").join(parts)


SEP = "\u241f"  # between the cells of `row_text`
MISSING = "\u2400"  # a missing cell in `row_text`


def row_text(values: dict[str, ir.StringValue]) -> ir.StringValue:
    """The row's cells in column-name order, a missing one as MISSING, joined by SEP: the
    text `row_hash` hashes."""
    parts = [values[c].fill_null(MISSING) for c in sorted(values)]
    return ibis.literal(SEP).join(parts)


def row_hash(values: dict[str, ir.StringValue]) -> ir.IntegerValue:
    """A content hash of the row's cells (trimmed text), for idempotent re-ingest."""
    return row_text(values).hash()


def validate(raw: ir.Table, spec: TableSpec, parents: dict[str, ir.Column]) -> Validated:
    """Type every contract column of `raw` (all strings, plus `_file` and `_line`) and
    collect the checks it must pass.

    Cells are cleaned (`checks.clean`) in inner projections that keep the raw text beside
    them (`Validated.raw`: the checks' values quote it), once per cell, and only in the rows
    that may need it: a row whose text (`row_text` of its raw cells) holds no space character
    and no empty cell is clean as it stands, and that text is the one its hash reads. Types,
    checks and the content hash all read the cleaned cells."""
    for name in spec.column_names:  # optional columns absent from the file
        if name not in raw.columns:
            raw = raw.mutate(**{name: ibis.null("string")})
    extras = [c for c in raw.columns if c not in spec.columns and c not in ("_file", "_line")]
    names = [*spec.column_names, *extras]
    slot = {c: f"_rf_clean_{i}" for i, c in enumerate(names)}
    tslot = {c: f"_rf_typed_{i}" for i, c in enumerate(spec.column_names)}
    assert not {*slot.values(), *tslot.values(), "_rf_row", "_rf_dirty"} & set(raw.columns)
    staged = raw.mutate(_rf_row=row_text({c: raw[c] for c in names}))
    row = staged._rf_row
    empty = [row.contains(SEP + SEP), row.startswith(SEP), row.endswith(SEP), row == ""]
    staged = staged.mutate(_rf_dirty=ibis.or_(has_space(row), *empty))
    staged = staged.mutate(**{slot[c]: ibis.cases((staged._rf_dirty, clean(staged[c])),
                                                  else_=staged[c]) for c in names})
    # each typed value once, in its own projection: the checks read it
    staged = staged.mutate(**{tslot[c]: typed_value(col, staged[slot[c]])
                              for c, col in spec.columns.items()})
    cleaned = {c: staged[slot[c]] for c in names}
    row_hash_ = ibis.cases((staged._rf_dirty, row_text(cleaned)), else_=staged._rf_row).hash()
    typed: dict[str, ir.Value] = {}
    checks: list[Check] = []
    for name, col in spec.columns.items():
        value, col_checks = column_checks(col, staged[name], parents, cleaned[name],
                                          staged[tslot[name]])
        typed[name] = value
        checks.extend(col_checks)
    for group in spec.one_of:
        missing = ibis.and_(*[cleaned[c].isnull() for c in group])
        checks.append(Check(group[0], f"one of {', '.join(group)} is required", missing))
    flags = {f"_c{i}": c.fails.fill_null(False) for i, c in enumerate(checks)}
    hard = [ibis._[f"_c{i}"] for i, c in enumerate(checks) if not c.warning]
    out = staged.select(
        **typed,
        **{c: cleaned[c] for c in extras},
        _file=staged["_file"],
        _line=staged["_line"].cast("int64"),
        _hash=row_hash_,
        **flags,
    )
    out = out.mutate(_bad=ibis.or_(*hard) if hard else ibis.literal(False))
    return Validated(typed=out, checks=checks, raw=staged)


def flag_columns(v: Validated) -> list[str]:
    return [f"_c{i}" for i in range(len(v.checks))]


def check_rejects(v: Validated, table: str, failing: list[int]) -> ir.Table | None:
    """One row per failed check (a row failing two checks appears twice); `failing` are the
    indexes of the checks that failed somewhere, so that clean data costs no query."""
    checks = [v.checks[i] for i in failing]
    parts = [
        v.raw.filter(c.fails).select(
            table=ibis.literal(table),
            file=v.raw["_file"],
            line=v.raw["_line"].cast("int64"),
            column=ibis.literal(c.column),
            reason=ibis.literal(c.reason),
            value=v.raw[c.column].cast("string"),
            level=ibis.literal("warning" if c.warning else "reject"),
        )
        for c in checks
    ]
    return ibis.union(*parts) if parts else None


def classify(
    candidates: ir.Table, spec: TableSpec, existing: ir.Table | None
) -> ir.Table:
    """Mark each good row `new`, `unchanged` (already stored, same content), `duplicate`
    (same key earlier in this batch) or `conflict` (key stored with other content).

    Keys are compared as text, so that an empty key part (a missing partner country)
    matches itself."""
    c = candidates.mutate(_key=key_text(candidates, spec.key))
    firsts = c.group_by("_key").aggregate(_first_line=c._line.min())
    c = c.inner_join(firsts, "_key").select(c, firsts._first_line)
    c = c.mutate(
        _status=ibis.cases((c._line != c._first_line, "duplicate"), else_="new"),
        _other=c._first_line.cast("string"),
        _other_file=c._file,
    ).drop("_first_line")
    if existing is None:
        return c.drop("_key")
    old = existing.select(_key=key_text(existing, spec.key), _old_hash=existing._hash,
                          _old_file=existing._file, _old_line=existing._line)
    j = c.left_join(old, "_key").select(c, old._old_hash, old._old_file, old._old_line)
    status = ibis.cases(
        (j._status == "duplicate", "duplicate"),
        (j._old_hash.isnull(), "new"),
        (j._old_hash == j._hash, "unchanged"),
        else_="conflict",
    )
    return j.mutate(
        _status=status,
        _other=ibis.cases((j._old_hash.notnull(), j._old_line.cast("string")),
                          else_=j._other),
        _other_file=ibis.cases((j._old_hash.notnull(), j._old_file), else_=j._other_file),
    ).drop("_old_hash", "_old_file", "_old_line", "_key")


def key_rejects(classified: ir.Table, spec: TableSpec, table: str) -> ir.Table:
    bad = classified.filter(classified._status.isin(["duplicate", "conflict"]))
    reason = ibis.cases(
        (bad._status == "duplicate",
         ibis.literal("duplicate key (first at line ").concat(bad._other, ")")),
        else_=ibis.literal("key already loaded with other content (from ")
        .concat(bad._other_file, " line ", bad._other,
                "); to correct the stored row, ingest again with --replace "
                "(rareflow ingest DIR --replace), which keeps the old row in "
                f"replaced_{table}"),
    )
    return bad.select(
        table=ibis.literal(table),
        file=bad._file,
        line=bad._line,
        column=ibis.literal(",".join(spec.key)),
        reason=reason,
        value=key_text(bad, spec.key),
        level=ibis.literal("reject"),
    )
