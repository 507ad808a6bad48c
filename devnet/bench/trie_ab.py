"""A/B micro-benchmark of the state trie: the working tree's state/trie.py against another version of it,
interleaved in one process on identical LevelDB states, with the node's collector settings.

    python -m devnet.bench.trie_ab --keys 200000                    # this tree against HEAD
    python -m devnet.bench.trie_ab --keys 500000 --base 9d2d0b5 --blocks 12
    python -m devnet.bench.trie_ab --keys 200000 --base none --profile /tmp/trie.prof   # this tree alone

Each side has its own LevelDB state (loaded in 20,000-key chunks, as app_bench's `--trie-keys`) and its own
`CachedNodes` (default bound, or `--cache-mib`). Blocks of `--changes` key hashes (80 % updates, 15 % new
keys, 5 % deletes, seeded) are applied to A then B (then B then A, alternating), each as the application
does it: `Trie.update`, `write_items` into one batch, the batch written, `CachedNodes.apply`. Prints the
thread CPU per changed key of each side (update, write_items, LevelDB write, apply, and a young collection
run after each block, so that the objects a side made are walked on its own bill and not in the other side's
next block), the collections that still fell inside a block (gc.callbacks), and checks that both sides give
the same root and the same entries (their order in a batch is free): a change of the trie code must not change
either. Prints numbers; asserts only equality. `--memory-every` prints anonymous RSS against the caches' weight.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from devnet.bench.app_bench import KeyChurn
from devnet.bench.memprobe import proc_status
from state.kv_level import LevelKV


def _load(rev: str, file: str, name: str, into: Path) -> ModuleType | None:
    """`file` as of git revision `rev`, imported as `name` from a copy in `into` (None if the revision has no
    such file)."""
    got = subprocess.run(["git", "show", f"{rev}:{file}"], capture_output=True)
    if got.returncode:
        return None
    path = into / f"{name}.py"
    path.write_bytes(got.stdout)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_version(rev: str, into: Path) -> ModuleType:
    """state/trie.py as of git revision `rev`, imported under another name, with that revision's page module
    (state/trie_page.py, from session 6) when it has one."""
    tag = rev.replace("/", "_")
    page = _load(rev, "state/trie_page.py", f"trie_page_{tag}", into)
    saved = sys.modules.get("state.trie_page")
    if page is not None:
        sys.modules["state.trie_page"] = page  # what the revision's trie.py imports
    try:
        mod = _load(rev, "state/trie.py", f"trie_{tag}", into)
    finally:
        if saved is not None:
            sys.modules["state.trie_page"] = saved
        else:
            sys.modules.pop("state.trie_page", None)
    if mod is None:
        raise SystemExit(f"no state/trie.py at {rev}")
    return mod


class GcClock:
    """CPU time spent in collections (gc.callbacks), by generation."""

    def __init__(self) -> None:
        self.spent = [0.0, 0.0, 0.0]
        self._t0 = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.spent[info["generation"]] += time.thread_time() - self._t0


class Side:
    def __init__(self, name: str, mod: ModuleType, path: Path, cache_bytes: int) -> None:
        self.name, self.mod = name, mod
        self.kv = LevelKV(path)
        self.nodes = mod.CachedNodes(self.kv, max_bytes=cache_bytes)
        self.t = [0.0, 0.0, 0.0, 0.0]
        self.gc = [0.0, 0.0, 0.0]
        self.young = 0.0  # the young collection after each block
        self.keys = 0

    def block(self, changes: dict[bytes, bytes | None], clock: GcClock, count: bool = True) -> tuple[bytes, Any]:
        g0 = list(clock.spent)
        t0 = time.thread_time()
        trie = self.mod.Trie(self.nodes)
        root = trie.update(changes)
        t1 = time.thread_time()
        items = trie.write_items()
        t2 = time.thread_time()
        b = self.kv.batch()
        b.extend(items)
        b.commit(sync=False)
        t3 = time.thread_time()
        self.nodes.apply(trie.changes)
        t4 = time.thread_time()
        g1 = list(clock.spent)
        del trie
        gc.collect(0)  # this side's young objects, walked here: a collection inside the next block would bill
        t5 = time.thread_time()  # the other side for them
        if count:
            for i, v in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                self.t[i] += v
            self.young += t5 - t4
            for i in range(3):
                self.gc[i] += g1[i] - g0[i]
            self.keys += len(changes)
        return root, items

    def report(self) -> str:
        k = max(self.keys, 1)
        us = [1e6 * v / k for v in self.t]
        return (f"{self.name:>8}: {sum(us) + 1e6 * self.young / k:6.1f} us/changed key (update {us[0]:.1f}, "
                f"write_items {us[1]:.1f}, LevelDB write {us[2]:.1f}, apply {us[3]:.1f}, young collection after the "
                f"block {1e6 * self.young / k:.1f}); collections inside the block gen0/1/2 "
                f"{1e6 * self.gc[0] / k:.1f}/{1e6 * self.gc[1] / k:.1f}/{1e6 * self.gc[2] / k:.1f}; "
                f"{len(self.nodes):,} pages cached")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--changes", type=int, default=3_000)
    ap.add_argument("--base", default="HEAD", help="git revision of side A ('none': this tree alone)")
    ap.add_argument("--cache-mib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gc", choices=("default", "node"), default="node")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile of this tree's measured blocks")
    ap.add_argument("--memory-every", type=int, default=0,
                    help="print anonymous RSS and the caches' weight every this many measured blocks (one side: "
                         "--base none): does the process follow the cache's bound?")
    args = ap.parse_args(argv)

    import state.trie as new

    tmp = Path(tempfile.mkdtemp(prefix="trie-ab-"))
    sides = [Side("this", new, tmp / "b", args.cache_mib << 20)]
    if args.base != "none":
        sides.insert(0, Side(args.base, load_version(args.base, tmp), tmp / "a", args.cache_mib << 20))
    clock = GcClock()
    saved = gc.get_threshold()
    churn = KeyChurn(args.seed)

    def run(ch: dict[bytes, bytes | None], count: bool, order: list[Side]) -> None:
        results = {s.name: s.block(ch, clock, count) for s in order}
        (ra, ia), *rest = results.values()
        for rb, ib in rest:
            if rb != ra:
                raise SystemExit(f"the two versions differ in root: {ra.hex()} {rb.hex()}")
            if dict(ib) != dict(ia) or len(ib) != len(ia):  # the same entries (their order in a batch is free)
                raise SystemExit("the two versions differ in the entries they write")

    try:
        t0 = time.process_time()
        for load in churn.load_blocks(args.keys):
            run(load, False, sides)
        print(f"loaded {args.keys:,} keys per side ({time.process_time() - t0:.1f} s CPU)", flush=True)
        if args.gc == "node":
            from node.gctune import tune_for_node
            tune_for_node()
        for r in range(3):
            run(churn.changes(r, args.changes), False, sides)
        prof = None
        if args.profile:
            import cProfile
            prof = cProfile.Profile()
        for r in range(3, 3 + args.blocks):
            order = sides if r % 2 else sides[::-1]
            ch = churn.changes(r, args.changes)
            if prof is not None and len(sides) == 1:
                prof.enable()
            run(ch, True, order)
            if prof is not None:
                prof.disable()
            if args.memory_every and (r - 2) % args.memory_every == 0:
                from node import memtrim

                memtrim.trim()  # as a node does every 2,000 txs
                anon = proc_status().get("RssAnon", 0) / 1024
                w = sum(s.nodes.weight for s in sides) / 2**20
                print(f"block {r - 2:5d}: anonymous RSS {anon:7.1f} MiB, cache {w:6.1f} MiB by its accounting "
                      f"({sum(len(s.nodes) for s in sides):,} pages), RSS - cache {anon - w:6.1f} MiB", flush=True)
        print(f"{args.blocks} blocks x {args.changes:,} changed keys on {args.keys:,} keys, gc {args.gc}, "
              f"cache {args.cache_mib} MiB")
        for s in sides:
            print(s.report())
        if prof is not None:
            prof.dump_stats(str(args.profile))
    finally:
        gc.callbacks.remove(clock._cb)
        if args.gc == "node":  # the collector as it was (a smoke test runs this inside pytest)
            gc.set_threshold(*saved)
            gc.unfreeze()
        for s in sides:
            s.kv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
