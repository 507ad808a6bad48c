"""The in-memory page (state/trie_page.py: hash cells, the slots' record lengths, the stored form): a frozen page
is never written again, though the next block's copies share its record lengths until they change shape and it
keeps the bytearrays it was changed in; every page a block leaves (changed in place or in shape) is the page its
stored form decodes to; and bytes that are not a page are refused with `TrieLayoutError`, whatever they are."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import MemoryKV
from state.trie import CachedNodes, Trie, position
from state.trie_page import TrieLayoutError, decode_page, encode_page, page_base_bytes
from tests.state.test_trie_pages import POOL, H, check, persist


def snapshot(nodes: CachedNodes) -> dict[tuple[int, int], tuple[object, ...]]:
    """The cached pages with a copy of their contents."""
    pages = {**nodes._old, **nodes._cache}
    return {key: (pg, None if pg is None else tuple(bytes(x) if not isinstance(x, int) else x for x in pg))
            for key, pg in pages.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.integers(0, len(POOL) - 1), st.one_of(st.none(), st.integers(0, 3)), max_size=30),
                min_size=2, max_size=8), st.integers(1, 5))
def test_frozen_pages_are_never_written_and_decode_to_themselves(blocks: list[dict[int, int | None]],
                                                                 levels: int) -> None:
    kv = MemoryKV()
    nodes = CachedNodes(kv, levels=levels)
    state: dict[bytes, bytes] = {}
    for ops in blocks:
        before = snapshot(nodes)
        changes = {POOL[i]: None if v is None else H(b"v%d" % v) for i, v in ops.items()}
        t = Trie(nodes)
        root = t.update(changes)
        for kh, vh in changes.items():
            if vh is None:
                state.pop(kh, None)
            else:
                state[kh] = vh
        persist(kv, nodes, t)
        for pg, contents in before.values():  # the pages the block's Trie copied are as they were
            if pg is not None:
                assert tuple(bytes(x) if not isinstance(x, int) else x for x in pg) == contents
        for (d, p), pg in t.changes.items():
            if pg is not None:
                raw = kv.get(position(d, p))
                assert raw == encode_page(pg, levels) == pg[3]
                assert pg == decode_page(raw, levels)
                assert pg[0] == page_base_bytes(levels) + len(raw)
        check([Trie(nodes), Trie(CachedNodes(kv, levels=levels))], state, root)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 5))
def test_bytes_that_are_not_a_page_are_refused(raw: bytes, levels: int) -> None:
    try:
        page = decode_page(raw, levels)
    except TrieLayoutError:
        return
    assert page[3] == raw == encode_page(page, levels)


def test_a_truncated_page_is_refused() -> None:
    kv = MemoryKV()
    t = Trie(kv)
    t.update({H(b"%d" % i): H(b"v") for i in range(100)})
    raw = next(raw for raw in t.writes.values() if raw is not None)
    for cut in (1, 20, 32, 64):  # not at a record's end (records are 1, 33 or 65 bytes)
        with pytest.raises(TrieLayoutError):
            decode_page(raw[:-cut], 4)
