"""Commit-path A/B: the commit thread's CPU per tx for a block, finalize to synced write, two trees taking turns.

    python -m devnet.bench.app_bench --agencies 200 --suppliers 2000 --instruments 50000 \\
        --template /tmp/tpl --no-fresh --blocks 1          # builds the template state once (as exec_bench's)
    python -m devnet.bench.commit_ab --template /tmp/tpl --base REV --rounds 40

Why beside exec_bench: exec_bench re-runs one block's tx loop on the same state and leaves out what follows it
(`Trie.update`, the app's commit, the node's results and index, the synced LevelDB write) and the collector's
young passes over what a block keeps, i.e. about two thirds of the commit thread (egp-commit). Here each tree's
worker (paired_ab: this tree and `--base REV` in a git worktree) loads a copy of the template and, per round,
commits the round's next workload block through the node's path (`NodeApp.finalize`, `Indexer.index_chain_block`
and `BlockStore.save_results` into one batch, `NodeApp.commit` into it, `Batch.commit(sync=True)`: node/applier.py
step 2-3 without the block save and the state record), after check_tx'ing its txs (signatures cached, as in a
node's mempool; not timed). Both trees commit the same blocks in the same order, so round i of A and of B do the
same work on the same state; the round's figure is this thread's CPU per tx, the collector's passes included
(the node's collector settings, node/gctune.py). The first line compares the app hash after the warm-up blocks;
each worker prints its final app hash on stderr (they must agree).

The state grows by a block a round (`--rounds` blocks after 3 warm-up ones, all generated and signed first: ~0.5
ms a tx). Thread CPU on this shared VM has occasional ms-long jumps (steal time), so read medians. Prints
numbers, asserts nothing but the digest.
"""

from __future__ import annotations

import argparse
import sys

from devnet.bench.paired_ab import add_tree_args, run_paired

# The worker: run with `python -c` in a tree's directory, so it imports that tree's modules. argv: template dir,
# agencies, suppliers, rounds, txs per block.
_WORKER = r'''
import hashlib, shutil, sys, tempfile, time
from pathlib import Path
from node.blockstore import BlockStore
from node.indexer import Indexer
from node.nodeapp import NodeApp
from state.abci import Application, RequestCheckTx
from state.chain import Block, BlockID, Commit, Header, PartSetHeader
from state.crypto import sha256
from state.kv_level import LevelKV
from state.workload import Workload

tpl, agencies, suppliers, rounds, per_block = Path(sys.argv[1]), *map(int, sys.argv[2:6])
tmp = Path(tempfile.mkdtemp(prefix="egp-commit-ab-"))
try:
    shutil.copytree(tpl / "db", tmp / "db")
    kv = LevelKV(tmp / "db")
    app = Application(kv.prefixed(b""), sig_cache_size=100_000)  # the template's app is at the store's root
    node_app = NodeApp(app)
    store = BlockStore(kv)
    indexer = Indexer(kv, b"zix/")  # apart from the app's one-letter namespaces
    wl = Workload(seed=1, n_agencies=agencies, n_suppliers=suppliers)
    z = b"\x00" * 32
    blocks = []
    for h, (t, txs) in enumerate(wl.blocks(3 + rounds, per_block, block_ms=600_000), start=app.height + 1):
        hdr = Header(11, 1, wl.chain_id, h, t, BlockID(sha256(b"%d" % h), PartSetHeader(1, z)), z, z, z, z, z, b"",
                     z, z, b"\x01" * 20)
        blocks.append(Block(hdr, tuple(txs), (), Commit.empty()))
    tt = time.thread_time

    def commit(block):
        for raw in block.txs:
            app.check_tx(RequestCheckTx(raw))
        t0 = tt()
        r = node_app.finalize(block, ())
        batch = kv.batch()
        indexer.index_chain_block(batch, block, r)
        store.save_results(block.header.height, r, batch)
        node_app.commit(batch)
        batch.commit(sync=True)
        return tt() - t0, r

    accepted = 0
    for block in blocks[:3]:
        _, r = commit(block)
        accepted = sum(1 for x in r.tx_results if x.code == 0)
    from node.gctune import tune_for_node
    tune_for_node()
    print(app.app_hash.hex()[:16], accepted, flush=True)
    for block in blocks[3:]:
        if not sys.stdin.readline():
            break
        dt, _ = commit(block)
        print(1e6 * dt / len(block.txs), flush=True)
    print(f"final app hash {app.app_hash.hex()[:16]} at height {app.height}", file=sys.stderr, flush=True)
    kv.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tree_args(ap)
    args = ap.parse_args(argv)
    worker_args = [str(args.template), str(args.agencies), str(args.suppliers), str(args.rounds), str(args.txs)]
    run_paired(args, _WORKER, worker_args, what="commit path", digest="app hash")


if __name__ == "__main__":
    main(sys.argv[1:])
