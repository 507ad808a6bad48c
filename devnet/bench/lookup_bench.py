"""Micro-benchmark of the index's lookups on a real LevelDB, CPU per lookup: what `tx` and `tx_search` cost the
node below the HTTP layer.

    python -m devnet.bench.lookup_bench                        # 20 blocks x 1,000 txs of the realistic mix
    python -m devnet.bench.lookup_bench --blocks 40 --txs 500 --lookups 20000

Why: since session 7 a tx record (`ix/th`) is a pointer (height, index) into the block store, so `tx` reads
the block and its results and unpacks one tx and one result of them (node/indexer.py); before, the record
held both. This measures the price of that per lookup, and of a `tx_search` page (which reads each block
once for the page). The database is written through the node's own commit path (BlockStore.save_block, then
`NodeApp.finalize`, the index, `save_results` and the app's commit in one batch, as node/applier.py), closed
and reopened, so reads come from LevelDB's tables as on a node that restarted. Rows:

    get_tx           a random committed tx by hash (what `tx` does before its JSON), each of another block than
                     the last few looked up (the indexer keeps the last few blocks it read: node/indexer.py)
    get_tx latest    a random tx of the latest block (a client confirming its tx)
    tx.hash search   `search_txs("tx.hash='…'")` (a search by hash reads the record, no block)
    page of N        `search_txs` of one block's height, then the records of the first N hits (`tx_search`'s
                     page, N = 30 as CometBFT's default and 100, its largest)
    by attribute     `search_txs` of an indexed attribute of a random tx (its first: a guarantee's or a
                     request's id, a handful of hits), then the records of its hits (up to 30)

For an A/B, copy this file into an older tree and run it there (`python -m` from inside that tree; it falls
back to a `get_tx` per hash where `get_txs` does not exist). Best of `--repeat` rounds, CPU time
(`time.process_time`): the machine is shared. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from devnet.bench.results_bench import make_blocks
from node.blockstore import BlockStore
from node.indexer import Indexer
from node.nodeapp import NodeApp
from node.rpc.query import parse_query
from state.abci import Application, RequestInitChain, ValidatorUpdate
from state.chain import Commit
from state.kv_level import LevelKV
from state.workload import Workload


def build(path: str, n_blocks: int, n_txs: int, seed: int) -> list[list[bytes]]:
    """Commit the blocks into a fresh database at `path`; returns each block's tx hashes."""
    wl = Workload(seed=seed)
    blocks = make_blocks(n_blocks, n_txs, seed)
    root = LevelKV(path)
    try:
        app = Application(root.prefixed(b"app/"))
        vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
        app.init_chain(RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode()))
        node_app = NodeApp(app)
        store = BlockStore(root)
        indexer = Indexer(root, b"ix/")
        hashes: list[list[bytes]] = []
        for block in blocks:
            store.save_block(block, Commit(block.header.height, 0, block.block_id(), ()))
            r = node_app.finalize(block, ())
            batch = root.batch()
            indexer.index_chain_block(batch, block, r)
            store.save_results(block.header.height, r, batch)
            batch.commit(sync=False)
            node_app.commit()
            hashes.append(list(block.tx_hashes()))
        return hashes
    finally:
        root.close()


def cpu_per_call(fn: Callable[[Any], object], args: list[Any], repeat: int) -> float:
    """Best of `repeat` rounds of CPU microseconds per call of `fn` over `args`."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for a in args:
            fn(a)
        best = min(best, time.process_time() - t0)
    return 1e6 * best / len(args)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=20, help="at least 6 for the get_tx row's round robin")
    ap.add_argument("--txs", type=int, default=1_000, help="transactions per block")
    ap.add_argument("--lookups", type=int, default=5_000, help="random hashes looked up per round")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="lookup-bench-")
    try:
        per_block = build(tmp + "/db", args.blocks, args.txs, args.seed)
        hashes = [h for hs in per_block for h in hs]
        root = LevelKV(tmp + "/db")
        try:
            ix = Indexer(root, b"ix/")
            get_txs: Callable[[list[bytes]], list[Any]] = getattr(
                ix, "get_txs", lambda hs: [ix.get_tx(h) for h in hs])
            rnd = random.Random(args.seed)
            picks = [rnd.choice(hashes) for _ in range(args.lookups)]
            # a tx of another block each time (round robin: never one of the last few blocks read) / of the
            # latest block each time
            spread = [rnd.choice(per_block[i % len(per_block)]) for i in range(args.lookups)]
            latest = [rnd.choice(per_block[-1]) for _ in range(args.lookups)]
            heights = [rnd.randint(1, args.blocks) for _ in range(max(10, args.lookups // 100))]
            queries = [parse_query(f"tx.hash='{h.hex().upper()}'") for h in picks[: args.lookups // 5]]
            attrs = []
            for h in picks[: args.lookups // 5]:
                rec = ix.get_tx(h)
                found = [(e.type, a.key, a.value) for e in rec.result.events for a in e.attributes
                         if a.index and "'" not in a.value] if rec is not None else []
                if found:
                    attrs.append(parse_query("{}.{}='{}'".format(*found[0])))

            def by_attribute(q: Any) -> object:
                return get_txs([h for _, _, h in ix.search_txs(q)[:30]])

            def page(n: int) -> Callable[[int], object]:
                def run(height: int) -> object:
                    hits = ix.search_txs(parse_query(f"tx.height={height}"))
                    return get_txs([h for _, _, h in hits[:n]])
                return run

            assert all(r is not None for r in get_txs(picks[:50]))
            rows = {"get_tx": cpu_per_call(ix.get_tx, spread, args.repeat),
                    "get_tx latest": cpu_per_call(ix.get_tx, latest, args.repeat),
                    "tx.hash search": cpu_per_call(ix.search_txs, queries, args.repeat),
                    "page of 30": cpu_per_call(page(30), heights, args.repeat),
                    "page of 100": cpu_per_call(page(100), heights, args.repeat),
                    "by attribute": cpu_per_call(by_attribute, attrs, args.repeat)}
        finally:
            root.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(hashes):,} txs in {args.blocks} blocks; CPU us per lookup (best of {args.repeat}, LevelDB):")
    for k, v in rows.items():
        print(f"  {k:16s} {v:9.1f}")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
