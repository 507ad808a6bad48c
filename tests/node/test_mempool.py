"""The mempool: bounds, dedupe, FIFO reap, re-check after a block, commit waiters."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.mempool import Checked, Mempool, MempoolError, MempoolFullError, TxInCacheError, TxTooLargeError
from state.crypto import sha256


class NonceApp:
    """A tiny app: tx = b"<sender>:<nonce>"; a tx is valid iff its nonce is the sender's next one."""

    def __init__(self) -> None:
        self.committed: dict[bytes, int] = {}
        self.pending: dict[bytes, int] = {}

    def check(self, tx: bytes, recheck: bool) -> Checked:
        if recheck and not hasattr(self, "_rechecking"):
            self.pending = dict(self.committed)
            self._rechecking = True
        sender, _, n = tx.partition(b":")
        if not n.isdigit():
            return Checked(2, "malformed")
        nonce = int(n)
        if nonce != self.pending.get(sender, self.committed.get(sender, 0)):
            return Checked(3, f"bad nonce {nonce}")
        self.pending[sender] = nonce + 1
        return Checked(0)

    def commit(self, txs: list[bytes]) -> None:
        for tx in txs:
            sender, _, n = tx.partition(b":")
            self.committed[sender] = int(n) + 1
        if hasattr(self, "_rechecking"):
            del self._rechecking


def test_admits_checks_and_dedupes() -> None:
    app = NonceApp()
    mp = Mempool(app.check, size=10, max_txs_bytes=1000)
    assert mp.add(b"a:0").code == 0
    assert mp.add(b"a:5").code == 3  # refused by the app, not kept
    assert len(mp) == 1
    with pytest.raises(TxInCacheError, match="tx already exists in cache"):
        mp.add(b"a:0")
    assert mp.seen(sha256(b"a:0")) and not mp.seen(sha256(b"a:5"))


def test_full_by_count_and_by_bytes_uses_cometbft_wording() -> None:
    mp = Mempool(NonceApp().check, size=2, max_txs_bytes=1000)
    mp.add(b"a:0")
    mp.add(b"a:1")
    with pytest.raises(MempoolFullError, match=r"mempool is full: number of txs 2 \(max: 2\)"):
        mp.add(b"a:2")
    mp2 = Mempool(NonceApp().check, size=100, max_txs_bytes=7)
    mp2.add(b"a:0")
    with pytest.raises(MempoolFullError, match="total txs bytes 3"):
        mp2.add(b"bbbbb:0")
    with pytest.raises(TxTooLargeError):
        Mempool(NonceApp().check, max_tx_bytes=4).add(b"abcde:0")


def test_reap_is_fifo_and_bounded() -> None:
    mp = Mempool(NonceApp().check)
    for i in range(5):
        mp.add(f"a:{i}".encode())
    assert mp.reap(-1, 3) == [b"a:0", b"a:1", b"a:2"]
    assert mp.reap(7, -1) == [b"a:0", b"a:1"]
    assert mp.reap(-1, -1) == [f"a:{i}".encode() for i in range(5)]


def test_update_removes_committed_and_rechecks_the_rest() -> None:
    app = NonceApp()
    mp = Mempool(app.check)
    for tx in (b"a:0", b"a:1", b"b:0"):
        mp.add(tx)
    # another node's block committed a:0 and a different b:0 ... b:1 (so our b:0 is now stale)
    app.commit([b"a:0", b"b:0", b"b:1"])
    dropped = mp.update(1, [b"a:0"])
    assert mp.txs() == [b"a:1"]
    assert dropped == [sha256(b"b:0")]
    with pytest.raises(TxInCacheError):  # committed txs stay in the cache: no re-admission
        mp.add(b"a:0")


def test_a_crashing_check_is_a_refusal_not_a_crash() -> None:
    def boom(tx: bytes, recheck: bool) -> Checked:
        raise RuntimeError("bug")

    res = Mempool(boom).add(b"x")
    assert res.code != 0 and "bug" in res.log


@given(st.lists(st.binary(min_size=1, max_size=20), max_size=60), st.integers(1, 10), st.integers(1, 200))
def test_bounds_always_hold(txs: list[bytes], size: int, max_bytes: int) -> None:
    mp = Mempool(lambda tx, r: Checked(0), size=size, max_txs_bytes=max_bytes, max_tx_bytes=50)
    for tx in txs:
        with contextlib.suppress(MempoolFullError, TxInCacheError):
            mp.add(tx)
        assert len(mp) <= size and mp.size_bytes <= max_bytes
        assert mp.size_bytes == sum(len(t) for t in mp.txs())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=6), max_size=20), st.integers(1, 8), st.integers(1, 30), st.integers(0, 4),
       st.integers(0, 6), st.integers(0, 3), st.lists(st.binary(min_size=1, max_size=6), max_size=5))
def test_reserve_many_is_reserve_one_by_one(txs: list[bytes], size: int, max_bytes: int, cache: int,
                                           max_tx: int, pending: int, pooled: list[bytes]) -> None:
    """`Mempool.reserve_many` (a peer's frame at once) reserves exactly the txs that `reserve`, called for each
    in turn with the reserved ones counted as pending, would reserve (and refuses the others quietly), and
    leaves the pool's seen cache the same."""

    def pool() -> Mempool:
        p = Mempool(lambda tx, recheck: Checked(0), size=size, max_txs_bytes=max_bytes, cache_size=cache,
                    max_tx_bytes=max(1, max_tx))
        for tx in pooled:
            with contextlib.suppress(MempoolError):
                p.add(tx)
        return p

    items = [(sha256(tx), tx) for tx in txs]
    one, many = pool(), pool()
    want = []
    n, nbytes = pending, 0
    for h, tx in items:
        try:
            one.reserve(tx, n, nbytes, h)
        except MempoolError:
            continue
        want.append((h, tx))
        n += 1
        nbytes += len(tx)
    got = many.reserve_many(items, pending, 0)
    assert got == want
    assert (many._cache.young, many._cache.old) == (one._cache.young, one._cache.old)


def test_reserve_many_forgets_what_the_seen_cache_dropped_meanwhile() -> None:
    """A key the seen cache drops while a frame is reserved (its young generation turned old at `size`) is no
    longer seen for the rest of the frame, as for `reserve` one by one."""
    pool = Mempool(lambda tx, recheck: Checked(0), cache_size=1)
    pool._cache.push(sha256(b"A"))  # seen (the old generation: size 1 turns it at once)
    items = [(sha256(b"B"), b"B"), (sha256(b"A"), b"A")]  # reserving B drops A from the cache
    assert pool.reserve_many(items) == items
