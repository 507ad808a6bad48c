"""Canonical codec: round trips, strictness, golden bytes.

Suite index: golden vectors; round trip of arbitrary canonical values; random and mutated bytes only
ever raise DecodeError; records decode strictly into their types; size limits.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.codec import MAX_SIZE, DecodeError, Record, decode, decode_union, encode, tags_unique

GOLDEN = Path(__file__).parent.parent / "golden" / "codec.json"

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
scalars = st.none() | st.booleans() | ints | st.binary(max_size=64) | st.text(max_size=32)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5).map(tuple) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@dataclass(frozen=True)
class Inner(Record):
    TAG = 1
    name: str
    blob: bytes


@dataclass(frozen=True)
class Outer(Record):
    TAG = 2
    MAX_LEN = {"items": 4, "note": 10}
    height: int
    ok: bool
    items: tuple[Inner, ...]
    note: str | None
    extra: dict[str, int]


records = st.builds(
    Outer,
    height=ints,
    ok=st.booleans(),
    items=st.lists(st.builds(Inner, name=st.text(max_size=8), blob=st.binary(max_size=8)), max_size=4).map(tuple),
    note=st.none() | st.text(max_size=10),
    extra=st.dictionaries(st.text(max_size=4), ints, max_size=3),
)


def test_golden_vectors() -> None:
    cases = json.loads(GOLDEN.read_text())
    for case in cases:
        value = _from_json(case["value"])
        assert encode(value).hex() == case["hex"], case["name"]
        assert decode(bytes.fromhex(case["hex"])) == _tuplify(value), case["name"]


def _from_json(v: object) -> object:
    if isinstance(v, dict) and set(v) == {"bytes"}:
        return bytes.fromhex(str(v["bytes"]))
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    return v


def _tuplify(v: object) -> object:
    if isinstance(v, list):
        return tuple(_tuplify(x) for x in v)
    if isinstance(v, dict):
        return {k: _tuplify(x) for k, x in v.items()}
    return v


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(records)
def test_record_round_trip(rec: Outer) -> None:
    assert Outer.decode(rec.encode()) == rec
    assert decode_union(rec.encode(), [Inner, Outer]) == rec


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)
    with contextlib.suppress(DecodeError):
        Outer.decode(data)


@settings(max_examples=500)
@given(records, st.data())
def test_mutated_record_bytes_raise_only_decode_error(rec: Outer, data: st.DataObject) -> None:
    raw = bytearray(rec.encode())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            out = Outer.decode(candidate)
        except DecodeError:
            continue
        assert isinstance(out, Outer)
        assert out.encode() == candidate


def test_non_canonical_forms_are_rejected() -> None:
    with pytest.raises(DecodeError):
        decode(msgpack.packb(1.5))
    with pytest.raises(DecodeError):
        decode(b"\x82\xa1b\x01\xa1a\x02")  # keys out of order
    with pytest.raises(DecodeError):
        decode(b"\xcd\x00\x01")  # 1 in a 16-bit form
    with pytest.raises(DecodeError):
        decode(msgpack.packb({1: 2}))  # non-string key
    with pytest.raises(DecodeError):
        decode(b"")
    with pytest.raises(DecodeError):
        decode(b"\x91" * 100 + b"\xc0")  # too deep


def test_size_limit() -> None:
    big = encode(b"x" * 100)
    with pytest.raises(DecodeError):
        decode(big, max_size=50)
    assert MAX_SIZE >= 1 << 20


def test_record_limits_and_types() -> None:
    ok = Outer(1, True, (), None, {})
    assert Outer.decode(ok.encode()) == ok
    with pytest.raises(DecodeError):
        Outer.decode(encode([2, 1, True, [], "x" * 11, {}]))  # note too long
    with pytest.raises(DecodeError):
        Outer.decode(encode([2, 1, True, [[1, "a", b""]] * 5, None, {}]))  # too many items
    with pytest.raises(DecodeError):
        Outer.decode(encode([2, True, True, [], None, {}]))  # bool is not an int
    with pytest.raises(DecodeError):
        Outer.decode(encode([3, 1, True, [], None, {}]))  # wrong tag
    with pytest.raises(DecodeError):
        Outer.decode(encode([2, 1, True, [], None]))  # missing field


def test_floats_and_out_of_range_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        encode(1.0)
    with pytest.raises(ValueError):
        encode(2**64)
    assert tags_unique([Inner, Outer])
