"""The mempool's cache of seen tx hashes (`node.recent.RecentSet`) against a model of what it must remember.

What the mempool relies on: a hash among the `size` most recently pushed (and not removed since) is seen, a
removed hash is not (a refused tx may be sent again), `push` says whether the hash was new, and memory stays
bounded (2 * size, plus one block's push). Kept for longer than an LRU would is allowed.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.mempool import Mempool
from node.recent import RecentSet

KEYS = st.integers(0, 40).map(lambda i: i.to_bytes(32, "big"))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), KEYS),
        st.tuples(st.just("many"), st.lists(KEYS, max_size=12)),
        st.tuples(st.just("remove"), KEYS),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 20), ops=OPS)
def test_seen_remembers_the_recent_and_forgets_the_removed(size: int, ops: list[tuple[str, object]]) -> None:
    seen = RecentSet(size)
    log: list[bytes] = []  # every push, in order (an LRU of `size` keeps a key until `size` others came after)
    last: dict[bytes, int] = {}  # key -> index in `log` of its last push, while not removed since
    removed: set[bytes] = set()
    for op, arg in ops:
        if op == "remove":
            assert isinstance(arg, bytes)
            seen.remove(arg)
            last.pop(arg, None)
            removed.add(arg)
            assert arg not in seen
            continue
        if op == "push":
            assert isinstance(arg, bytes)
            was = arg in seen
            assert seen.push(arg) is (not was)
            keys = [arg]
        else:
            assert isinstance(arg, list)
            seen.push_many(arg)
            keys = arg
        for k in keys:
            last[k] = len(log)
            log.append(k)
            removed.discard(k)
        for k, at in last.items():
            if len(set(log[at + 1 :])) < size:  # fewer than `size` other keys since its last push
                assert k in seen, "a key an LRU of the same size would still hold was forgotten"
        for k in removed:
            assert k not in seen, "a removed hash is still seen"
        assert len(seen) <= 2 * size + 12
    if size == 0:
        assert len(seen) == 0


def test_committed_txs_stay_seen_and_the_pool_forgets_them() -> None:
    from node.mempool import ACCEPTED, TxInCacheError

    pool = Mempool(lambda tx, recheck: ACCEPTED, size=10, cache_size=4)
    txs = [bytes([i]) * 10 for i in range(6)]
    for tx in txs:
        pool.add(tx)
    from state.crypto import sha256

    pool.update(1, txs[:3], [sha256(tx) for tx in txs[:3]])
    assert len(pool) == 3 and pool.size_bytes == 30
    for tx in txs[:3]:
        assert pool.seen(sha256(tx))
        try:
            pool.add(tx)
        except TxInCacheError:
            pass
        else:  # pragma: no cover
            raise AssertionError("a committed tx was admitted again")
