"""Fast paths for the hot records: the same bytes as `state.codec`, a fraction of the cost.

`codec.Record.encode/decode` walk type hints on every call; the application touches several records per
transaction, so it uses precomputed per-class plans instead:
- `pack(rec)`: msgpack of `[TAG, field...]`. For records without map fields (all of ours) msgpack's own
  packing is already canonical (smallest int forms, bin for bytes, str for text), so the bytes equal
  `codec.encode(rec)`; a test asserts it for every record class.
- `unpack(cls, raw)`: for bytes this application wrote itself (its own state): no re-validation.
- `strict(cls, raw, max_size)`: for untrusted input (transactions): every field's type and length is
  checked and the input must re-encode to the same bytes (canonical), else `DecodeError`.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import msgpack

from state.codec import DecodeError, Record

_packer = msgpack.Packer(use_bin_type=True)
_packb = _packer.pack
_unpackb = msgpack.unpackb

R = TypeVar("R", bound=Record)

# plan entry: (field name, kind, arg) with kind in
#   "p" primitive (arg = python type), "r" record, "o" optional record, "tp" tuple of primitives,
#   "tr" tuple of records, "op" optional primitive
_PLANS: dict[type, list[tuple[str, str, Any]]] = {}


def _plan(cls: type) -> list[tuple[str, str, Any]]:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    hints = get_type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            inner = next(a for a in get_args(tp) if a is not type(None))
            plan.append((f.name, "o" if isinstance(inner, type) and issubclass(inner, Record) else "op", inner))
        elif isinstance(tp, type) and issubclass(tp, Record):
            plan.append((f.name, "r", tp))
        elif origin is tuple:
            inner = get_args(tp)[0]
            plan.append((f.name, "tr" if isinstance(inner, type) and issubclass(inner, Record) else "tp", inner))
        elif tp in (int, bool, str, bytes):
            plan.append((f.name, "p", tp))
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: {tp!r} has no fast path")
    _PLANS[cls] = plan
    return plan


class _Compiled:
    """Per-class accessors: all fields at once, and which positions hold nested records."""

    __slots__ = ("getter", "nested", "optional", "single")

    def __init__(self, cls: type) -> None:
        plan = _plan(cls)
        names = [name for name, _, _ in plan]
        self.getter = operator.attrgetter(*names) if names else (lambda _r: ())
        self.single = len(names) == 1
        self.nested = [(i, kind, arg) for i, (_, kind, arg) in enumerate(plan) if kind in ("r", "o", "tr")]
        # when every nested field is an optional record: their positions in the decoded array (`[TAG, ...]`), so
        # `unpack` builds the record straight when all of them are None (a guarantee without a pending demand or
        # amendment, most of them); None for a class with a required record or a tuple of records
        self.optional: tuple[int, ...] | None = (
            tuple(i + 1 for i, _, _ in self.nested) if all(kind == "o" for _, kind, _ in self.nested) else None)


_COMPILED: dict[type, _Compiled] = {}


def _compiled(cls: type) -> _Compiled:
    c = _COMPILED.get(cls)
    if c is None:
        c = _COMPILED[cls] = _Compiled(cls)
    return c


def to_list(rec: Record) -> list[Any]:
    c = _compiled(type(rec))
    values = c.getter(rec)
    out: list[Any] = [rec.TAG, values] if c.single else [rec.TAG, *values]
    for i, kind, _ in c.nested:
        v = out[i + 1]
        if kind == "tr":
            out[i + 1] = [to_list(x) for x in v]
        elif v is not None:
            out[i + 1] = to_list(v)
    return out


def packb(value: list[Any]) -> bytes:
    """msgpack of a list of primitives (canonical for ints, bytes, str, bool, None and nested lists)."""
    out: bytes = _packb(value)
    return out


def pack_str(value: str) -> bytes:
    """`codec.encode(value)` of a str (msgpack's str form is canonical): 0.25 against 1.5 us."""
    out: bytes = _packb(value)
    return out


def unpack_value(raw: bytes) -> Any:
    """`codec.decode(raw)` of bytes this application wrote itself (canonical; no re-check): 0.36 against 2.7 us
    for a short str."""
    return _unpackb(raw, raw=False, use_list=False)


def pack(rec: Record) -> bytes:
    """msgpack of `to_list(rec)`; a record without nested records (most: accounts, requirements, requests...)
    is packed from its values straight, without `to_list`'s call and walk."""
    c = _COMPILED.get(rec.__class__)
    if c is None or c.nested or c.single:
        out: bytes = _packb(to_list(rec))
        return out
    flat: bytes = _packb([rec.TAG, *c.getter(rec)])
    return flat


def _build(cls: type[R], v: Any) -> R:
    c = _compiled(cls)
    if not c.nested:
        return cls(*v[1:])
    args = list(v[1:])
    for i, kind, arg in c.nested:
        x = args[i]
        if kind == "tr":
            args[i] = tuple(_build(arg, y) for y in x)
        elif x is not None:
            args[i] = _build(arg, x)
    return cls(*args)


def unpack(cls: type[R], raw: bytes) -> R:
    """Decode bytes this application wrote (trusted, canonical). A record whose nested fields are all absent
    optional records (or that has none) is built from the array straight, without `_build`'s walk (a guarantee
    without a demand or an amendment: ~2.6 -> ~2.0 us)."""
    v = _unpackb(raw, raw=False, use_list=False)
    c = _COMPILED.get(cls)
    if c is None:
        c = _compiled(cls)
    optional = c.optional
    if optional is not None:
        for i in optional:
            if v[i] is not None:
                return _build(cls, v)
        return cls(*v[1:])
    return _build(cls, v)


def _check_prim(name: str, tp: type, x: object, limit: int | None) -> None:
    if tp is int:
        ok = isinstance(x, int) and not isinstance(x, bool)
    else:
        ok = isinstance(x, tp)
    if not ok:
        raise DecodeError(f"{name}: expected {tp.__name__}")
    if limit is not None and isinstance(x, (str, bytes)) and len(x) > limit:
        raise DecodeError(f"{name}: longer than {limit}")


_STRICT: dict[type, list[tuple[str, str, Any, int | None]]] = {}


def _strict_plan(cls: type) -> list[tuple[str, str, Any, int | None]]:
    """`_plan` with each field's `MAX_LEN` limit resolved once per class (both are fixed class data)."""
    plan = _STRICT.get(cls)
    if plan is None:
        limits = cls.MAX_LEN  # type: ignore[attr-defined]
        plan = _STRICT[cls] = [
            # a length limit on a primitive applies only to str and bytes (as in `_check_prim`)
            (name, kind, arg, limits.get(name) if kind not in ("p", "op") or arg in (str, bytes) else None)
            for name, kind, arg in _plan(cls)]
    return plan


def _strict_build(cls: type[R], v: Any, depth: int = 0) -> R:
    """Why the primitive checks are inlined: this runs for every field of every tx a node sees (check_tx and
    finalize_block), and a call per field was a third of the decoder's time. The verdicts are `_check_prim`'s."""
    if depth > 8 or not isinstance(v, tuple) or not v or v[0] != cls.TAG or isinstance(v[0], bool):
        raise DecodeError(f"{cls.__name__}: expected [{cls.TAG}, ...]")
    plan = _strict_plan(cls)
    if len(v) != len(plan) + 1:
        raise DecodeError(f"{cls.__name__}: expected {len(plan)} fields, got {len(v) - 1}")
    args = []
    for (name, kind, arg, limit), x in zip(plan, v[1:], strict=True):
        if kind == "p" or (kind == "op" and x is not None):
            if type(x) is not arg:  # msgpack yields exact types; a subclass gets `_check_prim`'s verdict
                _check_prim(name, arg, x, None)
            if limit is not None and len(x) > limit:
                raise DecodeError(f"{name}: longer than {limit}")
        elif kind == "r" or (kind == "o" and x is not None):
            x = _strict_build(arg, x, depth + 1)
        elif kind in ("tp", "tr"):
            if not isinstance(x, tuple):
                raise DecodeError(f"{name}: expected an array")
            if limit is not None and len(x) > limit:
                raise DecodeError(f"{name}: more than {limit} items")
            if kind == "tp":
                for y in x:
                    _check_prim(name, arg, y, None)
            else:
                x = tuple(_strict_build(arg, y, depth + 1) for y in x)
        args.append(x)
    try:
        return cls(*args)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{cls.__name__}: {exc}") from None


# class -> a check of a decoded array: True when it is `[TAG, field...]` with each field of its exact type and
# within its length limit, for a class whose fields are all primitives and whose init stores its arguments as
# they are; None for the other classes
_FLAT: dict[type, Callable[[Any], bool] | None] = {}


def _flat_check(cls: type) -> Callable[[Any], bool] | None:
    """The class's check, made once: the exact types compared at once (`map(type, v)`), then each limited
    field's length, written out (a generator over the limits cost as much as the rest)."""
    if cls in _FLAT:
        return _FLAT[cls]
    plan = _strict_plan(cls)
    check = None
    tag = getattr(cls, "TAG", None)
    if (type(tag) is int and not hasattr(cls, "__post_init__")
            and all(kind == "p" for _, kind, _, _ in plan)):
        types_ = (int, *(arg for _, _, arg, _ in plan))
        limits = "".join(f" and len(v[{i}]) <= {int(limit)}"
                         for i, (_, _, _, limit) in enumerate(plan, start=1) if limit is not None)
        ns: dict[str, Any] = {"_types": types_, "_map": map, "_type": type, "_tuple": tuple}
        src = f"def check(v):\n    return _tuple(_map(_type, v)) == _types and v[0] == {tag}{limits}\n"
        exec(src, ns)  # built above from the class's integer tag and limits only
        check = ns["check"]
    _FLAT[cls] = check
    return check


def strict(cls: type[R], raw: bytes, max_size: int) -> R:
    """Strictly decode untrusted canonical bytes of `cls`; anything else raises DecodeError.

    Why a flat path: a node decodes every tx it admits (the envelope and its body, both records of primitives
    only): checking the decoded array's exact types at once (`map(type, v)` against the class's) and its
    length limits (`_flat_check`), then re-packing the array itself for the canonical test, costs about half
    of `_strict_build`'s per-field walk plus `pack` of the built record. It accepts exactly what the walk accepts
    (msgpack yields exact types, so "an int that is not a bool" is `type(x) is int`; the tag must be an int,
    as `pack` writes it) and re-packs the same values in the same order (the class's init stores its
    arguments, no `__post_init__`), so the bytes compared are `pack(rec)`'s; anything it does not accept
    goes the walk's way, which gives the error (tests/state/test_fastrec.py compares both ways)."""
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        raise DecodeError("empty or non-bytes input")
    if len(raw) > max_size:
        raise DecodeError(f"input of {len(raw)} bytes exceeds the limit of {max_size}")
    raw = bytes(raw)
    try:
        v = msgpack.unpackb(raw, raw=False, use_list=False, strict_map_key=True, max_bin_len=max_size,
                            max_str_len=max_size, max_array_len=max_size, max_map_len=max_size, max_ext_len=0)
    except Exception as exc:  # msgpack raises many types on garbage; all become one
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}") from None
    check = _FLAT[cls] if cls in _FLAT else _flat_check(cls)
    if check is not None and v.__class__ is tuple and check(v):
        try:
            rec = cls(*v[1:])
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"{cls.__name__}: {exc}") from None
        if _packb(v) != raw:
            raise DecodeError("non-canonical encoding")
        return rec
    rec = _strict_build(cls, v)
    if pack(rec) != raw:
        raise DecodeError("non-canonical encoding")
    return rec


def fast_init(*classes: type) -> None:
    """Give each dataclass a plain `__init__` that stores its arguments straight into the instance's `__dict__`.

    Why: a frozen dataclass's generated `__init__` calls `object.__setattr__` once per field (the frozen
    class's own `__setattr__` refuses), which made constructing a record the largest self cost of decoding
    one: 3.6 us for a `Guarantee` (32 fields) and 0.64 us for an `Account`, against 1.06 and 0.29 us this
    way (`unpack(Guarantee)` 5.3 -> 2.4 us). The instance is the same: the same `__dict__`, so equality,
    hashing, `repr`, `dataclasses.replace` (it calls the class) and every encoding are unchanged, and the
    class stays frozen (assignment after construction still raises). Only for classes whose every field is
    a positional-or-keyword init argument, with or without a plain default (no `default_factory`, no
    `init=False`, no `__post_init__`); any other class keeps the dataclass `__init__`. Tests:
    tests/state/test_fastrec.py."""
    for cls in classes:
        flds = dataclasses.fields(cls)
        if (hasattr(cls, "__post_init__") or not flds
                or any(not f.init or f.default_factory is not dataclasses.MISSING for f in flds)):
            continue
        names = [f.name for f in flds]
        assert all(n.isidentifier() and not n.startswith("__") for n in names)
        ns: dict[str, Any] = {}
        params = []
        for f in flds:
            if f.default is dataclasses.MISSING:
                params.append(f.name)
            else:  # the default object itself, as the dataclass __init__ has it
                ns[f"__default_{f.name}"] = f.default
                params.append(f"{f.name}=__default_{f.name}")
        # `__self` and `__d`: no field can be named so (asserted above); `self` or `d` can
        body = "".join(f"    __d[{n!r}] = {n}\n" for n in names)
        src = f"def __init__(__self, {', '.join(params)}):\n    __d = __self.__dict__\n{body}"
        exec(src, ns)  # the source is built above from the class's own field names
        init = ns["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init.__module__ = cls.__module__
        init.__doc__ = f"Fields of {cls.__name__} into the instance dict (state.fastrec.fast_init)."
        cls.__init__ = init  # type: ignore[misc]


K = TypeVar("K")
V = TypeVar("V")
MEMO_MAX = 65_536  # the bound of the per-process memos of derived keys (signer addresses, state keys)


def remember(memo: dict[K, V], key: K, value: V, bound: int = MEMO_MAX) -> V:
    """The miss path of a bounded memo: `value` kept under `key` (the memo emptied first when it holds `bound`
    entries) and returned. Hot paths read the memo inline (`memo.get(key)`) and call this only on a miss."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value
    return value


__all__ = ["fast_init", "pack", "pack_str", "remember", "strict", "to_list", "typing", "unpack", "unpack_value"]
