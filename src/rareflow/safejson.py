"""JSON from outside, read with limits: a bounded document size and a bounded nesting depth.

Python's `json` (and most code that walks the parsed document) recurses once per level of
nesting, so a document nested 100,000 deep raises `RecursionError` instead of a message.
Here the depth is measured first, without recursion and without parsing (strings skipped,
brackets counted), and the size before the bytes are read: a document over either limit is
refused with `InputLimitError` (an `UnreadableFileError`: exit status 2 where a command
documents 2 for unreadable input) naming the file and the limit.

    from rareflow import safejson
    doc = safejson.load_file(path, what="certificate")     # UnreadableFileError on any fault
    doc = safejson.loads(data, source=str(path))           # limits; JSON errors propagate
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from rareflow.errors import InputLimitError, UnreadableFileError

MAX_DEPTH = 200
MAX_BYTES = 20 * 1024 * 1024

# A complete JSON string (escapes included), as bytes and as text; the unrolled form
# matches in linear time.
_STRING_B = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_S = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = frozenset(b"[{")
_KEEP = b"[]{}"
_DROP = bytes(b for b in range(256) if b not in _KEEP)


def _size_text(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def depth(data: bytes | str) -> int:
    """The deepest nesting of arrays and objects in `data` (0 for a scalar), counted without
    parsing or recursion: complete strings are skipped, everything after an unterminated
    string is inside it. Invalid JSON gets a number too (its parser will refuse it)."""
    if isinstance(data, str):
        stripped = _STRING_S.sub("", data)
        quote = stripped.find('"')
        if quote >= 0:
            stripped = stripped[:quote]
        raw = stripped.encode("ascii", "ignore")
    else:
        raw = _STRING_B.sub(b"", data)
        quote = raw.find(b'"')
        if quote >= 0:
            raw = raw[:quote]
    brackets = raw.translate(None, _DROP)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int64)
    return max(int(np.cumsum(steps).max()), 0)


def check(data: bytes | str, *, source: str = "(input)", max_depth: int = MAX_DEPTH,
          max_bytes: int = MAX_BYTES) -> None:
    """Raise InputLimitError when `data` is larger than `max_bytes` (text: its UTF-8 length,
    estimated from characters first) or nested deeper than `max_depth`."""
    size = len(data)
    if isinstance(data, str) and size <= max_bytes < size * 4:
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InputLimitError(source, f"larger than {_size_text(max_bytes)}")
    found = depth(data)
    if found > max_depth:
        raise InputLimitError(source, f"nested deeper than {max_depth} levels")


def loads(data: bytes | str, *, source: str = "(input)", max_depth: int = MAX_DEPTH,
          max_bytes: int = MAX_BYTES, **json_options: Any) -> Any:
    """`json.loads(data, **json_options)` after `check`. Raises InputLimitError over a
    limit; a document that is not JSON raises what `json.loads` raises (ValueError:
    JSONDecodeError, UnicodeDecodeError), for the caller to word."""
    check(data, source=source, max_depth=max_depth, max_bytes=max_bytes)
    return json.loads(data, **json_options)


def read_bytes(path: str | Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of `path`, refused with InputLimitError when larger than `max_bytes` (never
    reading more than `max_bytes + 1`, so a device or a pipe cannot fill the memory).
    OSError propagates (missing file, a folder, no permission)."""
    path = Path(path)
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputLimitError(str(path), f"larger than {_size_text(max_bytes)}")
    return data


def load_file(path: str | Path, *, what: str = "file", max_depth: int = MAX_DEPTH,
              max_bytes: int = MAX_BYTES, **json_options: Any) -> Any:
    """The parsed JSON of `path`. Every fault is an UnreadableFileError naming the file:
    missing or unreadable (`what` not found / the OS reason), over a limit
    (InputLimitError), not UTF-8, not JSON."""
    path = Path(path)
    try:
        data = read_bytes(path, max_bytes=max_bytes)
    except FileNotFoundError:
        raise UnreadableFileError(str(path), f"{what} not found") from None
    except IsADirectoryError:
        raise UnreadableFileError(str(path), f"{what} is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFileError(str(path), f"{what}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(str(path), f"{what} is not UTF-8 text ({exc})") from None
    try:
        return loads(text, source=str(path), max_depth=max_depth, max_bytes=max_bytes,
                     **json_options)
    except json.JSONDecodeError as exc:
        raise UnreadableFileError(str(path), f"{what} is not JSON ({exc})") from None
