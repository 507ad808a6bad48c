"""The execution layers' shortcuts give exactly what the general paths give: the history key built in pieces, the
issue's field dict, events through `emit_values`, and `unpack`'s straight path for records without nested ones."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from state import lg_core
from state.chain import Event, EventAttribute
from state.codec import Record
from state.fastrec import pack, unpack
from state.kv import MemoryKV
from state.records import (
    RECORD_CLASSES,
    Amendment,
    Guarantee,
    PendingDemand,
    k_lg_event,
)
from state.store import NS_HIST, Ctx, Overlay


def test_history_key_in_pieces_is_the_record_key() -> None:
    for seq in range(lg_core._SEQ_SUFFIXES_N + 3):
        for lg_id in ("", "LG0123456789ABCDEF0123456789ABCD", "x"):
            general = NS_HIST + k_lg_event(lg_id, seq)
            if seq < lg_core._SEQ_SUFFIXES_N:
                assert lg_core._HIST_LGEV + lg_id.encode() + lg_core._SEQ_SUFFIXES[seq] == general


def test_issue_stores_a_guarantee_whose_dict_is_in_field_order() -> None:
    """`issue_guarantee` builds the new guarantee's field dict by hand: its keys must be the record's fields, in
    order (`_pack_fields` packs the values as they come). Checked on a real issue of the workload."""
    from state.abci import Application, RequestFinalizeBlock
    from tests.state.replay import init, make_blocks

    wl, blocks = make_blocks(3, 20, 40)
    app = Application(MemoryKV())
    init(app, wl)
    names = [f.name for f in dataclasses.fields(Guarantee)]
    seen = 0
    for h, (t, b) in enumerate(blocks, start=1):
        app.finalize_block(RequestFinalizeBlock(b, h, t))
        p = app._pending
        assert p is not None
        for key, rec in p.overlay.objs.items():
            if isinstance(rec, Guarantee):
                assert list(rec.__dict__) == names
                raw = p.overlay.writes.get(key)
                if raw is not None:
                    assert raw == rec.encode()
                    seen += 1
        app.commit()
    assert seen > 0


_text = st.text(max_size=6)
_keys = st.lists(st.sampled_from(["id", "bank", "status", "n", "type", ""]), min_size=0, max_size=6)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(_text, _keys, st.lists(st.one_of(_text, st.integers(-5, 5)), max_size=6)),
                       max_size=6))
def test_emit_values_gives_the_events_of_emit(events: list[tuple[str, list[str], list[object]]]) -> None:
    a = Ctx(Overlay(MemoryKV()), 0, 1)
    b = Ctx(Overlay(MemoryKV()), 0, 1)
    for type_, keys, values in events:
        n = min(len(keys), len(values))
        keys_t, values_t = tuple(keys[:n]), tuple(values[:n])
        a.emit(type_, dict(zip(keys_t, values_t, strict=True)))
        if len(set(keys_t)) == len(keys_t):  # `emit` takes a dict: a repeated key is one attribute there
            b.emit_values(type_, keys_t, values_t)  # type: ignore[arg-type]  # an int goes the str() way
        else:
            b.emit(type_, dict(zip(keys_t, values_t, strict=True)))
    assert a.events == b.events
    for e in b.events:
        assert all(type(x) is EventAttribute and type(x.value) is str and x.index for x in e.attributes)


def test_emit_values_refuses_a_length_mismatch() -> None:
    ctx = Ctx(Overlay(MemoryKV()), 0, 1)
    try:
        ctx.emit_values("lg", ("id", "bank"), ("x",))
    except ValueError:
        pass
    else:
        raise AssertionError("a length mismatch was accepted")
    ctx.emit_values("lg", ("id",), ("x",))
    assert ctx.events == [Event("lg", (EventAttribute("id", "x", True),))]


def test_emit_values_after_the_table_is_emptied() -> None:
    """The per-key tables are emptied in place when full: events stay right (and interned again)."""
    from state import event_attrs

    ctx = Ctx(Overlay(MemoryKV()), 0, 1)
    ctx.emit_values("lg", ("id", "bank"), ("a", "006"))
    for i in range(event_attrs._ATTRS_MAX + 5):
        ctx.emit_values("x", ("n",), (str(i),))
    ctx.emit_values("lg", ("id", "bank"), ("a", "006"))
    assert ctx.events[0] == ctx.events[-1] == Event("lg", (EventAttribute("id", "a", True),
                                                           EventAttribute("bank", "006", True)))
    assert sum(len(d) for d in event_attrs._ATTRS.values()) <= event_attrs._ATTRS_MAX


_i = st.integers(0, 2**40)
_b = st.binary(max_size=33)
_demand = st.one_of(st.none(), st.builds(PendingDemand, _i, _i, _i, _b, _i, _i, _i))
_amendment = st.one_of(st.none(), st.builds(Amendment, _i, _i, _b, _i))


@settings(max_examples=150, deadline=None)
@given(demand=_demand, amendment=_amendment, amount=_i, status=_text)
def test_unpack_of_a_guarantee_with_or_without_nested_records(demand: PendingDemand | None,
                                                              amendment: Amendment | None, amount: int,
                                                              status: str) -> None:
    g = Guarantee("LG1", "006", "r", "PERF", "0105550001232", "A1", "A1:R", 1, amount, 0, amount, 1, 2, True, False,
                  False, True, b"", 3, status, 4, demand, 0, amendment, "", "", "", 0, 5, 0, 2, b"\x01" * 32)
    raw = pack(g)
    assert raw == g.encode()
    back = unpack(Guarantee, raw)
    assert back == g == Guarantee.decode(raw)
    assert type(back.demand) is type(demand) and type(back.amendment) is type(amendment)


def test_unpack_of_every_record_class_matches_the_codec() -> None:
    """Every record class goes `unpack`'s straight path or `_build`'s walk; both give the codec's record."""
    from tests.state.test_fastrec import CLASSES

    examples: list[Record] = []
    for cls in RECORD_CLASSES:
        args = []
        for f in dataclasses.fields(cls):
            tp = str(f.type)
            args.append(0 if tp == "int" else "" if tp == "str" else b"" if tp == "bytes" else False if tp == "bool"
                        else () if tp.startswith("tuple") else None)
        examples.append(cls(*args))
    for rec in examples:
        assert type(rec) in CLASSES
        assert unpack(type(rec), pack(rec)) == rec == type(rec).decode(pack(rec))


_states = st.tuples(st.sampled_from(["ISSUED", "ACTIVE", "DEMANDED", "SUSPENDED", "RELEASED", "EXPIRED", "CANCELLED"]),
                    st.integers(0, 3), st.booleans(), st.booleans(), st.sampled_from([0, 1, 7]))


@settings(max_examples=400, deadline=None)
@given(a=_states, b=_states)
def test_equal_index_states_mean_equal_state_index_keys(a: tuple[str, int, bool, bool, int],
                                                        b: tuple[str, int, bool, bool, int]) -> None:
    """`_store` skips the two key sets when `_index_state` is equal before and after: that must imply equal sets."""
    def fields(s: tuple[str, int, bool, bool, int]) -> dict[str, object]:
        status, expiry, amended, demanded, obligation_end = s
        g = Guarantee("LG1", "006", "r", "PERF", "0105550001232", "A1", "A1:R", 1, 9, 0, 9, 1, expiry, True, False,
                      False, True, b"", 3, status, 4, PendingDemand(1, 5, 0, b"", 0, 0, 0) if demanded else None, 0,
                      Amendment(1, 2, b"", 0) if amended else None, "", "", "", obligation_end, 5, 0, 2, b"")
        return g.__dict__

    fa, fb = fields(a), fields(b)
    if lg_core._index_state(fa) == lg_core._index_state(fb):
        assert lg_core._state_index_set(fa) == lg_core._state_index_set(fb)
