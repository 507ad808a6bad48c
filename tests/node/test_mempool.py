"""The mempool: bounds, dedupe, FIFO reap, re-check after a block, commit waiters."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.mempool import Checked, Mempool, MempoolFullError, TxInCacheError, TxTooLargeError
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
