"""Collector A/B: the cyclic collector's CPU per tx and its pauses, for several threshold settings, in turns.

    python -m devnet.bench.app_bench --agencies 200 --suppliers 2000 --instruments 50000 \\
        --template /tmp/tpl --no-fresh --blocks 1          # builds the template state once (as commit_ab's)
    python -m devnet.bench.gc_ab --template /tmp/tpl --settings 50000,20,100 200000,20,100 --rounds 6
    python -m devnet.bench.gc_ab --template /tmp/tpl --settings 50000,20,100 --probe   # what the passes walk
    python -m devnet.bench.gc_ab --page-cost      # a young pass's price of a new trie page (no state needed)

Why: node/gctune.py's thresholds trade the collector's CPU (each young pass walks what survived since the last
one) against the length of its pauses (a pass stops the thread that triggers it, which may be the event loop).
Neither shows in a py-spy profile as such, and a network run on this shared machine is too noisy to see a few
us a tx. Here a node's two block-rate paths run in one thread, on a copy of a bulk-loaded state, the same blocks
for every setting: per block, the block's txs through `check_tx` (the mempool's admission: decoding, Ed25519,
the ante checks; "check" below, egp-verify and the loop in a node), then the commit thread's path (`NodeApp.finalize`,
the index and results, the app's commit, the synced write: as devnet/bench/commit_ab.py; "commit").
Every collection is timed with `gc.callbacks` (thread CPU and wall time, its generation, and the phase that
triggered it, i.e. the thread that would pay it in a node).

The application has a node's cache sizes, and the warm-up blocks fill its signature cache: a node's steady
state, where the caches evict as much as they add, so the young count (allocations minus deallocations) grows
with what a block keeps and its transient peaks, not with caches filling up.
Turns: each (round, setting) is a fresh process on a fresh copy of the template (settings cannot be switched
block by block in one process: the young count carried over from one setting triggers the next one's first
pass); the settings' order rotates each round, so slow spells of the shared machine fall on all of them. The
blocks are generated and signed once and kept in `--cache` (they are the same for all runs). The thresholds
reach the worker through EGP_GC_THRESHOLDS (node/gctune.py), i.e. the code path a node runs.
A run ends with a forced young pass, counted in `all` and `gc` (and apart as `gc_final`): what survived since the
last pass is walked once whenever the next pass comes, and a run of a few dozen blocks may see no pass at all with
a high threshold. Prints per setting the medians over rounds of: CPU per tx (check, commit, all), the
collector's CPU per tx (all, by phase and generation, the final pass), the young count's growth per block (the
pass interval is the threshold over it), the number of passes per block and the pause quantiles (thread CPU, ms;
the final pass not among them), and the worst pause. `--probe`: one run of the first setting, counting by type
what the passes walk (objects and references) and whether the trie cache's committed pages are still tracked.
Prints numbers, asserts nothing but that every run ends on the same app hash.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_WORKER = r'''
import gc, json, os, pickle, resource, shutil, sys, tempfile, threading, time
from collections import Counter
from pathlib import Path
from node.blockstore import BlockStore
from node.indexer import Indexer
from node.nodeapp import NodeApp
from state.abci import Application, RequestCheckTx
from state.chain import Block, BlockID, Commit, Header, PartSetHeader
from state.crypto import sha256
from state.kv_level import LevelKV

tpl, cache, warm, probe = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
chain_id, stamped = pickle.loads(cache.read_bytes())
tmp = Path(tempfile.mkdtemp(prefix="egp-gc-ab-"))
try:
    shutil.copytree(tpl / "db", tmp / "db")
    kv = LevelKV(tmp / "db")
    app = Application(kv.prefixed(b""))  # the node's cache sizes (node/assemble.py)
    node_app = NodeApp(app)
    store = BlockStore(kv)
    indexer = Indexer(kv, b"zix/")
    z = b"\x00" * 32
    blocks = []
    for h, (t, txs) in enumerate(stamped, start=app.height + 1):
        hdr = Header(11, 1, chain_id, h, t, BlockID(sha256(b"%d" % h), PartSetHeader(1, z)), z, z, z, z, z, b"",
                     z, z, b"\x01" * 20)
        blocks.append(Block(hdr, tuple(txs), (), Commit.empty()))
    tt = time.thread_time
    phase = ["warm"]
    passes = []  # (phase, generation, cpu s, wall s, objects walked or -1)
    start = [0.0, 0.0]
    walked = Counter()
    refs = Counter()

    def on_gc(what, info):
        if what == "start":
            if probe and phase[0] != "warm":
                n = info["generation"]
                for o in gc.get_objects(n) if n < 2 else gc.get_objects():
                    k = type(o).__name__
                    if k == "tuple" and len(o) == 64:
                        k = "tuple[64] (trie page)"
                    walked[k] += 1
                    refs[k] += len(gc.get_referents(o))
            start[0], start[1] = tt(), time.perf_counter()
        else:
            passes.append((phase[0], info["generation"], tt() - start[0], time.perf_counter() - start[1]))

    def run(block):
        measured = phase[0] != "warm"
        if measured:
            phase[0] = "check"
        t0 = tt()
        for raw in block.txs:
            app.check_tx(RequestCheckTx(raw))
        t1 = tt()
        if measured:
            phase[0] = "commit"
        r = node_app.finalize(block, ())
        batch = kv.batch()
        indexer.index_chain_block(batch, block, r)
        store.save_results(block.header.height, r, batch)
        node_app.commit(batch)
        batch.commit(sync=True)
        return t1 - t0, tt() - t1

    for block in blocks[:warm]:
        run(block)
    from node.gctune import tune_for_node
    tune_for_node()
    gc.callbacks.append(on_gc)
    phase[0] = "check"
    rows = []
    for block in blocks[warm:]:
        c, m = run(block)
        rows.append((len(block.txs), c, m, gc.get_count()[0]))
    phase[0] = "final"
    gc.collect(0)  # what survived since the last pass is walked once whenever a pass comes: charged here
    gc.callbacks.remove(on_gc)
    out = {"threshold": gc.get_threshold(), "rows": rows, "passes": passes,
           "app_hash": app.app_hash.hex()[:16], "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if probe:
        pages = [p for d in (app.nodes._cache, app.nodes._old) for p in d.values() if p is not None]
        out["pages"] = len(pages)
        out["pages_tracked"] = sum(map(gc.is_tracked, pages))
        out["walked"] = walked.most_common(15)
        out["refs"] = refs.most_common(15)
    print(json.dumps(out), flush=True)
    kv.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
'''


def page_cost(pages: int = 9_000, rounds: int = 3) -> None:
    """What a young pass pays for new trie pages: `pages` 64-slot tuples of distinct 32-byte hashes (as state/trie.py's
    committed pages; scattered in memory, as a trie's are) against as many pages held as one bytes object each.
    Each tuple's items are read three times (two walks of the pass and the untracking of the tuple after it)."""
    gc.disable()
    try:
        for _ in range(rounds):
            for blob in (False, True):
                pool = [os.urandom(32) for _ in range(pages * 64)]
                random.shuffle(pool)
                gc.collect()
                kept: list[object] = [(0, b"".join(pool[i * 64:(i + 1) * 64])) if blob else
                                      tuple(pool[i * 64:(i + 1) * 64]) for i in range(pages)]
                t0 = time.thread_time()
                gc.collect(0)
                dt = time.thread_time() - t0
                print(f"{'one bytes object' if blob else '64-slot tuple':>16} a page: young pass {1e3 * dt:6.1f} ms "
                      f"for {len(kept):,} new pages")
    finally:
        gc.enable()


def _blocks(args: argparse.Namespace) -> Path:
    """The workload's blocks (signed txs and their times), generated once per (blocks, txs, population)."""
    path: Path = args.cache / f"blocks-{args.agencies}-{args.suppliers}-{args.warm + args.blocks}x{args.txs}.pkl"
    if not path.exists():
        from state.workload import Workload
        wl = Workload(seed=1, n_agencies=args.agencies, n_suppliers=args.suppliers)
        stamped = [(t, list(txs)) for t, txs in wl.blocks(args.warm + args.blocks, args.txs, block_ms=600_000)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps((wl.chain_id, stamped)))
    return path


def _run(args: argparse.Namespace, setting: str, cache: Path, probe: bool) -> dict[str, Any]:
    env = dict(os.environ, EGP_GC_THRESHOLDS=setting)
    out = subprocess.run([sys.executable, "-c", _WORKER, str(args.template), str(cache), str(args.warm),
                          "1" if probe else "0"], env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _q(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _figures(r: dict[str, Any]) -> dict[str, float]:
    """One run's figures: us per tx, passes per block, pause quantiles in ms."""
    ntx = sum(row[0] for row in r["rows"])
    blocks = len(r["rows"])
    f: dict[str, float] = {
        "check": 1e6 * sum(row[1] for row in r["rows"]) / ntx,
        "commit": 1e6 * sum(row[2] for row in r["rows"]) / ntx,
    }
    counts = [row[3] for row in r["rows"]]
    grew = [b - a for a, b in itertools.pairwise(counts) if b >= a]  # (a block with a pass in it left out)
    f["count_per_block"] = statistics.median(grew) if grew else 0.0
    final = sum(p[2] for p in r["passes"] if p[0] == "final")
    f["all"] = f["check"] + f["commit"] + 1e6 * final / ntx
    cpu = [p[2] for p in r["passes"] if p[0] != "final"]
    f["gc"] = 1e6 * (sum(cpu) + final) / ntx
    f["gc_final"] = 1e6 * final / ntx
    for ph in ("check", "commit"):
        f[f"gc_{ph}"] = 1e6 * sum(p[2] for p in r["passes"] if p[0] == ph) / ntx
    for g in (0, 1, 2):
        f[f"gc_g{g}"] = 1e6 * sum(p[2] for p in r["passes"] if p[1] == g) / ntx
        f[f"n_g{g}"] = sum(1 for p in r["passes"] if p[1] == g) / blocks
    f["p50_ms"] = 1e3 * _q(cpu, 0.5)
    f["p90_ms"] = 1e3 * _q(cpu, 0.9)
    f["max_ms"] = 1e3 * max(cpu, default=0.0)
    f["max_wall_ms"] = 1e3 * max((p[3] for p in r["passes"]), default=0.0)
    f["rss_mib"] = r["maxrss_kib"] / 1024
    return f


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", type=Path, help="a state built by app_bench --template")
    ap.add_argument("--settings", nargs="+", default=["50000,20,100", "200000,20,100"],
                    help="young,middle,old thresholds (as EGP_GC_THRESHOLDS)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=20, help="measured blocks per run")
    ap.add_argument("--warm", type=int, default=12,
                    help="blocks before the collector is set, not measured (the signature cache fills in 10)")
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--agencies", type=int, default=200, help="as the template was built")
    ap.add_argument("--suppliers", type=int, default=2_000, help="as the template was built")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/egp-gc-ab"), help="where the signed blocks are kept")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--page-cost", action="store_true", help="only price new trie pages in a young pass (no state)")
    ap.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = ap.parse_args(argv)
    if args.page_cost:
        page_cost()
        return
    if args.template is None:
        ap.error("--template is required")
    cache = _blocks(args)
    if args.probe:
        r = _run(args, args.settings[0], cache, True)
        print(json.dumps({k: r[k] for k in ("threshold", "pages", "pages_tracked", "walked", "refs")}, indent=1))
        print(json.dumps(_figures(r)))
        return
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in args.settings}
    hashes = set()
    for i in range(args.rounds):
        order = args.settings[i % len(args.settings):] + args.settings[:i % len(args.settings)]
        for s in order:
            r = _run(args, s, cache, False)
            hashes.add(r["app_hash"])
            runs[s].append(_figures(r))
            f = runs[s][-1]
            print(f"round {i} {s:>16}: all {f['all']:6.1f} gc {f['gc']:5.1f} us/tx, max pause {f['max_ms']:.0f} ms",
                  file=sys.stderr, flush=True)
    if len(hashes) != 1:
        raise SystemExit(f"runs ended on different app hashes: {sorted(hashes)}")
    keys = list(next(iter(runs.values()))[0])
    print(f"{'setting':>16} " + " ".join(f"{k:>11}" for k in keys))
    for s, fs in runs.items():
        print(f"{s:>16} " + " ".join(f"{statistics.median(f[k] for f in fs):11.2f}" for k in keys))
    print(f"medians of {args.rounds} rounds x {args.blocks} blocks of {args.txs} txs; load "
          f"{Path('/proc/loadavg').read_text().split()[0]}; us per tx, passes per block, pause ms (thread CPU)")
    if args.json:
        args.json.write_text(json.dumps(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
