"""The trie's incremental update and its node cache: whatever the order, batching and cache bound, the root and
every stored node are those of the same key set built at once (the layout is canonical, so no stale node is
left at a position a later walk could read)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import MemoryKV
from state.proofs import EMPTY
from state.trie import CachedNodes, Trie


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def fresh(state: dict[bytes, bytes]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    kv = MemoryKV()
    t = Trie(kv)
    root = t.update(dict(state))
    b = kv.batch()
    for pos, raw in t.writes.items():
        if raw is not None:
            b.put(pos, raw)
    b.commit()
    return root, list(kv.iterate())


def block(kv: MemoryKV, nodes: CachedNodes, changes: dict[bytes, bytes | None]) -> bytes:
    """One block as the application runs it: update over the shared cache, persist the writes, apply."""
    t = Trie(nodes)
    root = t.update(changes)
    b = kv.batch()
    for pos, raw in t.writes.items():
        b.delete(pos) if raw is None else b.put(pos, raw)
    b.commit()
    nodes.apply(t.changes)
    return root


key_ids = st.integers(0, 60)
ops = st.dictionaries(key_ids, st.one_of(st.none(), st.integers(0, 3)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, min_size=1, max_size=8), st.sampled_from([None, 2, 5, 40]))
def test_incremental_equals_fresh_build(blocks: list[dict[int, int | None]], bound: int | None) -> None:
    kv = MemoryKV()
    nodes = CachedNodes(kv, max_entries=bound)
    state: dict[bytes, bytes] = {}
    for ops_ in blocks:
        changes = {H(b"%d" % k): None if v is None else H(b"v%d" % v) for k, v in ops_.items()}
        root = block(kv, nodes, changes)
        for kh, vh in changes.items():
            if vh is None:
                state.pop(kh, None)
            else:
                state[kh] = vh
        want_root, want_nodes = fresh(state)
        assert root == want_root
        assert list(kv.iterate()) == want_nodes
        assert bound is None or len(nodes) <= bound
    assert (root == EMPTY) == (not state)


def test_cache_bound_holds_and_keeps_answers() -> None:
    kv = MemoryKV()
    nodes = CachedNodes(kv, max_entries=300)
    plain = MemoryKV()
    for b in range(12):
        changes = {H(b"%d" % ((b * 97 + i) % 2_000)): H(b"%d/%d" % (b, i)) for i in range(250)}
        root = block(kv, nodes, changes)
        t = Trie(plain)
        assert root == t.update(changes)
        w = plain.batch()
        for pos, raw in t.writes.items():
            w.delete(pos) if raw is None else w.put(pos, raw)
        w.commit()
        assert len(nodes) <= 300
    assert len(nodes) > 100  # it does cache
    t = Trie(nodes)
    for i in range(0, 2_000, 37):
        assert t.get_value_hash(H(b"%d" % i)) == Trie(plain).get_value_hash(H(b"%d" % i))


def test_default_bound_is_bytes() -> None:
    nodes = CachedNodes(MemoryKV(), max_bytes=64 << 20)
    assert not nodes._by_count and nodes._max == 64 << 20


def test_batch_extend_is_put_and_delete_in_order() -> None:
    ops: list[tuple[bytes, bytes | None]] = [(b"a", b"1"), (b"b", None), (b"a", b"2"), (b"c", b"")]
    one, many = MemoryKV(), MemoryKV()
    for kv in (one, many):
        kv.put(b"nb", b"old")
    b = one.prefixed(b"n").batch()
    b.extend(ops)
    b.prefixed(b"x").extend(ops[:1])
    b.commit()
    b = many.prefixed(b"n").batch()
    for k, v in ops:
        b.delete(k) if v is None else b.put(k, v)
    b.prefixed(b"x").put(b"a", b"1")
    b.commit()
    assert list(one.iterate()) == list(many.iterate()) == [(b"na", b"2"), (b"nc", b""), (b"nxa", b"1")]


def test_write_items_are_the_positions_and_encodings() -> None:
    from state.trie import encode_page, position

    t = Trie(MemoryKV())
    t.update({H(b"%d" % i): H(b"v") for i in range(300)})
    t.update({H(b"%d" % i): None for i in range(0, 300, 3)})
    items = t.write_items()
    assert items == [(position(d, p), None if pg is None else encode_page(pg, t._k))
                     for (d, p), pg in t.changes.items()]
    assert all(d % t._k == 0 for d, _ in t.changes)
