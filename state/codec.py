"""Canonical msgpack: one byte string per value, so hashes and signatures agree across nodes.

Why a wrapper around msgpack: msgpack alone accepts many encodings of one value (ints in wider formats
than needed, maps in any key order, floats). A hash or a signature over such bytes would differ between
two honest nodes. `encode` emits the one canonical form; `decode` accepts only that form, with size limits,
and turns every malformed input into `DecodeError` and nothing else (a peer's garbage must never surface as
a KeyError or a RecursionError deep inside the node).

Layout (documented in docs/design.md §2):
- nil, bool, int in [-2**63, 2**64 - 1] (smallest msgpack form), bin for bytes, str (UTF-8) for text;
- arrays for lists and tuples (decoded as tuples);
- maps only with str keys, emitted sorted by key; decoding rejects unsorted or duplicate keys;
- no floats, no ext types.

`Record` gives typed values: a frozen dataclass with a `TAG` is encoded as the array `[TAG, f1, f2, ...]` in
field order (never a map, so a renamed field cannot change a hash), and decoded strictly into that class.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

import msgpack

MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 32
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

Value = Any
R = TypeVar("R", bound="Record")


class DecodeError(ValueError):
    """The one error that malformed, oversized or non-canonical input raises."""


def _check_canonical_value(obj: object, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise DecodeError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, bytes, str)):
        return
    if isinstance(obj, int):
        if not INT_MIN <= obj <= INT_MAX:
            raise DecodeError("integer out of range")
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _check_canonical_value(item, depth + 1)
        return
    if isinstance(obj, dict):
        keys = list(obj.keys())
        if not all(isinstance(k, str) for k in keys):
            raise DecodeError("map keys must be strings")
        for v in obj.values():
            _check_canonical_value(v, depth + 1)
        return
    raise DecodeError(f"type {type(obj).__name__} is not encodable")


def _normalise(obj: object, depth: int = 0) -> object:
    """Sort map keys and turn records into arrays; reject what has no canonical form."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, bytes, str)):
        return obj
    if isinstance(obj, int):
        if not INT_MIN <= obj <= INT_MAX:
            raise ValueError(f"integer {obj} out of the 64-bit range")
        return obj
    if isinstance(obj, Record):
        return _normalise(obj.to_value(), depth + 1)
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, (list, tuple)):
        return [_normalise(x, depth + 1) for x in obj]
    if isinstance(obj, Mapping):
        for k in obj:
            if not isinstance(k, str):
                raise ValueError("map keys must be strings")
        return {k: _normalise(obj[k], depth + 1) for k in sorted(obj)}
    raise ValueError(f"type {type(obj).__name__} has no canonical encoding (floats are never allowed)")


def encode(obj: object) -> bytes:
    """Canonical bytes of `obj`. Raises ValueError for a value that has no canonical form."""
    out: bytes = msgpack.packb(_normalise(obj), use_bin_type=True)
    return out


def _pairs_hook(pairs: list[tuple[object, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if not all(isinstance(k, str) for k in keys):
        raise DecodeError("map keys must be strings")
    if any(a >= b for a, b in itertools.pairwise(keys)):  # type: ignore[operator]
        raise DecodeError("map keys not sorted or duplicated")
    return dict(pairs)  # type: ignore[arg-type]


def decode(data: bytes, *, max_size: int = MAX_SIZE) -> Value:
    """Strictly decode canonical bytes; anything else raises DecodeError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("input is not bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"input of {len(data)} bytes exceeds the limit of {max_size}")
    if not data:
        raise DecodeError("empty input")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,
            object_pairs_hook=_pairs_hook,
            max_bin_len=max_size,
            max_str_len=max_size,
            max_array_len=max_size,
            max_map_len=max_size,
            max_ext_len=0,
        )
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises many types on garbage; all become one
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}") from None
    _check_canonical_value(obj)
    try:
        again = encode(obj)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(str(exc)) from None
    if again != data:
        raise DecodeError("non-canonical encoding")
    return obj


# --------------------------------------------------------------------------- typed records


class Record:
    """Base of typed, canonically encoded values: `[TAG, field1, field2, ...]`.

    Subclasses are `@dataclass(frozen=True)` with a unique `TAG` and field annotations among: int, bool,
    bytes, str, `X | None`, `tuple[X, ...]`, `dict[str, X]`, another Record. `MAX_LEN` bounds the length of
    bytes, str, tuple and dict fields by name.
    """

    TAG: ClassVar[int] = -1
    MAX_LEN: ClassVar[dict[str, int]] = {}

    def to_value(self) -> list[object]:
        fields = _fields_of(type(self))
        return [self.TAG, *(_to_plain(getattr(self, name)) for name, _ in fields)]

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def from_value(cls: type[R], value: object) -> R:
        out = _from_plain(cls, value, 0)
        assert isinstance(out, cls)
        return out

    @classmethod
    def decode(cls: type[R], data: bytes, *, max_size: int = MAX_SIZE) -> R:
        return cls.from_value(decode(data, max_size=max_size))


def _to_plain(v: object) -> object:
    if isinstance(v, Record):
        return v.to_value()
    if isinstance(v, tuple):
        return [_to_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_plain(x) for k, x in v.items()}
    return v


_FIELDS_CACHE: dict[type, list[tuple[str, object]]] = {}


def _fields_of(cls: type) -> list[tuple[str, object]]:
    cached = _FIELDS_CACHE.get(cls)
    if cached is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        hints = get_type_hints(cls)
        cached = [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init]
        _FIELDS_CACHE[cls] = cached
    return cached


def _from_plain(tp: object, value: object, depth: int, name: str = "", limits: Mapping[str, int] = {}) -> object:
    if depth > MAX_DEPTH:
        raise DecodeError("record nested too deeply")
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError("only X | None unions are supported")
        return _from_plain(inner[0], value, depth, name, limits)
    if isinstance(tp, type) and issubclass(tp, Record):
        if not isinstance(value, tuple) or not value:
            raise DecodeError(f"{tp.__name__}: expected an array")
        fields = _fields_of(tp)
        if value[0] != tp.TAG or isinstance(value[0], bool):
            raise DecodeError(f"{tp.__name__}: wrong tag {value[0]!r}")
        if len(value) != len(fields) + 1:
            raise DecodeError(f"{tp.__name__}: expected {len(fields)} fields, got {len(value) - 1}")
        kwargs = {
            fname: _from_plain(ftp, fval, depth + 1, fname, tp.MAX_LEN)
            for (fname, ftp), fval in zip(fields, value[1:], strict=True)
        }
        try:
            return tp(**kwargs)
        except DecodeError:
            raise
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"{tp.__name__}: {exc}") from None
    limit = limits.get(name)
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(f"{name}: expected bool")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise DecodeError(f"{name}: expected int")
        return value
    if tp is bytes or tp is str:
        if not isinstance(value, (bytes, str)) or type(value) is not tp:
            raise DecodeError(f"{name}: expected {'bytes' if tp is bytes else 'str'}")
        if limit is not None and len(value) > limit:
            raise DecodeError(f"{name}: longer than {limit}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, tuple):
            raise DecodeError(f"{name}: expected an array")
        if limit is not None and len(value) > limit:
            raise DecodeError(f"{name}: more than {limit} items")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], x, depth + 1, name) for x in value)
        if len(args) != len(value):
            raise DecodeError(f"{name}: expected {len(args)} items")
        return tuple(_from_plain(a, x, depth + 1, name) for a, x in zip(args, value, strict=True))
    if origin is dict:
        _, vt = get_args(tp)
        if not isinstance(value, dict):
            raise DecodeError(f"{name}: expected a map")
        if limit is not None and len(value) > limit:
            raise DecodeError(f"{name}: more than {limit} entries")
        return {k: _from_plain(vt, v, depth + 1, name) for k, v in value.items()}
    if tp is typing.Any or tp is object:
        return value
    raise TypeError(f"unsupported field type {tp!r}")


def decode_union(data: bytes, classes: Iterable[type[Record]], *, max_size: int = MAX_SIZE) -> Record:
    """Decode one of several record classes, chosen by the tag."""
    value = decode(data, max_size=max_size)
    return from_value_union(value, classes)


def from_value_union(value: object, classes: Iterable[type[Record]]) -> Record:
    by_tag = {c.TAG: c for c in classes}
    if not isinstance(value, tuple) or not value or not isinstance(value[0], int) or isinstance(value[0], bool):
        raise DecodeError("expected a tagged record")
    cls = by_tag.get(value[0])
    if cls is None:
        raise DecodeError(f"unknown record tag {value[0]}")
    return cls.from_value(value)


def tags_unique(classes: Sequence[type[Record]]) -> bool:
    """True when no two classes share a tag (a test asserts it for each message family)."""
    tags = [c.TAG for c in classes]
    return len(tags) == len(set(tags))
