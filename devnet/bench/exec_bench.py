"""Execution A/B: the CPU of a block's tx loop (begin_block + `Application._deliver` per tx), two trees taking turns.

    python -m devnet.bench.app_bench --agencies 200 --suppliers 2000 --instruments 50000 \\
        --template /tmp/tpl --no-fresh --blocks 1          # builds the template state once
    python -m devnet.bench.exec_bench --template /tmp/tpl --base a8de60d --rounds 60

Each tree (this one, and `--base REV` checked out in a temporary git worktree) runs in a process of its own that
loads a copy of the template, commits 3 + `--blocks` - 1 workload blocks, check_tx's the last block's txs (so
their signatures are verified, as in a node's mempool), sets the node's collector settings and then, on each
request, executes that last block on the same committed state (a fresh block overlay each round, no commit) and
answers the round's thread CPU per tx. The driver asks A and B in turns (ABBA...), so both see the same machine
load, and prints each tree's percentiles and the paired difference B - A per round: on a shared machine the
paired median resolves ~0.5 us/tx where separate runs of app_bench do not resolve 2. It also checks that both
trees give the same results and overlay writes (a digest of codes, logs, events and every pending write).

What it leaves out: Trie.update, commit, the state cache's update, and the collector's young passes over what a
block keeps (a round frees its overlay). Use app_bench for those. Prints numbers, asserts nothing but the digest.
"""

from __future__ import annotations

import argparse
import sys

from devnet.bench.paired_ab import add_tree_args, run_paired

# The worker: run with `python -c` in a tree's directory, so it imports that tree's modules (an older tree has
# no copy of this file). argv: template dir, agencies, suppliers, blocks, txs per block.
_WORKER = r'''
import hashlib, shutil, sys, tempfile, time
from pathlib import Path
from state.abci import Application, RequestCheckTx, RequestFinalizeBlock
from state.crypto import sha256
from state.execute import begin_block
from state.kv_level import LevelKV
from state.store import Ctx, Overlay
from state.workload import Workload

tpl, agencies, suppliers, nblocks, per_block = Path(sys.argv[1]), *map(int, sys.argv[2:6])
tmp = Path(tempfile.mkdtemp(prefix="egp-exec-bench-"))
try:
    shutil.copytree(tpl / "db", tmp / "db")
    kv = LevelKV(tmp / "db")
    wl = Workload(seed=1, n_agencies=agencies, n_suppliers=suppliers)
    app = Application(kv, sig_cache_size=100_000)
    blocks = list(wl.blocks(3, per_block, block_ms=600_000)) + list(wl.blocks(nblocks, per_block, block_ms=600_000))
    for i, (t, txs) in enumerate(blocks[:-1], start=app.height + 1):
        app.finalize_block(RequestFinalizeBlock(txs, i, t))
        app.commit()
    t, txs = blocks[-1]
    for tx in txs:
        app.check_tx(RequestCheckTx(tx))
    hashes = [sha256(raw) for raw in txs]
    params = app.params
    from node.gctune import tune_for_node
    tune_for_node()

    def once():
        overlay = Overlay(app.kv, cache_reads=True, shared=app.cache)
        ctx = Ctx(overlay, t, app.height + 1)
        t0 = time.thread_time()
        begin_block(ctx, [])
        deliver = app._deliver
        res = [deliver(ctx, raw, h, params) for raw, h in zip(txs, hashes)]
        overlay.pack_records()
        return time.thread_time() - t0, res, overlay

    _, res, ov = once()
    d = hashlib.sha256()
    for r in res:
        d.update(repr((r.code, r.log, r.events)).encode())
    for k in sorted(ov.writes):
        d.update(k)
        d.update(ov.writes[k] or b"-")
    print(d.hexdigest()[:16], sum(1 for r in res if r.code == 0), flush=True)
    for _line in sys.stdin:
        dt, _, _ = once()
        print(1e6 * dt / len(txs), flush=True)
    kv.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tree_args(ap)
    ap.add_argument("--blocks", type=int, default=3, help="workload blocks after the 3 warm-up ones; the last "
                                                          "is the measured one")
    args = ap.parse_args(argv)
    worker_args = [str(args.template), str(args.agencies), str(args.suppliers), str(args.blocks), str(args.txs)]
    run_paired(args, _WORKER, worker_args, what="execution", digest="results or writes")


if __name__ == "__main__":
    main(sys.argv[1:])
