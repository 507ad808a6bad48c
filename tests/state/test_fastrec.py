"""The fast record paths give exactly the codec's bytes, and strict decoding refuses what the codec refuses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state import records, txs
from state.abci import ResponseFinalizeBlock, pack_response
from state.codec import DecodeError, Record
from state.fastrec import pack, strict, unpack
from state.proofs import StateProof
from tests.state.replay import make_blocks

CLASSES: list[type[Record]] = [*records.RECORD_CLASSES, *txs.BODY_CLASSES, txs.Tx, ResponseFinalizeBlock,
                               StateProof]


def test_workload_records_round_trip() -> None:
    from state.abci import Application
    from state.kv import MemoryKV
    from state.store import NS_STATE
    from tests.state.replay import init

    wl, blocks = make_blocks(11, 30, 30)
    app = Application(MemoryKV())
    init(app, wl)
    from state.abci import RequestFinalizeBlock

    for h, (t, b) in enumerate(blocks, start=1):
        resp = app.finalize_block(RequestFinalizeBlock(b, h, t))
        assert pack(resp) == resp.encode() == pack_response(resp)
        app.commit()
    by_prefix = {b"lg/": records.Guarantee, b"acct/": records.Account,
                 b"req/": records.Requirement, b"cc/": records.CreditConfirmation, b"val/": records.Validator,
                 b"rt/": records.RatingEvent}
    seen = 0
    for _, v in app.kv.iterate(prefix=b"h"):
        ev = records.LgEvent.decode(v)
        assert pack(ev) == v and unpack(records.LgEvent, v) == ev
    for k, v in app.kv.iterate(prefix=NS_STATE):
        for prefix, cls in by_prefix.items():
            if k[1:].startswith(prefix):
                rec = cls.decode(v)
                assert pack(rec) == v and unpack(cls, v) == rec
                seen += 1
    assert seen > 500
    for raw in blocks[3][1][:20]:
        tx = txs.Tx.decode(raw)
        assert strict(txs.Tx, raw, 1 << 16) == tx


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(CLASSES))
def test_strict_rejects_garbage_like_the_codec(data: bytes, cls: type[Record]) -> None:
    try:
        expected = cls.decode(data)
    except DecodeError:
        expected = None
    try:
        got = strict(cls, data, 1 << 20)
    except DecodeError:
        got = None
    assert got == expected


_, _BLOCKS = make_blocks(12, 3, 20)
_VALID = [raw for _, b in _BLOCKS for raw in b]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 10_000), st.integers(0, 255), st.booleans())
def test_strict_agrees_with_codec_on_mutations(raw: bytes, pos: int, byte: int, body: bool) -> None:
    tx = txs.Tx.decode(raw)
    data = tx.body if body else raw
    cls: type[Record] = txs.BODY_TYPES[tx.type] if body else txs.Tx
    mutated = bytearray(data)
    mutated[pos % len(mutated)] = byte
    try:
        expected: Record | None = cls.decode(bytes(mutated))
    except DecodeError:
        expected = None
    try:
        got: Record | None = strict(cls, bytes(mutated), 1 << 16)
    except DecodeError:
        got = None
    assert got == expected


def test_fast_init_builds_the_same_instances_as_the_dataclass_init() -> None:
    """`fast_init` replaced the frozen dataclass `__init__` of the records, bodies and the tx envelope: the same
    `__dict__` (so equality, hash, repr and bytes), keyword and positional calls, still frozen, and the
    argument errors of any Python function."""
    import dataclasses

    import pytest

    from state import chain
    from state.fastrec import fast_init

    replaced = [c for c in (*records.RECORD_CLASSES, *txs.BODY_CLASSES, txs.Tx, txs.DecodedTx,
                            records.PendingDemand, records.Amendment, chain.EventAttribute, chain.Event,
                            chain.ExecTxResult, chain.ValidatorUpdate, chain.FinalizeBlockResult)]
    for cls in replaced:
        assert cls.__init__.__module__ == cls.__module__ and "fast_init" in (cls.__init__.__doc__ or ""), cls

    @dataclasses.dataclass(frozen=True)
    class Plain:
        a: int
        b: tuple[str, ...]
        c: bytes

    @dataclasses.dataclass(frozen=True)
    class Fast:
        a: int
        b: tuple[str, ...]
        c: bytes

    @dataclasses.dataclass(frozen=True)
    class WithDefault:
        a: int
        b: int = 2
        c: tuple[int, ...] = ()

    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Names:  # field names that the generated code must not shadow
        d: int
        self: int

    fast_init(Fast, WithDefault, WithFactory, Names)
    assert Names(1, 2).__dict__ == {"d": 1, "self": 2} and Names(d=3, self=4).self == 4
    assert "fast_init" in (WithDefault.__init__.__doc__ or "")
    assert "fast_init" not in (WithFactory.__init__.__doc__ or "")  # a factory: the dataclass init stays
    assert WithDefault(1).__dict__ == {"a": 1, "b": 2, "c": ()} and WithDefault(1, c=(3,)) == WithDefault(1, 2, (3,))
    assert WithFactory(1).b == [] and WithFactory(1).b is not WithFactory(1).b
    for args in [(1, ("x",), b"y"), (0, (), b"")]:
        p, f = Plain(*args), Fast(*args)
        assert p.__dict__ == f.__dict__ and Fast(a=args[0], b=args[1], c=args[2]) == f
        assert hash(f) == hash(Fast(*args)) and repr(f).replace("Fast", "Plain") == repr(p)
        assert dataclasses.replace(f, a=7) == Fast(7, args[1], args[2])
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.a = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast(1, ())  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(1, (), b"", 4)  # type: ignore[call-arg]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fast_init_records_round_trip(data: st.DataObject) -> None:
    """Every state record class, built with random field values through its (fast) `__init__`, packs to the
    codec's bytes and unpacks to an equal record."""
    from state.fastrec import _plan

    cls = data.draw(st.sampled_from(records.RECORD_CLASSES))
    prim = {int: st.integers(0, 2**63 - 1), bool: st.booleans(), str: st.text(max_size=8),
            bytes: st.binary(max_size=8)}

    def value(kind: str, arg: object) -> object:
        if kind == "p":
            return data.draw(prim[arg])  # type: ignore[index]
        if kind == "op":
            return data.draw(st.none() | prim[arg])  # type: ignore[index]
        if kind == "tp":
            return tuple(data.draw(st.lists(prim[arg], max_size=3)))  # type: ignore[index]
        if kind in ("r", "o"):
            if kind == "o" and data.draw(st.booleans()):
                return None
            return arg(*[value(k, a) for _, k, a in _plan(arg)])  # type: ignore[operator]
        raise AssertionError(kind)

    rec = cls(*[value(kind, arg) for _, kind, arg in _plan(cls)])
    raw = pack(rec)
    assert raw == rec.encode() and unpack(cls, raw) == rec and cls.decode(raw) == rec


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_str_fast_paths_are_the_codec(value: str) -> None:
    """`pack_str` is `codec.encode` of a str and `unpack_value` its `codec.decode` (Ctx.put_str / get_str)."""
    from state.codec import decode, encode
    from state.fastrec import pack_str, unpack_value

    raw = encode(value)
    assert pack_str(value) == raw and unpack_value(raw) == decode(raw) == value
