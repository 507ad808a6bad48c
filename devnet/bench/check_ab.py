"""Admission A/B: the loop's CPU per tx of the mempool's check (`admit_verified` of the tx the verify thread
decoded, then `check_code` of its bytes, as `node.mempool.Admission` does), two trees taking turns.

    python -m devnet.bench.app_bench --agencies 200 --suppliers 2000 --instruments 20000 \\
        --template /tmp/tpl --no-fresh --blocks 1          # builds the template state once
    python -m devnet.bench.check_ab --template /tmp/tpl --base f63c84e --rounds 60

Each tree (this one, and `--base REV` in a temporary git worktree) runs in a process of its own that loads a
copy of the template, commits 3 warm-up workload blocks and takes the next block's txs. Each round, on request:
a fresh check state (as after a commit), the txs decoded outside the timing (the verify thread's `decode_tx`),
then per tx `admit_verified(dtx)` + `check_code(raw)`; it answers the thread CPU per tx. The driver asks A and
B in turns (ABBA...) and prints each tree's p10 / median and the paired B - A per round. Both trees' verdicts
(code, log per tx) are digested and compared. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys

from devnet.bench.paired_ab import add_tree_args, run_paired

_WORKER = r'''
import hashlib, shutil, sys, tempfile, time
from pathlib import Path
from state.abci import Application, RequestFinalizeBlock
from state.kv_level import LevelKV
from state.store import Overlay
from state.txs import decode_tx
from state.workload import Workload

tpl, agencies, suppliers, per_block = Path(sys.argv[1]), *map(int, sys.argv[2:5])
tmp = Path(tempfile.mkdtemp(prefix="egp-check-ab-"))
try:
    shutil.copytree(tpl / "db", tmp / "db")
    kv = LevelKV(tmp / "db")
    wl = Workload(seed=1, n_agencies=agencies, n_suppliers=suppliers)
    app = Application(kv)
    blocks = list(wl.blocks(4, per_block, block_ms=600_000))
    for i, (t, txs) in enumerate(blocks[:-1], start=app.height + 1):
        app.finalize_block(RequestFinalizeBlock(txs, i, t))
        app.commit()
    _, txs = blocks[-1]
    from node.gctune import tune_for_node
    tune_for_node()

    def once():
        app._check = Overlay(app.kv, cache_reads=True, shared=app.cache)  # as commit leaves it
        dtxs = [decode_tx(raw) for raw in txs]  # the verify thread's work, not timed
        admit, check = app.admit_verified, app.check_code
        t0 = time.thread_time()
        out = []
        for raw, dtx in zip(txs, dtxs):
            admit(dtx)
            out.append(check(raw))
        return time.thread_time() - t0, out

    _, res = once()
    d = hashlib.sha256(repr(res).encode())
    print(d.hexdigest()[:16], sum(1 for c, _ in res if c == 0), flush=True)
    for _line in sys.stdin:
        dt, _ = once()
        print(1e6 * dt / len(txs), flush=True)
    kv.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tree_args(ap)
    args = ap.parse_args(argv)
    run_paired(args, _WORKER, [str(args.template), str(args.agencies), str(args.suppliers), str(args.txs)],
               what="admission check", digest="verdicts")


if __name__ == "__main__":
    main(sys.argv[1:])
