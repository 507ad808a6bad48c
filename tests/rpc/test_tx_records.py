"""The tx records as pointers on a real chain (tests/rpc/chain_fixture.py: real blocks, block store and index on
LevelDB, written in one batch as the node does): lookups after a restart, the `tx` / `tx_search` answers, and
pruning the index then the blocks, in `prune_below`'s order."""

from __future__ import annotations

from pathlib import Path

from node.blockstore import BlockStore
from node.indexer import Indexer
from node.rpc.query import parse_query
from state.crypto import sha256
from state.kv_level import LevelKV
from tests.rpc.chain_fixture import FixtureChain
from tests.rpc.conftest import serve


def _grow(chain: FixtureChain) -> dict[bytes, tuple[int, int, bytes]]:
    """Four blocks of txs of several sizes (a bin 8 and a bin 16 tx among them); each tx's (height, index, tx)."""
    want: dict[bytes, tuple[int, int, bytes]] = {}
    for h in range(1, 5):
        txs = [f"k{h}-{i}=".encode() + b"v" * (i * 97) for i in range(h + 2)]
        assert chain.make_block(txs) == h
        want.update({sha256(tx): (h, i, tx) for i, tx in enumerate(txs)})
    return want


def test_lookups_read_the_tx_and_its_result_from_the_block_store_after_a_restart(tmp_path: Path) -> None:
    chain = FixtureChain(tmp_path)
    want = _grow(chain)
    chain.close()
    kv = LevelKV(str(tmp_path / "db"))  # a restarted node: nothing kept in memory
    try:
        ix = Indexer(kv)
        store_results = {h: BlockStore(kv).load_results(h) for h in range(1, 5)}
        recs = ix.get_txs(list(want))
        for rec, (th, (h, i, tx)) in zip(recs, want.items(), strict=True):
            assert rec is not None and (rec.hash, rec.height, rec.index, rec.tx) == (th, h, i, tx)
            results = store_results[h]
            assert results is not None and rec.result == results.tx_results[i]
            assert len(kv.get(b"ix/th" + th) or b"") == 20  # the pointer, not the tx
        assert ix.get_tx(sha256(b"never committed")) is None
        hits = ix.search_txs(parse_query("kv.owner='k3-1'"))
        assert [(h, i) for h, i, _ in hits] == [(3, 1)]
    finally:
        kv.close()


def test_tx_and_tx_search_answer_from_the_pointers(tmp_path: Path) -> None:
    import asyncio
    import base64

    chain = FixtureChain(tmp_path)
    want = _grow(chain)

    async def go() -> None:
        async with serve(chain) as c:
            th, (h, i, tx) = next((k, v) for k, v in want.items() if v[0] == 4 and v[1] == 3)
            got = await c.result("tx", hash=th.hex())
            assert (got["height"], got["index"], got["hash"]) == (str(h), i, th.hex().upper())
            assert got["tx"] == base64.b64encode(tx).decode() and len(tx) > 255  # (a bin 16 tx)
            assert got["tx_result"]["events"][0]["attributes"][0] == {"key": "key", "value": "k4-3", "index": True}
            page = await c.result("tx_search", query="tx.height=4", per_page=3, page=2, order_by="desc")
            assert page["total_count"] == "6" and [t["index"] for t in page["txs"]] == [2, 1, 0]
            assert page["txs"][2]["tx"] == (await c.result("tx", hash=sha256(b"k4-0=").hex()))["tx"]

    try:
        asyncio.run(go())
    finally:
        chain.close()


def test_pruning_the_index_then_the_blocks_leaves_no_pointer_at_a_pruned_block(tmp_path: Path) -> None:
    chain = FixtureChain(tmp_path)
    want = _grow(chain)
    try:
        ix = chain.indexer
        assert all(r is not None for r in ix.get_txs(list(want)))  # (the records read are kept: dropped by prune)
        batch = chain.db.batch()
        assert ix.prune(batch, 3) == 3 + 4
        batch.commit(sync=True)
        assert chain.store.prune(3) == 2  # after the index, as node/blockstore.py prune_below does
        for th, (h, i, tx) in want.items():
            rec = ix.get_tx(th)
            assert (rec is None) if h < 3 else (rec is not None and (rec.height, rec.index, rec.tx) == (h, i, tx))
        assert [h for h, _, _ in ix.search_txs(parse_query("kv.size EXISTS"))] == [3] * 5 + [4] * 6
        left = {k[3:5] + k[5:13] for k, _ in chain.db.iterate(prefix=b"ix/") if k[3:5] in (b"tB", b"bh")}
        assert left == {p + h.to_bytes(8, "big") for p in (b"tB", b"bh") for h in (3, 4)}
    finally:
        chain.close()
