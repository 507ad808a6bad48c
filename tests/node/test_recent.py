"""`node.recent.RecentSet`, the bounded recent-key set behind the mempool's seen cache and the gossip's known
sets, against a model: an LRU of `size` (what must be held) and the whole history (what may be held).

Properties: every key among the `size` most recently pushed or added is held unless removed since (a removed
key still counts among the recent ones: it took its place in the young generation); a removed key is not
held; nothing never pushed is ever held; `push` answers whether the key was held before; at most `2 * size`
keys are held (plus one `push_many` batch); `size` 0 holds nothing.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.recent import RecentSet

KEYS = st.integers(0, 30).map(lambda i: bytes([i]))
BATCH = 10
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), KEYS),
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("many"), st.lists(KEYS, max_size=BATCH)),
        st.tuples(st.just("remove"), KEYS),
    ),
    max_size=250,
)


def _lru_holds(history: list[bytes], size: int) -> set[bytes]:
    """The keys an LRU of `size` would hold after the pushes `history` (removals not taken out)."""
    out: list[bytes] = []
    for k in reversed(history):
        if len(out) >= size:
            break
        if k not in out:
            out.append(k)
    return set(out)


@settings(max_examples=400, deadline=None)
@given(size=st.integers(0, 16), ops=OPS)
def test_recent_set_behaves_like_a_bounded_recent_set(size: int, ops: list[tuple[str, object]]) -> None:
    s = RecentSet(size)
    history: list[bytes] = []  # every push/add, in order
    removed: set[bytes] = set()  # removed and not pushed since
    for op, arg in ops:
        keys: list[bytes]
        if op == "remove":
            assert isinstance(arg, bytes)
            s.remove(arg)
            removed.add(arg)
            assert arg not in s
            keys = []
        elif op == "push":
            assert isinstance(arg, bytes)
            held = arg in s
            assert s.push(arg) is (not held)
            keys = [arg]
        elif op == "add":
            assert isinstance(arg, bytes)
            s.add(arg)
            keys = [arg]
        else:
            assert isinstance(arg, list)
            s.push_many(arg)
            keys = arg
        history.extend(keys)
        removed.difference_update(keys)
        held = s.young | s.old
        assert _lru_holds(history, size) - removed <= held, "a recent key was forgotten"
        assert not held & removed, "a removed key is held"
        assert held <= set(history), "a key never pushed is held"
        assert len(s) <= 2 * size + BATCH
    if size == 0:
        assert len(s) == 0 and not s.young and not s.old


def test_a_fresh_key_and_a_known_one() -> None:
    s = RecentSet(2)
    assert s.push(b"a") is True
    assert s.push(b"a") is False
    s.add(b"b")  # the young generation is full: it turns old
    assert s.old == {b"a", b"b"} and not s.young
    assert s.push(b"a") is False  # held by the old generation: copied into the young one
    assert s.young == {b"a"}
    s.push_many([b"c", b"d"])  # young turns old again; b is dropped, a is kept (pushed since)
    assert b"a" in s and b"c" in s and b"d" in s and b"b" not in s
    s.remove(b"a")
    assert b"a" not in s and s.push(b"a") is True
    assert b"zz" not in s and 5 not in s  # anything else is simply not held


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.lists(st.lists(st.integers(0, 40).map(lambda i: bytes([i]) * (i % 5 + 1)),
                                             max_size=12), max_size=40))
def test_tx_hashes_are_the_sha256_of_each_and_bounded(size: int, frames: list[list[bytes]]) -> None:
    """`TxHashes.of` gives the SHA-256 of each tx, in order, whether seen before or not, a frame of new txs, of
    known ones or a mix (copies as new bytes objects, as a peer's frame brings them); it holds the txs of the
    last frames (the young generation turns old at `size`, the old one is dropped): fewer than `2 * size` plus
    the largest frame."""
    from hashlib import sha256

    from node.recent import TxHashes

    memo = TxHashes(size)
    biggest = 0
    for frame in frames:
        biggest = max(biggest, len(frame))
        copies = [bytes(bytearray(tx)) for tx in frame]  # (fresh objects: found by value, not by identity)
        assert memo.of(copies) == [sha256(tx).digest() for tx in frame]
        held = memo.young | memo.old
        assert all(held[tx] == sha256(tx).digest() for tx in held)
        assert len(memo.young) + len(memo.old) < 2 * size + biggest
        assert len(memo.young) < size


def test_tx_hashes_find_a_copy_without_hashing_it_again() -> None:
    """A tx's later copies are looked up (the digest object of its first copy comes back), not hashed again."""
    from node.recent import TxHashes

    memo = TxHashes(100)
    first = memo.of([b"tx-a", b"tx-b"])
    again = memo.of([bytes(bytearray(b"tx-b")), b"tx-c", bytes(bytearray(b"tx-a"))])
    assert again[0] is first[1] and again[2] is first[0] and len(again[1]) == 32
