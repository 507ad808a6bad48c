"""`Overlay.put_keys` (index keys written without a call per key) and the undo log's list of keys first written
by the tx (`_undo_new`, undone by removing them) give what a `put` per key and the logged undo give: the same
reads, records, iteration and pending writes after any mix of writes, record writes, reads, kept and rolled-back
txs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state.fastrec import pack
from state.kv import MemoryKV
from state.records import Account
from state.store import Overlay, StateCache

_KEYS = [b"s" + bytes([a, b]) for a in b"abc" for b in b"xyz"] + [b"iccrq/a/" + bytes([b]) for b in b"xy"]


def _rec(value: bytes) -> Account:
    return Account(value, "BANK", value.hex(), len(value), True)


def _state(o: Overlay) -> tuple[object, ...]:
    return (sorted((k, v) for k, v in o.writes.items()), sorted(o.objs.items()), list(o.iterate()),
            list(o.iterate(prefix=b"iccrq/a/")), [o.get(k) for k in _KEYS])


@settings(max_examples=400, deadline=None)
@given(base=st.dictionaries(st.sampled_from(_KEYS), st.sampled_from([b"1", b"2"]), max_size=6),
       ops=st.lists(st.tuples(st.sampled_from(["keys", "keys", "del_keys", "put", "rec", "getrec", "begin", "keep",
                                               "rollback", "iter"]),
                              st.lists(st.sampled_from(_KEYS), max_size=4),
                              st.sampled_from([b"", b"a", b"bb", b"ccc"])), max_size=50))
def test_put_keys_and_the_undo_log_follow_put_per_key(base: dict[bytes, bytes],
                                                       ops: list[tuple[str, list[bytes], bytes]]) -> None:
    kv = MemoryKV()
    for k, v in base.items():
        kv.put(k, v if not k.startswith(b"sa") else pack(_rec(v)))
    a = Overlay(kv, cache_reads=True, shared=StateCache(8))
    b = Overlay(kv, cache_reads=True, shared=StateCache(8))
    in_tx = False
    for op, keys, value in ops:
        if op == "keys":
            a.put_keys(keys, value)
            for k in keys:
                b.put(k, value)
        elif op == "del_keys":
            a.put_keys(keys, None)
            for k in keys:
                b.delete(k)
        elif op == "put" and keys:
            a.put(keys[0], value)
            b.put(keys[0], value)
        elif op == "rec" and keys:
            r = _rec(value)
            for o in (a, b):
                o.put(keys[0], pack(r), r) if value else o.put_rec(keys[0], r)
        elif op == "getrec" and keys and keys[0].startswith(b"sa"):  # decoded reads: records the log must restore
            for o in (a, b):
                raw = o.get(keys[0])
                if raw is not None and len(raw) > 3:
                    o.get_rec(keys[0], Account)
        elif op == "begin" and not in_tx:
            a.begin()
            b.begin()
            in_tx = True
        elif op in ("keep", "rollback") and in_tx:
            getattr(a, op)()
            getattr(b, op)()
            in_tx = False
        elif op == "iter":
            assert list(a.iterate()) == list(b.iterate())
        assert [a.get(k) for k in _KEYS] == [b.get(k) for k in _KEYS]
    a.pack_records()
    b.pack_records()
    assert _state(a) == _state(b)
    for k in _KEYS:  # a record served for a key is the record of its current bytes
        ra, rb = a.objs.get(k), b.objs.get(k)
        if ra is not None:
            assert pack(ra) == a.writes.get(k, a.get(k))  # type: ignore[arg-type]
        if rb is not None:
            assert pack(rb) == b.writes.get(k, b.get(k))  # type: ignore[arg-type]


def test_a_rolled_back_first_write_drops_its_record_and_a_later_write_is_undone_too() -> None:
    kv = MemoryKV()
    acct = _rec(b"k" * 32)
    kv.put(b"sa", pack(acct))
    o = Overlay(kv, cache_reads=True, shared=StateCache(8))
    assert o.get_rec(b"sa", Account) == acct  # decoded from the read: restored by a rollback
    o.begin()
    other = _rec(b"j" * 32)
    o.put(b"sa", pack(other), other)
    o.put_keys([b"ib/1", b"ib/2"], b"")
    o.put_keys([b"ib/1"], b"x")  # written twice in the tx
    o.rollback()
    assert o.writes == {} and o.get_rec(b"sa", Account) == acct
    assert list(o.iterate(prefix=b"ib/")) == []
    o.begin()
    o.put_keys([b"ib/1"], b"")
    o.keep()
    assert list(o.iterate(prefix=b"ib/")) == [(b"ib/1", b"")]
