"""The trie page cache's bound is a node setting (config.toml [storage] trie_cache_mib, passed to the
Application): whatever the bound, from one that holds a few pages to one that holds the whole trie, the
same blocks give the same app hashes and proofs, and the cache holds at most its bound (plus one page)."""

from __future__ import annotations

from hashlib import sha256

from hypothesis import given, settings
from hypothesis import strategies as st

from state.abci import Application, RequestFinalizeBlock
from state.kv import MemoryKV
from state.store import NS_STATE
from state.trie import CACHE_BYTES, Trie
from tests.state.replay import init, make_blocks

SEED, BLOCKS, PER_BLOCK = 11, 12, 40
WL, CHAIN = make_blocks(SEED, BLOCKS, PER_BLOCK)
PAGE_MAX = 40_000  # more than any page's estimate in this state


def _run(app: Application) -> list[bytes]:
    out = [init(app, WL)]
    for h, (t, txs) in enumerate(CHAIN, start=1):
        out.append(app.finalize_block(RequestFinalizeBlock(txs, h, t)).app_hash)
        app.commit()
    return out


REFERENCE_APP = Application(MemoryKV())
REFERENCE = _run(REFERENCE_APP)


def test_the_default_is_the_trie_modules() -> None:
    assert REFERENCE_APP.nodes._max == CACHE_BYTES
    assert len(set(REFERENCE)) > BLOCKS // 2  # the state really changes


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([2_000, 30_000, 200_000, 2_000_000, 64 << 20]))
def test_any_bound_same_app_hashes_and_proofs_within_the_bound(bound: int) -> None:
    app = Application(MemoryKV(), trie_cache_bytes=bound)
    assert _run(app) == REFERENCE
    assert app.nodes.weight <= bound + PAGE_MAX
    ref_trie, trie = Trie(REFERENCE_APP.nodes), Trie(app.nodes)
    records = list(app.kv.iterate(prefix=NS_STATE))
    assert len(records) > 200
    for k, v in records[::7]:
        kh = sha256(k[len(NS_STATE):]).digest()
        assert trie.get_value_hash(kh) == sha256(v).digest()
        assert trie.prove(kh) == ref_trie.prove(kh)
