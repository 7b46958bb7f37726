"""Reading certificates in a batch (`rareflow.vc.batch`): the orjson fast path gives the very
document `json` gives (same values, same types, same key order) or steps aside, and the
file reader gives safejson's bytes and errors; so `_parse` says what it said before, for
property-generated JSON texts (non-ASCII, lone surrogates, floats, integers of any size,
duplicate keys) and for mutated ones."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rareflow import safejson
from rareflow.errors import InputLimitError
from rareflow.vc import batch
from rareflow.vc.batch import Unreadable

EXAMPLES = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

SPECIAL = ["\x00", "\x1f", '"', "\\", "\x7f", "é", "\u2028", "\ufeff", "\ud800", "\udfff",
           "\ue000", "\uffff", "\U00010000", "😀"]
TEXT = st.text(st.one_of(st.characters(), st.sampled_from(SPECIAL)), max_size=6)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                    st.integers(min_value=-(2**64), max_value=2**64), st.floats(), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)
DOCUMENTS = st.dictionaries(TEXT, VALUES, max_size=5)


def _typed(value: object) -> object:
    """`value` with the type of every part and the order of every object's keys spelled
    out, so that equal means the same document, not merely == (1 == 1.0 == True)."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def _standard(data: str | bytes) -> object:
    """What `_parse` read before the fast path: decode, then `_loads` (json), or the error."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return _typed(batch._loads(text, "(certificate)"))
    except Exception as exc:
        return ("error", type(exc).__name__)


def _check(data: str | bytes) -> None:
    doc = batch._loads_plain(data)
    if doc is not None:
        assert _typed(doc) == _standard(data)
        assert type(doc) is dict


def _encodings(text: str) -> list[str | bytes]:
    out: list[str | bytes] = [text]
    try:
        out.append(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: what a file would hold
        out.append(text.encode("utf-8", "surrogatepass"))
    return out


@EXAMPLES
@given(DOCUMENTS, st.booleans(), st.sampled_from([None, 2]))
def test_fast_parse_is_json_or_steps_aside(doc: dict, ascii_only: bool, indent) -> None:
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=indent)
    for data in _encodings(text):
        _check(data)
    plain = batch._loads_plain(text)
    has_float = any(isinstance(v, float) or (type(v) is int and not -(2**63) <= v < 2**64)
                    for v in _leaves(doc))
    if plain is not None:
        assert not has_float  # a float (or an integer orjson reads as one) goes to json


def _leaves(value: object) -> list:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


JSONISH = list('{}[]":,\\ 0123456789.eE+-truefalsn\t\n\x00') + ["\\u", "\\ud800", "1e400",
                                                                  "NaN", "é", "\ufeff"]


@EXAMPLES
@given(DOCUMENTS, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2),
                                     st.sampled_from(JSONISH)), min_size=1, max_size=4))
def test_fast_parse_of_mutated_texts(doc: dict, edits: list) -> None:
    """Texts broken or bent at random (a character inserted, deleted or replaced): when
    orjson reads one, json reads the same document."""
    text = json.dumps(doc, ensure_ascii=False)
    for at, kind, piece in edits:
        at %= len(text) + 1
        if kind == 0:
            text = text[:at] + piece + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    for data in _encodings(text):
        _check(data)


@pytest.mark.parametrize("data", [
    '{"a": 1, "a": 2, "b": {"a": 3}, "b": 4}', '{"n": 18446744073709551615}',
    '{"n": 18446744073709551616}', '{"n": -9223372036854775809}', '{"n": 1.0}', '{"n": -0}',
    '{"n": 1e400}', '{"n": NaN}', '{"n": -Infinity}', '{"s": "\\ud800"}', '{"s": "\\ud83d\\ude00"}',
    b'\xef\xbb\xbf{"bom": true}', b'{"bad": "\xff"}', b'{"cesu": "\xed\xa0\x80"}',
    '{"ctl": "a\x01b"}', '{"del": "a\x7fb"}', '[1, 2]', '"text"', '{}', ' {} ', '{}x',
    '{"a": [' * 100 + ']}' * 100, '[' * 201 + ']' * 201, '{"é": "😀", "\ue000": null}',
], ids=repr)
def test_parse_cases(data: str | bytes) -> None:
    _check(data)
    for item in _encodings(data) if isinstance(data, str) else [data]:
        fast = batch._parse(item)[0]
        standard = _parse_standard(item)
        assert _plain(fast) == _plain(standard)


def _parse_standard(item: object) -> object:
    saved = batch._loads_plain
    batch._loads_plain = lambda data: None  # the path every item took before
    try:
        return batch._parse(item)[0]
    finally:
        batch._loads_plain = saved


def _plain(result: object) -> object:
    return ("unreadable", result.message) if isinstance(result, Unreadable) else _typed(result)


def test_plain_flag_only_for_float_free_json(tmp_path) -> None:
    assert batch._parse('{"a": 1}') == ({"a": 1}, True)
    assert batch._parse('{"a": 1.5}') == ({"a": 1.5}, False)
    assert batch._parse({"a": 1}) == ({"a": 1}, False)  # given as an object: not parsed
    path = tmp_path / "c.json"
    path.write_text('{"a": "é"}', encoding="utf-8")
    assert batch._parse(path) == ({"a": "é"}, True)
    assert batch._parse(None, str(path)) == ({"a": "é"}, True)


# --- the file reader -----------------------------------------------------------------------

def _read_outcome(read, path) -> tuple:
    try:
        return ("bytes", read(path))
    except InputLimitError as exc:
        return ("limit", exc.message)
    except OSError as exc:
        return ("oserror", type(exc), exc.strerror)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 65537, 300_000])
def test_read_gives_safejson_bytes(tmp_path, size: int) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(bytes(random.Random(size).randrange(256) for _ in range(size)))
    assert _read_outcome(batch._read, str(path)) == _read_outcome(safejson.read_bytes, path)


def test_read_errors_as_safejson(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "missing.json"
    for path in (missing, tmp_path):
        assert _read_outcome(batch._read, str(path)) == _read_outcome(safejson.read_bytes, path)
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"1," * 600 + b"1]")
    monkeypatch.setattr(safejson, "MAX_BYTES", 1000)
    expected = _read_outcome(lambda p: safejson.read_bytes(p, max_bytes=1000), big)
    assert expected[0] == "limit"
    assert _read_outcome(batch._read, str(big)) == expected
