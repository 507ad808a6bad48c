"""The paged trie against a reference built from the hash rules alone (state/proofs.py), for any number of
levels per page: after every block of inserts, updates and deletes the root and every proof equal the
reference's, the stored pages are those of the same key set built at once, and pages read back from the
store (a fresh cache, or LevelDB reopened) give the same root and proofs. Key hashes include near-collisions
(shared prefixes of 50 and 254 bits) so pages are crossed, made and dropped at every depth down to 256."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import MemoryKV, View
from state.kv_level import LevelKV
from state.proofs import EMPTY, TrieProof, bit_at, inner_hash, leaf_hash, verify_proof
from state.trie import PAGE_LEVELS, CachedNodes, Trie, TrieLayoutError, position

# ---------------------------------------------------------------- the reference: hash rules, no storage


def ref_hash(items: list[tuple[bytes, bytes]], depth: int = 0) -> bytes:
    if not items:
        return EMPTY
    if len(items) == 1:
        return leaf_hash(*items[0])
    left = [it for it in items if not bit_at(it[0], depth)]
    right = [it for it in items if bit_at(it[0], depth)]
    return inner_hash(ref_hash(left, depth + 1), ref_hash(right, depth + 1))


def ref_prove(state: dict[bytes, bytes], kh: bytes) -> TrieProof:
    sub = sorted(state.items())
    siblings: list[bytes] = []
    depth = 0
    while len(sub) >= 2:
        bit = bit_at(kh, depth)
        mine = [it for it in sub if bit_at(it[0], depth) == bit]
        siblings.append(ref_hash([it for it in sub if bit_at(it[0], depth) != bit], depth + 1))
        sub, depth = mine, depth + 1
    if sub:
        return TrieProof(tuple(siblings), sub[0][0], sub[0][1])
    return TrieProof(tuple(siblings), b"", b"")


# ---------------------------------------------------------------- keys


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _kh(i: int) -> bytes:
    """Key hash number i of a pool: hashes of real keys, and near-collisions sharing 50 or 254 bits."""
    if i < 40:
        return H(b"%d" % i)
    a, b, c = i % 3, (i // 3) % 4, (i // 12) % 4
    return ((a << 254) | (b << 204) | (0x5A5A << 100) | c).to_bytes(32, "big")


POOL = [_kh(i) for i in range(88)]
values = st.integers(0, 3)
block_ops = st.dictionaries(st.integers(0, len(POOL) - 1), st.one_of(st.none(), values), max_size=30)


def persist(kv: View, nodes: CachedNodes | None, t: Trie) -> None:
    b = kv.batch()
    b.extend(t.write_items())
    b.commit()
    if nodes is not None:
        nodes.apply(t.changes)


def fresh_entries(state: dict[bytes, bytes], levels: int) -> list[tuple[bytes, bytes]]:
    kv = MemoryKV()
    t = Trie(CachedNodes(kv, levels=levels))
    t.update(dict(state))
    persist(kv, None, t)
    return list(kv.iterate())


def check(tries: list[Trie], state: dict[bytes, bytes], root: bytes) -> None:
    assert root == ref_hash(sorted(state.items()))
    for kh in POOL:
        want = ref_prove(state, kh)
        for trie in tries:
            assert trie.prove(kh) == want
            assert trie.get_value_hash(kh) == state.get(kh)
    for trie in tries:
        assert trie.root() == root


@settings(max_examples=50, deadline=None)
@given(st.lists(block_ops, min_size=1, max_size=7), st.integers(1, 5), st.sampled_from([None, 3, 40]))
def test_blocks_equal_the_reference(blocks: list[dict[int, int | None]], levels: int, bound: int | None) -> None:
    kv = MemoryKV()
    nodes = CachedNodes(kv, bound, levels=levels)
    state: dict[bytes, bytes] = {}
    for ops in blocks:
        changes = {POOL[i]: None if v is None else H(b"v%d" % v) for i, v in ops.items()}
        t = Trie(nodes)
        root = t.update(changes)
        for kh, vh in changes.items():
            if vh is None:
                state.pop(kh, None)
            else:
                state[kh] = vh
        pending = [t.prove(kh) for kh in POOL]  # the pending pages (before they are the cache's)
        persist(kv, nodes, t)
        # the cache, and pages read back from the store
        check([Trie(nodes), Trie(CachedNodes(kv, levels=levels))], state, root)
        assert pending == [Trie(nodes).prove(kh) for kh in POOL]
        assert list(kv.iterate()) == fresh_entries(state, levels)  # canonical: nothing stale is left
        assert bound is None or len(nodes) <= bound
        assert all(d % levels == 0 for d, _ in t.changes)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=30), st.lists(st.binary(max_size=8),
                                                                                          max_size=5))
def test_proofs_verify(state: dict[bytes, bytes], absent: list[bytes]) -> None:
    kv = MemoryKV()
    t = Trie(kv)
    root = t.update({H(k): H(v) for k, v in state.items()})
    persist(kv, None, t)
    t = Trie(kv)
    for k, v in state.items():
        assert verify_proof(root, k, v, t.prove(H(k)))
    for k in absent:
        if k not in state:
            assert verify_proof(root, k, None, t.prove(H(k)))


def test_leveldb_reopened_gives_the_same_root_and_proofs(tmp_path: Path) -> None:
    state: dict[bytes, bytes] = {}
    kv = LevelKV(tmp_path / "db")
    nodes = CachedNodes(kv.prefixed(b"t"))
    for b in range(6):
        changes: dict[bytes, bytes | None] = {H(b"k%d" % ((b * 131 + i) % 700)): H(b"%d/%d" % (b, i))
                                              for i in range(300)}
        changes.update({H(b"k%d" % ((b * 17 + i) % 700)): None for i in range(0, 120, 2)})
        for kh in [kh for kh in POOL if kh not in changes][b::6]:
            changes[kh] = H(b"p%d" % b)
        t = Trie(nodes)
        root = t.update(changes)
        persist(kv.prefixed(b"t"), nodes, t)
        for kh, vh in changes.items():
            if vh is None:
                state.pop(kh, None)
            else:
                state[kh] = vh
    kv.close()
    kv = LevelKV(tmp_path / "db")
    try:
        t = Trie(CachedNodes(kv.prefixed(b"t")))
        assert t.root() == root == ref_hash(sorted(state.items()))
        for kh in list(state)[::7] + POOL:
            assert t.prove(kh) == ref_prove(state, kh)
    finally:
        kv.close()


def test_pages_cut_the_entries_written() -> None:
    """A changed key on a 20,000-key trie writes ~log2(N)/k pages, not one entry per level."""
    kv = MemoryKV()
    nodes = CachedNodes(kv)
    t = Trie(nodes)
    t.update({H(b"%d" % i): H(b"v") for i in range(20_000)})
    persist(kv, nodes, t)
    t = Trie(nodes)
    t.update({H(b"5"): H(b"w")})
    assert 3 <= len(t.changes) <= 15 // PAGE_LEVELS + 2


def test_old_layout_is_refused() -> None:
    kv = MemoryKV()
    kv.put(position(0, 0), b"I" + H(b"l") + H(b"r"))  # a node of the layout before pages
    with pytest.raises(TrieLayoutError):
        Trie(kv).root()


def test_cache_bound_in_bytes_is_honest() -> None:
    """The weight the cache counts for its pages is at least what they take (tracemalloc's requested bytes) and at
    most a quarter above (pymalloc's size classes: state/trie.py SLOT_BYTES), and a small byte bound holds."""
    kv = MemoryKV()
    t = Trie(kv)
    keys = [H(b"%d" % i) for i in range(30_000)]
    t.update({kh: H(kh) for kh in keys})
    persist(kv, None, t)
    nodes = CachedNodes(kv, max_bytes=1 << 40)
    reader = Trie(nodes)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for kh in keys:
            reader.prove(kh)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used <= nodes.weight <= 1.25 * used
    small = CachedNodes(kv, max_bytes=200_000)
    reader = Trie(small)
    for kh in keys[:3_000]:
        assert reader.get_value_hash(kh) == H(kh)
        assert small.weight <= 200_000 + 4_000


@settings(max_examples=40, deadline=None)
@given(st.lists(block_ops, min_size=1, max_size=4), st.integers(1, 5))
def test_one_trie_updated_again_writes_what_its_pages_encode_to(blocks: list[dict[int, int | None]],
                                                                 levels: int) -> None:
    """`update` makes a changed page's stored form and memory estimate while it freezes it; a page changed
    again by a later `update` of the same Trie is made again: `write_items` is each final page's encoding,
    and the entries are a fresh build's."""
    from state.trie import encode_page, page_bytes

    kv = MemoryKV()
    t = Trie(CachedNodes(kv, levels=levels))
    state: dict[bytes, bytes] = {}
    for ops in blocks:
        changes = {POOL[i]: None if v is None else H(b"v%d" % v) for i, v in ops.items()}
        t.update(changes)
        for kh, vh in changes.items():
            if vh is None:
                state.pop(kh, None)
            else:
                state[kh] = vh
    items = t.write_items()
    assert [raw for _, raw in items] == [None if pg is None else encode_page(pg, levels) for pg in t.changes.values()]
    for pg in t.changes.values():
        if pg is not None:
            assert pg[0] == page_bytes([None, *pg[1:]], levels)  # the estimate from scratch
    persist(kv, None, t)
    assert list(kv.iterate()) == fresh_entries(state, levels)
