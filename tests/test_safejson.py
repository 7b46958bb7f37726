"""`rareflow.safejson`: bounded depth and size, measured without recursion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rareflow import safejson
from rareflow.errors import InputLimitError, UnreadableFileError

DEEP = "[" * 100_000 + "]" * 100_000


def test_depth_is_counted_without_recursion() -> None:
    assert safejson.depth(DEEP) == 100_000
    assert safejson.depth(DEEP.encode()) == 100_000
    assert safejson.depth(b"1") == 0
    assert safejson.depth('{"a": [1, {"b": []}]}') == 4


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[{{{{" * 100, "b": 'x\\"[[[["'})
    assert safejson.depth(text) == 1
    assert safejson.depth(text.encode()) == 1
    assert safejson.depth('["unterminated [[[[[[') == 1  # what follows the quote is a string


def test_deep_json_is_refused_with_a_reason() -> None:
    with pytest.raises(InputLimitError) as err:
        safejson.loads(DEEP, source="deep.json")
    assert err.value.message == "cannot read deep.json: nested deeper than 200 levels"
    assert err.value.exit_code == 2
    assert isinstance(err.value, UnreadableFileError)
    ok = "[" * 200 + "]" * 200
    assert safejson.loads(ok) is not None
    with pytest.raises(InputLimitError):
        safejson.loads("[" * 201 + "]" * 201)


def test_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'"' + b"x" * 2000 + b'"')
    with pytest.raises(InputLimitError, match="larger than 1 KB"):
        safejson.load_file(big, max_bytes=1024)
    with pytest.raises(InputLimitError, match="larger than 1 KB"):
        safejson.loads("é" * 600, max_bytes=1024)  # 1200 bytes in UTF-8
    assert safejson.load_file(big) == "x" * 2000
    assert safejson.MAX_BYTES == 20 * 1024 * 1024 and safejson.MAX_DEPTH == 200


def test_load_file_names_every_fault(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="missing.json: certificate not found"):
        safejson.load_file(tmp_path / "missing.json", what="certificate")
    with pytest.raises(UnreadableFileError, match="is a folder"):
        safejson.load_file(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\x00")
    with pytest.raises(UnreadableFileError, match="not UTF-8"):
        safejson.load_file(bad)
    bad.write_text("{nope")
    with pytest.raises(UnreadableFileError, match="not JSON"):
        safejson.load_file(bad)
    bad.write_text("\ufeff{\"a\": 1}")
    assert safejson.load_file(bad) == {"a": 1}
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    with pytest.raises(InputLimitError, match="deep.json: nested deeper than 200 levels"):
        safejson.load_file(deep)
