"""Excerpts of bad input: short and escaped, so that a reject never carries a whole file, a
terminal escape sequence or a line break into `rejects.csv`, the CLI or the report."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

EXCERPT_CHARS = 80  # an excerpt is at most this long, its escapes and the ellipsis included
REASON_CHARS = 400
ELLIPSIS = "\u2026"
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder text on screen
_SPECIAL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_SPECIAL.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x00: "\\0"})
_SPECIAL.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                              0x200E, 0x200F, 0xFEFF]})
_TABLE = {c: v for c, v in _SPECIAL.items()}


def escape(text: str) -> str:
    """Control characters as visible escapes (`\\n`, `\\x1b`, `\\u202e`)."""
    return text.translate(_TABLE)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str | None:
    """A short, escaped excerpt of `value` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = escape(str(value)[: limit * 2])
    if len(text) > limit or len(str(value)) > limit * 2:
        return text[: limit - 1] + ELLIPSIS
    return text


def excerpt_sql(column: str, limit: int = EXCERPT_CHARS) -> str:
    """`excerpt` as a DuckDB SQL expression over the (quoted) `column`."""
    head = f"substr({column}, 1, {limit * 2})"
    for code, esc in _SPECIAL.items():
        head = f"replace({head}, chr({code}), '{esc}')"
    return (f"CASE WHEN length({column}) > {limit * 2} OR length({head}) > {limit} "
            f"THEN substr({head}, 1, {limit - 1}) || '{ELLIPSIS}' ELSE {head} END")


def excerpt_expr(value: ir.StringValue, limit: int = EXCERPT_CHARS) -> ir.StringValue:
    """`excerpt` inside the engine (one expression, no Python loop over rows)."""
    head = value.substr(0, limit * 2)
    for code, esc in _SPECIAL.items():
        if code:  # NUL cannot stand in a SQL literal; the readers never pass one through
            head = head.replace(chr(code), esc)
    long = (head.length() > limit) | (value.length() > limit * 2)
    return ibis.cases((long, head.substr(0, limit - 1).concat(ELLIPSIS)), else_=head)
