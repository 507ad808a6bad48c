"""The application's caches are bounded by what they are for: the signature cache spans check -> commit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state.abci import RequestCheckTx
from state.crypto import sha256
from state.txs import PublishRequirement
from tests.state.harness import Chain


def req_body(i: int) -> PublishRequirement:
    return PublishRequirement(f"R{i}", "P", "1", "PERF", 100, 2_000_000_000_000, 0, "F")


def test_committed_txs_leave_the_signature_cache() -> None:
    c = Chain()
    txs = [c.tx(c.agency, req_body(i)) for i in range(4)]
    for raw in txs:
        assert c.app.check_tx(RequestCheckTx(raw)).code == 0
    assert all(sha256(raw) in c.app._sig_cache for raw in txs)
    assert [r.code for r in c.block(txs[:2])] == [0, 0]
    assert [sha256(raw) in c.app._sig_cache for raw in txs] == [False, False, True, True]  # the pending stay


def test_signature_cache_is_bounded() -> None:
    c = Chain()
    c.app._sig_cache_size = 3
    for i in range(6):
        assert c.app.check_tx(RequestCheckTx(c.tx(c.agency, req_body(i)))).code == 0
    assert len(c.app._sig_cache) == 3


def test_block_overlay_caches_committed_reads_but_sees_its_writes() -> None:
    from state.kv import MemoryKV
    from state.store import Overlay

    kv = MemoryKV()
    kv.put(b"a", b"1")
    o = Overlay(kv, cache_reads=True)
    assert o.get(b"a") == b"1" and o.get(b"z") is None
    kv.put(b"z", b"late")  # the base must not change under such an overlay; shown: the read is remembered
    assert o.get(b"z") is None
    o.put(b"a", b"2")
    o.delete(b"z")
    assert o.get(b"a") == b"2" and o.get(b"z") is None
    child = Overlay(o)
    child.put(b"b", b"3")
    child.merge_into(o)
    assert o.get(b"b") == b"3"
    assert dict(o.iterate()) == {b"a": b"2", b"b": b"3"}


@settings(max_examples=100, deadline=None)
@given(addrs=st.lists(st.binary(min_size=0, max_size=32), max_size=40), bound=st.integers(1, 8))
def test_account_keys_memo_answers_the_key_whatever_its_bound(addrs: list[bytes], bound: int) -> None:
    """`records.k_account` remembers the keys it made (bounded, emptied when full): always the key's bytes."""
    from state import records

    saved = records._ACCOUNT_KEYS_MAX
    records._ACCOUNT_KEYS_MAX = bound
    records._ACCOUNT_KEYS.clear()
    try:
        for a in addrs + addrs[::-1]:
            assert records.k_account(a) == b"acct/" + a.hex().encode()
        assert len(records._ACCOUNT_KEYS) <= bound
    finally:
        records._ACCOUNT_KEYS_MAX = saved
