"""The fast canonical form (orjson, `eddsa_jcs.canonicalize`) is byte for byte the reference
RFC 8785 form (`rfc8785.dumps`), or the value is left to the reference, which then fails the
same way: on the W3C vectors, on every character, on keys that sort differently in UTF-16
than by code point, at the integer bounds, for Python values that are not JSON, and on
property-generated JSON values (hypothesis: non-ASCII and lone-surrogate strings, floats
with NaN and infinities, integers of any size, nested objects and arrays)."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import uuid
from collections import OrderedDict, UserDict

import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TESTDATA
from rareflow.vc import eddsa_jcs as jcs

VECTORS = TESTDATA / "w3c-vc-di-eddsa" / "TestVectors"
JCS = VECTORS / "eddsa-jcs-2022"

EXAMPLES = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _outcome(canonicalize, value: object) -> tuple:
    """What a canonicalisation gives: its bytes, or the class and text of its error."""
    try:
        return ("bytes", canonicalize(value))
    except Exception as exc:  # the reference's own error, whichever it is
        return ("error", type(exc), str(exc))


def _same(value: object) -> None:
    assert _outcome(jcs.canonicalize, value) == _outcome(rfc8785.dumps, value), value


# --- strategies ----------------------------------------------------------------------------

# characters where the two could part: escapes, DEL, the JavaScript line separators, a BOM,
# lone surrogates, the edges of the BMP's private-use area and of the planes
SPECIAL = ["\x00", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", " ", '"', "\\", "/",
           "\x7f", "\x80", "é", "€", "\u2028", "\u2029", "\ufeff", "\ud7ff", "\ud800",
           "\udbff", "\udc00", "\udfff", "\ue000", "\uf8ff", "\ufffd", "\uffff",
           "\U00010000", "😀", "\U0010ffff"]
CHARS = st.one_of(st.characters(), st.sampled_from(SPECIAL))
NO_SURROGATE = st.one_of(st.characters(exclude_categories=["Cs"]),
                         st.sampled_from([c for c in SPECIAL if not 0xD800 <= ord(c) < 0xE000]))
TEXT = st.text(CHARS, max_size=6)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "b", "é", "\ue000", "\uffff", "😀",
                                        "\U00010000", "\ud83d", "a😀", "a\ue000"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                    st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2),
                    st.floats(), st.sampled_from([0.0, -0.0, 1.0, 1e21, 1e-7, 5e-324]), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=4), max_leaves=24)
# what a JSON parser gives without floats: the values the fast path takes
PLAIN_TEXT = st.text(NO_SURROGATE, max_size=6)
PLAIN_KEYS = st.one_of(PLAIN_TEXT, st.sampled_from(["é", "\ue000", "\uffff", "😀",
                                                    "\U00010000", "a😀", "a\ue000"]))
PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(),
              st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), PLAIN_TEXT),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(PLAIN_KEYS, inner, max_size=4),
    max_leaves=24)


# --- properties ----------------------------------------------------------------------------

@EXAMPLES
@given(VALUES)
def test_canonicalize_is_the_reference_on_any_json_value(value: object) -> None:
    _same(value)


@EXAMPLES
@given(PLAIN)
def test_plain_values_take_the_fast_path_and_match(value: object) -> None:
    """Values without floats, with integers in range and no lone surrogates: orjson's
    output is used unless a key has a character beyond U+FFFF, and is the reference's."""
    assert jcs._orjson_safe(value)
    fast = orjson.dumps(value, option=jcs._ORJSON_JCS)
    assert jcs.canonicalize(value) == rfc8785.dumps(value)
    if fast.isascii() or jcs._keys_in_bmp(value):
        assert fast == rfc8785.dumps(value)


@EXAMPLES
@given(VALUES)
def test_the_plain_path_is_the_reference_whenever_the_walk_allows_it(value: object) -> None:
    """`_canonical_plain` (taken without a walk for a JSON text parsed without floats) on
    any value the walk accepts, integers beyond 2^53 and lone surrogates included."""
    if jcs._orjson_safe(value):
        assert _outcome(jcs._canonical_plain, value) == _outcome(rfc8785.dumps, value)


@EXAMPLES
@given(st.dictionaries(KEYS, st.integers(0, 9), min_size=2, max_size=8))
def test_keys_sort_by_utf16_code_units(value: dict) -> None:
    _same(value)
    if all(not 0xD800 <= ord(c) < 0xE000 for k in value for c in k):
        expected = sorted(value, key=lambda k: k.encode("utf-16-be"))
        assert list(json.loads(jcs.canonicalize(value))) == expected


@EXAMPLES
@given(st.text(CHARS, max_size=12).map(lambda t: json.dumps({"v": t, t: [t]})))
def test_parsed_json_text(text: str) -> None:
    _same(json.loads(text))


# --- cases ---------------------------------------------------------------------------------

def test_every_character_is_escaped_alike() -> None:
    """Every code point outside the surrogates, in runs, then each one below U+0080 alone
    (the escapes): orjson writes it exactly as RFC 8785 does."""
    points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(points), 4096):
        run = "".join(map(chr, points[start:start + 4096]))
        assert orjson.dumps(run) == rfc8785.dumps(run)
        assert jcs.canonicalize({run[:64]: run}) == rfc8785.dumps({run[:64]: run})
    for c in map(chr, range(0x80)):
        assert orjson.dumps(c) == rfc8785.dumps(c) == jcs.canonicalize(c)


def test_lone_surrogates_fail_as_the_reference_fails() -> None:
    for value in ("\ud800", {"\udc00": 1}, ["a\udfffb"], {"k": {"j": "\ud83d"}}):
        outcome = _outcome(jcs.canonicalize, value)
        assert outcome[0] == "error"
        assert outcome == _outcome(rfc8785.dumps, value)


def test_key_order_across_the_private_use_area_and_the_planes() -> None:
    value = {"\ue000": 1, "\U0001f600": 2, "b": 3, "€": 4, "\r": 5, "1": 6, "\uffff": 7,
             "\U00010000": 8, "é": 9, "": 10}
    _same(value)
    assert list(json.loads(jcs.canonicalize(value))) == [
        "", "\r", "1", "b", "é", "€", "\U00010000", "😀", "\ue000", "\uffff"]
    bmp = {"\ue000": 1, "\uffff": 2, "é": 3, "z": 4}  # non-ASCII, no pair: orjson's order
    assert jcs._keys_in_bmp(bmp)
    assert jcs.canonicalize(bmp) == orjson.dumps(bmp, option=jcs._ORJSON_JCS)
    assert not jcs._keys_in_bmp({"x": [{"\U00010000": 1}]})


@pytest.mark.parametrize("n", [2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 2**63, -(2**64), 0])
def test_integer_bounds(n: int) -> None:
    _same(n)
    _same({"n": [n]})
    if abs(n) < 2**53:
        assert jcs._orjson_safe(n) and jcs.canonicalize(n) == str(n).encode()
    else:
        with pytest.raises(rfc8785.IntegerDomainError):
            jcs.canonicalize({"n": n})


class _Str(str):
    pass


class _Int(int):
    pass


class _Float(float):
    pass


class _Colour(enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    ONE = 1


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value, "x"]
    return value


@pytest.mark.parametrize("value", [
    ("a", 1), {"t": ("a", [1])}, _Str("s"), {"k": _Str("v")}, {_Str("k"): 1}, _Int(3),
    {"k": _Int(3)}, _Float(1.5), _Colour.RED, {"k": _Colour.RED}, _Level.ONE, [_Level.ONE],
    uuid.UUID(int=7), {"u": uuid.UUID(int=7)}, dt.date(2025, 1, 2), {"d": dt.datetime(2025, 1, 2)},
    OrderedDict(b=1, a=2), UserDict(a=1), {"o": OrderedDict(b=1, a=2)}, b"bytes", {"s": {1, 2}},
    orjson.Fragment(b"[1]"), {"f": orjson.Fragment(b"1.0")}, {1: "int key"}, {None: 1},
    {("t",): 1}, float("nan"), {"x": float("inf")}, -0.0, 1e21, 1.0, _nested(260),
    {"deep": _nested(240)},
], ids=lambda v: re.sub(r" at 0x[0-9a-f]+", "", repr(v))[:60])  # the same on every worker
def test_python_values_that_are_not_plain_json(value: object) -> None:
    """Subclasses, enums, UUIDs, dates, mappings that are not dicts, bytes, sets, orjson
    fragments, keys that are not strings, floats, nesting beyond the walk's bound: each is
    written, or refused, exactly as the reference writes or refuses it."""
    _same(value)


def _vector_documents() -> list:
    docs = []
    for path in sorted(VECTORS.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        docs.append(data)
        if isinstance(data, dict):
            docs.append(jcs.unsecured_document(data))
            docs.extend(p for p in jcs.proofs(data) if isinstance(p, dict))
    return docs


@pytest.mark.parametrize("value", _vector_documents(), ids=lambda v: str(len(str(v))))
def test_w3c_vector_documents(value: object) -> None:
    """Every JSON document of the W3C test vectors (and its proofs and unsecured form):
    the fast path takes it and writes the reference's bytes."""
    assert jcs._orjson_safe(value)
    assert jcs.canonicalize(value) == jcs._canonical_plain(value) == rfc8785.dumps(value)


def test_w3c_canonical_forms_through_the_fast_path() -> None:
    unsigned = json.loads((VECTORS / "unsigned.json").read_text(encoding="utf-8"))
    config = json.loads((JCS / "proofConfigJCS.json").read_text(encoding="utf-8"))
    canon_doc = (JCS / "canonDocJCS.txt").read_bytes().strip()
    canon_config = (JCS / "proofCanonJCS.txt").read_bytes().strip()
    assert jcs._orjson_safe(unsigned) and jcs._orjson_safe(config)
    assert jcs.canonical_document(unsigned) == canon_doc == rfc8785.dumps(unsigned)
    assert jcs.canonical_proof_configuration(config) == canon_config == rfc8785.dumps(config)
    signed = json.loads((JCS / "signedJCS.json").read_text(encoding="utf-8"))
    for plain in (False, True):
        task = jcs._prepare(signed, signed["proof"], jcs.public_key(
            signed["proof"]["verificationMethod"].split("#")[1]), {}, plain, False)
        assert task[2].hex() == (JCS / "combinedHashJCS.txt").read_text().strip()
        assert jcs.signature_problems([task]) == [None]
