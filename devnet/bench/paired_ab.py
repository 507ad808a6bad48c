"""Two trees taking turns on one measurement: the driver exec_bench and check_ab share.

Why: on a shared machine separate runs of a bench do not resolve a few us per tx; two worker processes (this
tree and `--base REV` in a temporary git worktree) asked in turns (ABBA...) see the same load, and the paired
difference per round does. A worker is a `python -c` script run in its tree's directory (so it imports that
tree's modules): it prints one line `digest accepted` first, then answers each line it reads with the round's
thread CPU in us per tx, and exits when its stdin closes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def add_tree_args(ap: argparse.ArgumentParser) -> None:
    """The options every paired bench takes."""
    ap.add_argument("--template", type=Path, required=True, help="a state built by app_bench --template")
    ap.add_argument("--base", default=None, help="a git revision to compare with (B = this tree)")
    ap.add_argument("--tree", type=Path, default=Path.cwd(), help="the tree measured as B (default: here)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--agencies", type=int, default=200, help="as the template was built")
    ap.add_argument("--suppliers", type=int, default=2_000, help="as the template was built")


def pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))]


def _start(tree: Path, worker: str, worker_args: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # `python -c` imports from its working directory: the tree's own modules
    return subprocess.Popen([sys.executable, "-c", worker, *worker_args], cwd=tree, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def run_paired(args: argparse.Namespace, worker: str, worker_args: list[str], *, what: str, digest: str) -> None:
    """Start the worker in each tree, compare their first lines (`digest` names what they digest), run
    `args.rounds` rounds in turns and print each tree's p10 / median of `what` and the paired B - A."""
    trees: dict[str, Path] = {"B": args.tree.resolve()}
    worktree = None
    if args.base is not None:
        worktree = Path(tempfile.mkdtemp(prefix="egp-paired-base-"))
        subprocess.run(["git", "worktree", "add", "-f", "--detach", str(worktree), args.base], cwd=args.tree,
                       check=True, capture_output=True)
        trees = {"A": worktree, "B": args.tree.resolve()}
    try:
        procs = {name: _start(tree, worker, worker_args) for name, tree in trees.items()}
        firsts = {name: (p.stdout.readline().split() if p.stdout else []) for name, p in procs.items()}
        for name, f in firsts.items():
            print(f"{name} ({trees[name]}): {digest} digest {f[0] if f else '?'}, {f[1] if len(f) > 1 else '?'} "
                  f"of {args.txs} accepted")
        if len({tuple(f) for f in firsts.values()}) > 1:
            print(f"the trees' {digest} DIFFER")
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
            print(f"{name}: {what} {pct(v, 0.1):.2f} / {pct(v, 0.5):.2f} us per tx (p10 / median of "
                  f"{len(v)} rounds, thread CPU)")
        if "A" in us:
            diff = [b - a for a, b in zip(us["A"], us["B"], strict=True)]
            print(f"B - A paired per round: median {pct(diff, 0.5):+.2f} us per tx (quartiles "
                  f"{pct(diff, 0.25):+.2f} / {pct(diff, 0.75):+.2f})")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=args.tree,
                           capture_output=True)
