"""Per-column checks as Ibis expressions, so that validation runs inside the engine.

`column_checks` turns one raw (all-string) column into its typed value and a list of
`Check`s: a boolean expression that is true where the row breaks the contract, with the
reason a user reads."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import cache

import ibis
import ibis.expr.types as ir
import pycountry

from rareflow.contract import Column
from rareflow.memtables import named_memtable

PERIOD_RE = r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"
YEAR_RE = r"^[0-9]{4}$"
HS_RE = r"^[0-9]{6,10}$"
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")
MAX_ABS = 1e15  # no mass, count or value of this contract is anywhere near it
EARLIEST_DATE = _dt.date(1990, 1, 1)  # before it, a date is a typo (0001-01-01), not a record
YEARS_AHEAD = 1  # a record dated more than a year after today is a typo (9999-12-31)
SINGULAR = {"parties": "party", "products": "product", "uses": "use code",
            "licences": "licence", "certificates": "certificate"}


@dataclass(frozen=True)
class Check:
    """A failing condition on one column. `warning` checks keep the row."""

    column: str
    reason: str
    fails: ir.BooleanValue
    warning: bool = False


@cache
def iso_countries() -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes, from pycountry (plus XK, the user-assigned code for Kosovo)."""
    return tuple(sorted({c.alpha_2 for c in pycountry.countries} | {"XK"}))


# The characters `\s` matches on any engine (RE2: the first five; Java, hence Spark: \v too).
# Every one is at most ' ' (0x20).
SPACES = (" ", "\t", "\n", "\r", "\x0c", "\x0b")


def _space_literals() -> list[ir.StringValue]:
    """`SPACES` as literals; form feed and vertical tab also decoded from hex, because Spark
    SQL reads the escapes '\\f' and '\\v' that Ibis writes for them as the letters f and v
    (DuckDB takes the characters as they are)."""
    return [ibis.literal(c) for c in SPACES] + [
        ibis.literal(c.encode()).cast("string") for c in ("\x0c", "\x0b")]


@cache
def _iso_table() -> ir.Table:
    """The codes of `iso_countries` as a table: the engine looks a cell up in it (one hash
    probe) instead of comparing it with 250 literals one by one (on DuckDB, 10 times the
    cost)."""
    return named_memtable("rf_iso_countries", {"code": list(iso_countries())})


def has_space(text: ir.StringValue) -> ir.BooleanValue:
    """Whether `text` holds any character of `SPACES` (true also for a few that do not
    matter, never false for one that does)."""
    return ibis.or_(*[text.contains(c) for c in _space_literals()])


def clean(raw: ir.StringValue) -> ir.StringValue:
    """Trimmed text, with an empty cell as a missing value.

    A regular expression, not `strip()`: Ibis compiles `strip()` to a TRIM with '\\v\\f'
    escapes that Spark SQL reads as the letters v and f (it turned 'final' into 'inal').
    The expression runs only on the cells that may need it, those whose first or last
    character is at most ' ' (every character of `SPACES` is; so is the empty cell): it is
    the costliest part of validation, and most cells have nothing to trim. The result is
    the same."""
    # NULLIF inside the branch: DuckDB expands NULLIF(a, '') to CASE WHEN a = '' THEN NULL
    # ELSE a END, evaluating `a` twice; a cell left alone is not empty
    trimmed = raw.re_replace(r"^\s+|\s+$", "").nullif("")
    edge = (raw < "!") | (raw.right(1) < "!")
    return ibis.cases((edge, trimmed), else_=raw)


def _list_pattern(values: tuple[str, ...]) -> str:
    alt = "|".join(values)
    return rf"^\s*({alt})\s*(;\s*({alt})\s*)*$"


def typed_value(col: Column, v: ir.StringValue) -> ir.Value:
    """The value of the cleaned cell `v` under `col`'s contract type (null where it does not
    convert: the checks say why)."""
    t = col.type
    if t in ("id", "str", "ref", "period", "enum"):
        return v
    if t == "country":
        return v.upper()
    if t == "date":
        return v.try_cast("date")
    if t == "year":
        return v.try_cast("int64")
    if t == "decimal":
        return v.try_cast("float64")
    if t == "bool":
        low = v.lower()
        return ibis.cases((low.isin(TRUE_WORDS), True), (low.isin(FALSE_WORDS), False),
                          else_=ibis.null("boolean"))
    if t == "list":
        return v.re_replace(r"\s*;\s*", ";")
    if t == "hs":
        return v.re_replace(r"[.\s]", "")
    raise ValueError(f"unknown column type {t!r}")  # pragma: no cover - contract.yaml is ours


def column_checks(
    col: Column, raw: ir.StringValue, parents: dict[str, ir.Column],
    cleaned: ir.StringValue | None = None, typed: ir.Value | None = None,
) -> tuple[ir.Value, list[Check]]:
    """The typed value of `raw` under `col`'s contract type, and the checks it must pass.
    `cleaned` (`clean(raw)`) and `typed` (`typed_value` of it): where the caller has computed
    them already, once per cell (the checks then read them instead of converting the cell
    once per check)."""
    v = clean(raw) if cleaned is None else cleaned
    if typed is None:
        typed = typed_value(col, v)
    present = v.notnull()
    checks: list[Check] = []
    if col.required:
        checks.append(Check(col.name, "missing value (required)", v.isnull()))
    t = col.type
    if t == "ref":
        target = parents.get(col.ref or "")
        if target is not None:
            what = SINGULAR.get(col.ref_table or "", col.ref_table)
            reason = f"unknown {what} (not in {col.ref_table})"
            if col.soft:
                reason += "; row kept"
            checks.append(Check(col.name, reason, present & ~v.isin(target), warning=col.soft))
    elif t == "country":
        checks.append(
            Check(col.name, "not an ISO 3166-1 alpha-2 country code",
                  present & ~typed.isin(_iso_table().code))
        )
    elif t == "date":
        bad = present & ((v.length() != 10) | typed.isnull())
        checks.append(Check(col.name, "not a date (expected YYYY-MM-DD)", bad))
        first, last = date_window(col.years_ahead)
        checks.append(Check(
            col.name, f"date outside the plausible window {first.isoformat()} to "
            f"{last.isoformat()}", present & ~bad & ((typed < first) | (typed > last))))
    elif t == "period":
        checks.append(Check(col.name, "not a period (expected YYYY or YYYY-MM)",
                            present & ~v.re_search(PERIOD_RE)))
    elif t == "year":
        checks.append(Check(col.name, "not a year (expected YYYY)",
                            present & ~v.re_search(YEAR_RE)))
    elif t == "decimal":
        checks.append(Check(col.name, "not a number", present & typed.isnull()))
        # NaN, inf and 1e308 cast fine but break every sum downstream
        finite = (typed.notnull() & ~typed.isnan() & ~typed.isinf()).fill_null(False)
        checks.append(Check(col.name, f"not a finite number within +/-{MAX_ABS:g} (NaN, "
                            "infinity and overflowing values break every sum)",
                            typed.notnull() & (~finite | (typed.abs() > MAX_ABS))))
        checks.extend(_range_checks(col, typed, finite))
    elif t == "bool":
        checks.append(Check(col.name, "not a boolean (true/false)",
                            present & ~v.lower().isin(TRUE_WORDS + FALSE_WORDS)))
    elif t == "enum":
        checks.append(Check(col.name, f"not one of: {', '.join(col.values)}",
                            present & ~v.isin(col.values)))
    elif t == "list":
        if col.values:
            checks.append(Check(col.name, f"list items must be among: {', '.join(col.values)}",
                                present & ~v.re_search(_list_pattern(col.values))))
    elif t == "hs":
        checks.append(Check(col.name, "not an HS code (6 to 10 digits)",
                            present & ~typed.re_search(HS_RE)))
    return typed, checks


def date_window(years_ahead: int | None = None) -> tuple[_dt.date, _dt.date]:
    """The plausible dates: from 1990-01-01 to `years_ahead` (default 1) years after today."""
    today = _dt.date.today()
    ahead = YEARS_AHEAD if years_ahead is None else years_ahead
    try:
        last = today.replace(year=today.year + ahead)
    except ValueError:  # 29 February
        last = today.replace(year=today.year + ahead, day=28)
    return EARLIEST_DATE, last


def _range_checks(col: Column, typed: ir.NumericValue,
                  finite: ir.BooleanValue) -> list[Check]:
    out = []
    if col.min_exclusive is not None:
        out.append(Check(col.name, f"must be > {col.min_exclusive:g}",
                         finite & (typed <= col.min_exclusive)))
    if col.min is not None:
        out.append(Check(col.name, f"must be >= {col.min:g}", finite & (typed < col.min)))
    if col.max is not None:
        out.append(Check(col.name, f"must be <= {col.max:g}", finite & (typed > col.max)))
    return out
