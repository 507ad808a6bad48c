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
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _start(tree: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # `python -c` imports from its working directory: the tree's own modules
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(args.template), str(args.agencies), str(args.suppliers), str(args.txs)],
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
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--agencies", type=int, default=200, help="as the template was built")
    ap.add_argument("--suppliers", type=int, default=2_000, help="as the template was built")
    args = ap.parse_args(argv)

    trees: dict[str, Path] = {"B": args.tree.resolve()}
    worktree = None
    if args.base is not None:
        worktree = Path(tempfile.mkdtemp(prefix="egp-check-base-"))
        subprocess.run(["git", "worktree", "add", "-f", "--detach", str(worktree), args.base], cwd=args.tree,
                       check=True, capture_output=True)
        trees = {"A": worktree, "B": args.tree.resolve()}
    try:
        procs = {name: _start(tree, args) for name, tree in trees.items()}
        firsts = {name: (p.stdout.readline().split() if p.stdout else []) for name, p in procs.items()}
        for name, f in firsts.items():
            print(f"{name} ({trees[name]}): verdicts digest {f[0] if f else '?'}, {f[1] if len(f) > 1 else '?'} "
                  f"of {args.txs} accepted")
        if len({tuple(f) for f in firsts.values()}) > 1:
            print("the trees' verdicts DIFFER")
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
            print(f"{name}: admission check {_pct(v, 0.1):.2f} / {_pct(v, 0.5):.2f} us per tx (p10 / median of "
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
