"""The careful CSV reader: physical line by physical line, for the files the engine's fast
reader fails on (an unclosed quote, mixed line endings, a huge field, a cell holding a line
break, any malformed row).

Each bad line is a reject with its true line number (1 = the header line); every other record
is kept with the line it starts on. Records are split as the contract says: comma, double
quote, a doubled quote inside a quoted cell; CRLF, LF and CR line ends may be mixed."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rareflow.errors import UnreadableFileError
from rareflow.readers.excerpt import excerpt

MAX_LINE_BYTES = 2_000_000  # one record; beyond it a line is a reject, not a reason to stop
MAX_RECORD_LINES = 200  # a quoted cell may hold line breaks, but not this many
BOM = b"\xef\xbb\xbf"


@dataclass
class CsvLines:
    """The records of a CSV file, as strings, with the line each starts on."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


def _split(text: str) -> list[str] | None:
    """The cells of one record, or None if its quoting is broken."""
    try:
        rows = list(csv.reader([text], strict=True, doublequote=True, quotechar='"',
                               delimiter=","))
    except csv.Error:
        return None
    if len(rows) != 1:
        return None
    return rows[0]


def _physical_lines(data: bytes) -> list[bytes]:
    """Lines without their ends; CRLF, LF and a lone CR all end a line."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def header_names(cells: list[str]) -> list[str]:
    """Column names as the engine names them: trimmed, blanks and repeats made unique."""
    names: list[str] = []
    for i, c in enumerate(cells, start=1):
        name = c.strip() or f"column{i}"
        base, n = name, 1
        while name.lower() in {x.lower() for x in names}:  # the engine ignores case
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def read_csv_lines(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> CsvLines:
    """Read `path` line by line; see the module's docstring."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(str(path), exc.strerror or str(exc)) from exc
    if data.startswith(BOM):
        data = data[len(BOM):]
    lines = _physical_lines(data)
    if not lines or not lines[0].strip():
        raise UnreadableFileError(str(path), "no header line (the first line of a CSV file "
                                  "names its columns)")
    try:
        head_text = lines[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(str(path), f"the header line is not UTF-8 ({exc.reason} at "
                                  f"byte {exc.start})") from exc
    head = _split(head_text) if len(lines[0]) <= max_line_bytes else None
    if head is None or "\x00" in head_text:
        raise UnreadableFileError(str(path), "the header line is not a CSV record: "
                                  f"{excerpt(head_text)}")
    out = CsvLines(header=header_names(head))
    width = len(head)

    def reject(line: int, reason: str, value: object) -> None:
        out.rejects.append({"line": line, "column": "", "value": excerpt(value),
                            "reason": f"malformed CSV row ({reason}); row not loaded"})

    i = 1
    while i < len(lines):
        raw = lines[i]
        number = i + 1
        if not raw.strip():
            i += 1
            continue
        if len(raw) > max_line_bytes:
            reject(number, f"line of {len(raw):,} bytes, beyond the limit of "
                   f"{max_line_bytes:,}", raw[:200])
            i += 1
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reject(number, f"not UTF-8: {exc.reason} at byte {exc.start}", raw[:200])
            i += 1
            continue
        if "\x00" in text:
            reject(number, "a NUL byte: binary data, not text", raw[:200])
            i += 1
            continue
        used = 1
        if text.count('"') % 2:  # a quoted cell that goes on over the next lines
            joined, size, j, quotes = text, len(raw), i + 1, text.count('"')
            while quotes % 2 and j < len(lines) and j - i < MAX_RECORD_LINES:
                size += len(lines[j]) + 1
                if size > max_line_bytes:
                    break
                try:
                    more = lines[j].decode("utf-8")
                except UnicodeDecodeError:
                    break
                joined += "\n" + more
                quotes += more.count('"')
                j += 1
            cells = _split(joined) if not quotes % 2 else None
            if cells is None or len(cells) != width:
                reject(number, "unclosed quote", text)
                i += 1
                continue
            used = j - i
        else:
            cells = _split(text)
            if cells is None:
                reject(number, "bad quoting: a quote inside an unquoted cell, or text after "
                       "a closing quote", text)
                i += 1
                continue
        if len(cells) != width:
            reject(number, f"expected {width} fields, found {len(cells)}", text)
            i += 1
            continue
        out.rows.append(cells)
        out.lines.append(number)
        i += used
    return out
