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
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _start(tree: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # `python -c` imports from its working directory: the tree's own modules
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(args.template), str(args.agencies), str(args.suppliers),
         str(args.blocks), str(args.txs)],
        cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", type=Path, required=True, help="a state built by app_bench --template")
    ap.add_argument("--base", default=None, help="a git revision to compare with (B = this tree)")
    ap.add_argument("--tree", type=Path, default=Path.cwd(), help="the tree measured as B (default: here)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=3, help="workload blocks after the 3 warm-up ones; the last "
                                                          "is the measured one")
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--agencies", type=int, default=200, help="as the template was built")
    ap.add_argument("--suppliers", type=int, default=2_000, help="as the template was built")
    args = ap.parse_args(argv)

    trees: dict[str, Path] = {"B": args.tree.resolve()}
    worktree = None
    if args.base is not None:
        worktree = Path(tempfile.mkdtemp(prefix="egp-exec-base-"))
        subprocess.run(["git", "worktree", "add", "-f", "--detach", str(worktree), args.base], cwd=args.tree,
                       check=True, capture_output=True)
        trees = {"A": worktree, "B": args.tree.resolve()}
    try:
        procs = {name: _start(tree, args) for name, tree in trees.items()}
        firsts = {name: (p.stdout.readline().split() if p.stdout else []) for name, p in procs.items()}
        for name, f in firsts.items():
            print(f"{name} ({trees[name]}): results digest {f[0] if f else '?'}, {f[1] if len(f) > 1 else '?'} "
                  f"of {args.txs} accepted")
        if len({tuple(f) for f in firsts.values()}) > 1:
            print("the trees' results or writes DIFFER")
        us: dict[str, list[float]] = {name: [] for name in procs}
        order = list(procs)
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                p = procs[name]
                assert p.stdin is not None and p.stdout is not None
                p.stdin.write("x\n")
                p.stdin.flush()
                us[name].append(float(p.stdout.readline()))
        for p in procs.values():
            assert p.stdin is not None
            p.stdin.close()
            p.wait()
        for name, v in us.items():
            print(f"{name}: execution {_pct(v, 0.1):.2f} / {_pct(v, 0.5):.2f} us per tx (p10 / median of "
                  f"{len(v)} rounds, thread CPU)")
        if "A" in us:
            diff = [b - a for a, b in zip(us["A"], us["B"], strict=True)]
            print(f"B - A paired per round: median {_pct(diff, 0.5):+.2f} us per tx (quartiles "
                  f"{_pct(diff, 0.25):+.2f} / {_pct(diff, 0.75):+.2f})")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=args.tree,
                           capture_output=True)


if __name__ == "__main__":
    main(sys.argv[1:])
