"""The trie page cache's eviction: it counts exactly what each generation holds, never holds more than its
bound (plus one page), fills the whole bound before evicting anything, evicts what was touched least recently
first (by generation), and answers as the store whatever it evicted."""

from __future__ import annotations

import contextlib
from hashlib import sha256

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import MemoryKV
from state.trie import SPARSE_BYTES, CachedNodes, Trie, TrieLayoutError, position


def H(b: bytes) -> bytes:
    return sha256(b).digest()


def _commit(kv: MemoryKV, nodes: CachedNodes, changes: dict[bytes, bytes | None]) -> bytes:
    t = Trie(nodes)
    root = t.update(changes)
    b = kv.batch()
    b.extend(t.write_items())
    b.commit()
    nodes.apply(t.changes)
    return root


def _consistent(nodes: CachedNodes) -> None:
    assert nodes._young == sum(nodes._weight(p) for p in nodes._cache.values())
    assert nodes._held == sum(nodes._weight(p) for p in nodes._old.values())
    assert nodes._thin == sum(nodes._weight(p) for p in nodes._sparse.values())
    assert not nodes._cache.keys() & nodes._old.keys()
    assert not (nodes._cache.keys() | nodes._old.keys()) & nodes._sparse.keys()
    assert all(nodes._weight(p) < SPARSE_BYTES for p in nodes._sparse.values())
    assert all(nodes._weight(p) >= nodes._dense for p in [*nodes._cache.values(), *nodes._old.values()])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("block"), st.lists(st.integers(0, 400), max_size=60)),
                          st.tuples(st.just("read"), st.lists(st.integers(0, 400), max_size=60))),
                min_size=1, max_size=12),
       st.sampled_from([3, 10, 40, 200]), st.booleans())
def test_counts_bound_and_answers(ops: list[tuple[str, list[int]]], bound: int, by_bytes: bool) -> None:
    kv, plain = MemoryKV(), MemoryKV()
    nodes = CachedNodes(kv, max_bytes=bound * 2_000) if by_bytes else CachedNodes(kv, max_entries=bound)
    present: dict[bytes, bytes] = {}
    for step, (kind, ids) in enumerate(ops):
        if kind == "block":
            changes: dict[bytes, bytes | None] = {H(b"%d" % i): H(b"%d/%d" % (i, step)) if i % 7 else None
                                                  for i in ids}
            root = _commit(kv, nodes, changes)
            ref = Trie(plain)
            assert root == ref.update(changes)
            b = plain.batch()
            b.extend(ref.write_items())
            b.commit()
            for kh, vh in changes.items():
                if vh is None:
                    present.pop(kh, None)
                else:
                    present[kh] = vh
        else:
            t = Trie(nodes)
            for i in ids:
                kh = H(b"%d" % i)
                assert t.get_value_hash(kh) == present.get(kh)
        _consistent(nodes)
        limit = nodes._max + (30_000 if by_bytes else 1)
        assert nodes.weight <= limit


def test_a_trie_within_the_bound_is_held_whole() -> None:
    """Nothing is evicted while the cache is below its bound (the old rule dropped a generation at 7/16 of
    it): every page is read from the store once, however many times the trie is walked."""
    kv = MemoryKV()
    reads = [0]

    class Counting:
        def get(self, key: bytes) -> bytes | None:
            reads[0] += 1
            return kv.get(key)

    keys = [H(b"%d" % i) for i in range(3_000)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    whole = CachedNodes(Counting(), max_entries=100_000)
    for kh in keys:
        Trie(whole).prove(kh)
    pages = len(whole)
    nodes = CachedNodes(Counting(), max_entries=pages + pages // 8)
    reads[0] = 0
    for _ in range(3):
        t = Trie(nodes)
        for kh in keys:
            t.prove(kh)
    assert reads[0] == pages and len(nodes) == pages


def test_pages_touched_since_the_last_generation_stay() -> None:
    """Over the bound, pages not touched since the previous generation go before the ones touched now."""
    kv = MemoryKV()
    keys = [H(b"%d" % i) for i in range(4_000)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    nodes = CachedNodes(kv, max_entries=200)
    hot = keys[:5]
    for i in range(0, 4_000, 50):
        t = Trie(nodes)
        for kh in hot + keys[i:i + 50]:
            t.prove(kh)
        _consistent(nodes)
        assert len(nodes) <= 200
    # the hot keys' pages are held: proving them again reads nothing
    reads = [0]
    real = nodes._nodes

    class Counting:
        def get(self, key: bytes) -> bytes | None:
            reads[0] += 1
            return real.get(key)

    nodes._nodes = Counting()
    t = Trie(nodes)
    for kh in hot:
        t.prove(kh)
    assert reads[0] == 0


def test_pages_every_block_writes_are_never_evicted() -> None:
    """The pages every block writes (the top of the trie, a hot key's path) stay through generation turns: a
    page written again moves to the young generation's end, so when the young generation becomes the old one
    and its first pages are evicted, those are the ones written longest ago. (Until session 7 a page kept
    its place from its first read in the generation: the top pages, read first by the first block after a
    turn, were the first evicted at the next one and read again from the store, ~4,400 pages at 500,000
    keys.)"""
    kv = MemoryKV()
    reads: dict[bytes, int] = {}

    class Counting:
        def get(self, key: bytes) -> bytes | None:
            reads[key] = reads.get(key, 0) + 1
            return kv.get(key)

    nodes = CachedNodes(Counting(), max_entries=120)
    hot = [H(b"hot%d" % i) for i in range(3)]
    for block in range(60):
        changes: dict[bytes, bytes | None] = {kh: H(b"%d" % block) for kh in hot}
        changes.update({H(b"%d/%d" % (block, i)): H(b"v") for i in range(40)})
        _commit(kv, nodes, changes)
        _consistent(nodes)
        assert len(nodes) <= 121
    assert reads.get(position(0, 0), 0) <= 1  # the root page: read once, at the first block
    t = Trie(nodes)
    before = sum(reads.values())
    for kh in hot:
        t.prove(kh)
    assert sum(reads.values()) == before


def test_sparse_pages_go_first() -> None:
    """Over a byte bound, the sparse pages (a few leaves, weight below SPARSE_BYTES) are evicted before any
    denser page: walking the whole trie again reads from the store only sparse pages, while a cache of the
    same bound that ranks every page alike reads dense ones too."""
    kv = MemoryKV()
    keys = [H(b"%d" % i) for i in range(6_000)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    whole = CachedNodes(kv, max_bytes=1 << 40)
    for kh in keys:
        Trie(whole).prove(kh)
    dense = sum(whole._weight(p) for p in [*whole._cache.values(), *whole._old.values()])
    thin = sum(whole._weight(p) for p in whole._sparse.values())
    assert dense and thin > dense // 4  # both kinds, and the sparse ones do not fit beside the dense
    read: list[bytes] = []

    class Counting:
        def get(self, key: bytes) -> bytes | None:
            read.append(key)
            return kv.get(key)

    nodes = CachedNodes(Counting(), max_bytes=dense + thin // 4)
    for _ in range(2):
        for kh in keys:
            Trie(nodes).prove(kh)
        _consistent(nodes)
        assert nodes.weight <= nodes._max
    read.clear()
    for kh in keys:
        Trie(nodes).prove(kh)
    sparse_keys = {position(*k) for k in whole._sparse}
    assert read and set(read) <= sparse_keys


@pytest.mark.parametrize("bound", [1 << 40, 10])
def test_a_query_reading_while_a_commit_lands_keeps_the_committed_page(bound: int) -> None:
    """A proof query misses on a page and reads its previous bytes from the store; before it stores the decoded
    page, the commit thread writes the next block and applies its pages. The cache must keep the committed
    page, so the next block builds on it (the app hash of a node that kept the query's copy would differ)."""
    kv = MemoryKV()
    keys = [H(b"%d" % i) for i in range(2_000)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    armed: list[dict[bytes, bytes | None]] = []

    class Racing:
        def get(self, key: bytes) -> bytes | None:
            before = kv.get(key)
            while armed:  # the commit lands while this read is in flight
                _commit(kv, nodes, armed.pop())
            return before

    nodes = CachedNodes(Racing(), max_bytes=bound) if bound > 100 else CachedNodes(Racing(), max_entries=bound)
    for i, kh in enumerate(keys[:60]):
        changes: dict[bytes, bytes | None] = {kh: H(b"new%d" % i), keys[-1 - i]: None}
        if i % 3 == 0:
            nodes.clear()  # the query then misses at the root page, which every commit changes
        armed.append(changes)
        Trie(nodes).prove(kh)  # the query whose miss races the commit (if it misses)
        if armed:  # it did not miss: the commit comes after it
            _commit(kv, nodes, armed.pop())
        _consistent(nodes)
        fresh = Trie(kv)
        cached = Trie(nodes)
        assert cached.root() == fresh.root()
        assert cached.prove(kh) == fresh.prove(kh)
        nxt = {H(b"next%d" % i): H(b"x")}  # the next block builds on what the cache holds
        assert Trie(nodes).update(nxt) == Trie(kv).update(nxt)


def test_drifted_counts_recover() -> None:
    """A read racing another thread's may count a page twice: an eviction with nothing held starts the counts
    again, and a rotation counts the old generation again (no endless eviction, no bound lost)."""
    kv = MemoryKV()
    keys = [H(b"%d" % i) for i in range(500)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    nodes = CachedNodes(kv, max_entries=20)
    nodes._young = 10_000  # as if counted twice many times over, with nothing held
    Trie(nodes).prove(keys[0])
    _consistent(nodes)
    for kh in keys[:200]:
        Trie(nodes).prove(kh)
        nodes._young += 1  # drift on every read
        assert len(nodes) <= 21
    Trie(nodes).prove(keys[300])
    assert nodes._held == sum(nodes._weight(p) for p in nodes._old.values())


@pytest.mark.parametrize("bound", [1 << 40, 10, 3])
def test_a_shared_view_reads_the_cache_and_never_changes_it(bound: int) -> None:
    """Proof queries read through `CachedNodes.shared()` on another thread than the commit's: they answer what
    the cache and the store hold, and leave the cache's dicts exactly as they were, even when a commit lands
    (and evicts the page it applied: a tiny bound) while a query's store read is in flight."""
    kv = MemoryKV()
    keys = [H(b"%d" % i) for i in range(1_000)]
    _commit(kv, CachedNodes(kv), {kh: H(kh) for kh in keys})
    armed: list[dict[bytes, bytes | None]] = []

    class Racing:
        def get(self, key: bytes) -> bytes | None:
            before = kv.get(key)
            while armed:  # the commit lands while the query's read is in flight
                _commit(kv, nodes, armed.pop())
            return before

    nodes = CachedNodes(Racing(), max_bytes=bound) if bound > 100 else CachedNodes(Racing(), max_entries=bound)
    for kh in keys[:40]:
        Trie(nodes).prove(kh)  # the commit thread's own reads warm the cache
    for i, kh in enumerate(keys[:40]):
        held = (dict(nodes._cache), dict(nodes._old), dict(nodes._sparse))
        counts = (nodes._young, nodes._held, nodes._thin)
        proof = Trie(nodes.shared()).prove(kh)
        assert (dict(nodes._cache), dict(nodes._old), dict(nodes._sparse)) == held
        assert (nodes._young, nodes._held, nodes._thin) == counts
        assert proof == Trie(kv).prove(kh)
        armed.append({kh: H(b"new%d" % i), keys[-1 - i]: None})
        # a miss (if any) runs the commit inside its store read; the query may then see the older trie above and
        # the newer below: its own answer fails (TrieLayoutError), nothing else does
        with contextlib.suppress(TrieLayoutError):
            Trie(nodes.shared()).prove(keys[-1 - i])
        if armed:
            _commit(kv, nodes, armed.pop())
        _consistent(nodes)
        nxt = {H(b"next%d" % i): H(b"x")}  # the next block builds on what the cache holds
        assert Trie(nodes).update(nxt) == Trie(kv).update(nxt)
