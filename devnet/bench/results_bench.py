"""Micro-benchmark of a block's events and results through the node, stage by stage, CPU per tx:

    BlockStore.save_block (its own synced write) -> NodeApp.finalize -> last_results_hash (update_state's)
    -> Indexer (as node/assemble.py wires it) -> BlockStore.save_results -> the batch's write (LevelDB's log and
    memtable: the commit thread's share of what the batch holds) -> app commit
    -> EventBus.publish_chain_block + the NewBlock JSON one WebSocket subscriber receives

    python -m devnet.bench.results_bench                      # 5 blocks x 1,000 txs of the realistic mix
    python -m devnet.bench.results_bench --blocks 10 --txs 2000 --tx-subscriber

Why: events and results used to be converted five or six times per tx on this path (app records -> node
records -> RPC views, twice -> JSON); since they are one shape (docs/design.md §8) the stages after finalize
are what is left of that cost; with the block's own save and the results hash, the stages other than
`finalize` are the node's own work of the commit thread (+ the event JSON, on the loop). Real application
(state/workload.py txs, from genesis), real LevelDB in a temp dir, the garbage collector on and set as
`egp start` sets it (node/gctune.py; `--gc default` keeps CPython's thresholds, which make every
allocation-heavy stage look several times dearer); `finalize` includes the domain execution and the trie.
For an A/B, copy this file and run it with an older tree as the working directory (`--wiring views` for
trees before 8177667, whose node indexed and published RPC views). Best of `--repeat` per stage, CPU time
(`time.process_time`): the machine is shared. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from node import indexer as indexer_module
from node.blockstore import BlockStore
from node.events import EventBus
from node.indexer import Indexer
from node.nodeapp import NodeApp
from node.rpc import adapt
from node.rpc.websocket import _event_json
from state.abci import Application, RequestInitChain, ValidatorUpdate
from state.chain import Block, BlockID, Commit, FinalizeBlockResult, Header, PartSetHeader, exec_results_hash
from state.crypto import sha256
from state.kv import Batch
from state.kv_level import LevelKV
from state.workload import Workload

STAGES = ("save_block", "finalize", "results_hash", "save_results", "index", "batch_write", "app_commit",
          "newblock_json")


def make_blocks(n_blocks: int, n_txs: int, seed: int) -> list[Block]:
    """Blocks of workload txs (the header's hashes are placeholders: nothing here validates a block)."""
    wl = Workload(seed=seed)
    z = b"\x00" * 32
    out = []
    for h, (t, txs) in enumerate(wl.blocks(n_blocks, n_txs, block_ms=600_000), start=1):
        hdr = Header(11, 1, wl.chain_id, h, t, BlockID(sha256(b"%d" % h), PartSetHeader(1, z)), z, z, z, z, z, b"",
                     z, z, b"\x01" * 20)
        out.append(Block(hdr, tuple(txs), (), Commit.empty()))
    return out


def run_once(seed: int, blocks: list[Block], wiring: str, tx_subscriber: bool) -> dict[str, float]:
    """Seconds of CPU per stage over all blocks, from a fresh genesis."""
    wl = Workload(seed=seed)
    tmp = tempfile.mkdtemp(prefix="results-bench-")
    root = LevelKV(tmp + "/db")
    try:
        app = Application(root.prefixed(b"app/"))
        vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
        app.init_chain(RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode()))
        node_app = NodeApp(app)
        store = BlockStore(root)
        indexer = Indexer(root, b"ix/")
        # the index pass's entries of the attributes a repeat before made (node/indexer.py `_ATTR_KEYS`, by the
        # identity of the application's interned attributes, which outlive a repeat): forgotten, so each repeat
        # meets its blocks' attributes as a node does, the first time (~0.9 new a tx: 4-5 us/tx of the pass)
        getattr(indexer_module, "_ATTR_KEYS", {}).clear()
        bus = EventBus()
        sub = bus.subscribe("bench", "tm.event='NewBlock'")
        txs_sub = bus.subscribe("bench", "tm.event='Tx'") if tx_subscriber else None
        index: Callable[[Batch, Block, FinalizeBlockResult], None]
        publish: Callable[[Block, FinalizeBlockResult], None]
        if wiring == "views":
            def index(batch: Batch, block: Block, result: FinalizeBlockResult) -> None:
                indexer.index_block(batch, block, adapt.block_results(block.header.height, result))

            def publish(block: Block, result: FinalizeBlockResult) -> None:
                bus.publish_block(adapt.block(block), adapt.block_results(block.header.height, result))
        else:
            index, publish = indexer.index_chain_block, bus.publish_chain_block
        acc = dict.fromkeys(STAGES, 0.0)
        fresh = [Block(b.header, b.txs, b.evidence, b.last_commit) for b in blocks]  # (no caches from a run before)
        gc.collect()
        pt = time.process_time
        for block in fresh:
            ts = pt()
            store.save_block(block, Commit(block.header.height, 0, block.block_id(), ()))  # its own synced write
            t0 = pt()
            r = node_app.finalize(block, ())
            t1 = pt()
            exec_results_hash(r.tx_results)  # the next state's last_results_hash (node/statestore.py update_state)
            tr = pt()
            batch = root.batch()
            index(batch, block, r)  # first, as the applier does (its pass also makes the results' bytes)
            t2 = pt()
            store.save_results(block.header.height, r, batch)
            t3 = pt()
            batch.commit(sync=True)
            t4 = pt()
            node_app.commit()
            t5 = pt()
            publish(block, r)
            for s in (sub, txs_sub):
                while s is not None and s.pending():
                    ev = s._queue.popleft()
                    s._bytes -= ev.size
                    _event_json(ev)
            t6 = pt()
            for k, d in zip(STAGES, (t0 - ts, t1 - t0, tr - t1, t3 - t2, t2 - tr, t4 - t3, t5 - t4, t6 - t5),
                            strict=True):
                acc[k] += d
        return acc
    finally:
        root.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--txs", type=int, default=1_000, help="transactions per block")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wiring", choices=("records", "views"), default="records",
                    help="how the node hands results to the indexer and the event bus (views: before 8177667)")
    ap.add_argument("--tx-subscriber", action="store_true", help="also a tm.event='Tx' subscriber")
    ap.add_argument("--gc", choices=("node", "default"), default="node",
                    help="the collector's thresholds: the node's (node/gctune.py) or CPython's")
    args = ap.parse_args(argv)
    if args.gc == "node":
        from node import gctune

        gctune.tune_for_node()
    blocks = make_blocks(args.blocks, args.txs, args.seed)
    n = sum(len(b.txs) for b in blocks)
    best = dict.fromkeys(STAGES, float("inf"))
    for _ in range(args.repeat):
        got = run_once(args.seed, blocks, args.wiring, args.tx_subscriber)
        best = {k: min(best[k], got[k]) for k in STAGES}
    us = {k: round(1e6 * best[k] / n, 2) for k in STAGES}
    after = round(sum(us[k] for k in STAGES if k != "finalize"), 2)
    print(f"{n:,} txs in {len(blocks)} blocks, CPU us per tx (best of {args.repeat}, LevelDB, gc {args.gc}):")
    for k in STAGES:
        print(f"  {k:14s} {us[k]:8.2f}")
    print(f"  {'all but finalize':14s} {after:8.2f}")
    return dict(us, all_but_finalize=after)


if __name__ == "__main__":
    main(sys.argv[1:])
