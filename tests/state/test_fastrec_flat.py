"""`fastrec.strict`'s flat path (records of primitives: exact types and limits at once, the array re-packed for the
canonical test) accepts and refuses exactly what the per-field walk (`_strict_build` + `pack`) does."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from state import records, txs
from state.codec import DecodeError, Record
from state.fastrec import _FLAT, _flat_check, _plan, _strict_build, pack, strict
from tests.state.replay import make_blocks

CLASSES: list[type[Record]] = [*records.RECORD_CLASSES, *txs.BODY_CLASSES, txs.Tx]


def _walk(cls: type[Record], raw: bytes, max_size: int) -> tuple[str, object]:
    """What `strict` did before the flat path: ("ok", record) or ("error", message)."""
    try:
        if not isinstance(raw, (bytes, bytearray)) or not raw:
            raise DecodeError("empty or non-bytes input")
        if len(raw) > max_size:
            raise DecodeError(f"input of {len(raw)} bytes exceeds the limit of {max_size}")
        try:
            v = msgpack.unpackb(bytes(raw), raw=False, use_list=False, strict_map_key=True, max_bin_len=max_size,
                                max_str_len=max_size, max_array_len=max_size, max_map_len=max_size, max_ext_len=0)
        except Exception as exc:
            raise DecodeError(f"malformed msgpack: {type(exc).__name__}") from None
        rec = _strict_build(cls, v)
        if pack(rec) != bytes(raw):
            raise DecodeError("non-canonical encoding")
        return "ok", rec
    except DecodeError as e:
        return "error", str(e)


def _strict(cls: type[Record], raw: bytes, max_size: int) -> tuple[str, object]:
    try:
        return "ok", strict(cls, raw, max_size)
    except DecodeError as e:
        return "error", str(e)


def test_the_flat_path_serves_the_tx_envelope_and_every_body() -> None:
    for cls in [txs.Tx, *txs.BODY_CLASSES]:
        has_nested = any(kind != "p" for _, kind, _ in _plan(cls))
        assert (_flat_check(cls) is None) == has_nested, cls
    assert txs.Tx in _FLAT and _FLAT[txs.Tx] is not None


_, _BLOCKS = make_blocks(21, 3, 30)
_VALID = [raw for _, b in _BLOCKS for raw in b]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 10_000), st.integers(0, 255), st.booleans(), st.booleans())
def test_flat_path_agrees_with_the_walk_on_mutations(raw: bytes, pos: int, byte: int, body: bool,
                                                      insert: bool) -> None:
    tx = txs.Tx.decode(raw)
    data = tx.body if body else raw
    cls: type[Record] = txs.BODY_TYPES[tx.type] if body else txs.Tx
    assert _strict(cls, data, 1 << 16) == _walk(cls, data, 1 << 16) == ("ok", cls.decode(data))
    mutated = bytearray(data)
    if insert:
        mutated.insert(pos % (len(mutated) + 1), byte)
    else:
        mutated[pos % len(mutated)] = byte
    assert _strict(cls, bytes(mutated), 1 << 16) == _walk(cls, bytes(mutated), 1 << 16)


_PRIM = st.one_of(st.integers(-(2**63), 2**64 - 1), st.booleans(), st.none(), st.floats(allow_nan=False),
                  st.text(max_size=70), st.binary(max_size=70), st.just(()))
_FLAT_CLASSES = [c for c in CLASSES if all(kind == "p" for _, kind, _ in _plan(c))]


def _field(arg: type, limit: int | None) -> st.SearchStrategy[object]:
    """A value of the field's type, sometimes just over its length limit."""
    if arg is bool:
        return st.booleans()
    if arg is int:
        return st.integers(-(2**63), 2**64 - 1)
    n = (limit or 40) + 2
    return st.text(max_size=n) if arg is str else st.binary(max_size=n)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(_FLAT_CLASSES), st.data())
def test_flat_path_agrees_with_the_walk_on_arrays(cls: type[Record], data: st.DataObject) -> None:
    """Arrays shaped like the class's: its tag (or another, or a float or a bool equal to it), fields of its
    types (lengths up to just over their limits), one of them perhaps of another type, one too many or too
    few; packed canonically or with the tag in a wider form."""
    from state.fastrec import _strict_plan

    plan = _strict_plan(cls)
    tag = data.draw(st.sampled_from([cls.TAG, cls.TAG, float(cls.TAG), cls.TAG + 1, str(cls.TAG)]))
    fields = [data.draw(_field(arg, limit)) for _, _, arg, limit in plan]
    how = data.draw(st.sampled_from(["as is", "as is", "swap", "drop", "add"]))
    if how == "swap" and fields:
        fields[data.draw(st.integers(0, len(fields) - 1))] = data.draw(_PRIM)
    elif how == "drop" and fields:
        fields.pop()
    elif how == "add":
        fields.append(data.draw(_PRIM))
    raw = msgpack.packb([tag, *fields], use_bin_type=True)
    if data.draw(st.booleans()) and type(tag) is int and tag < 128 and raw[1] == tag:
        raw = raw[:1] + b"\xcc" + raw[1:]  # the same array with the tag in a wider int form: never canonical
    assert _strict(cls, raw, 1 << 16) == _walk(cls, raw, 1 << 16)
    assert _strict(cls, raw, 40) == _walk(cls, raw, 40)
