"""What does the trie page cache's bound cost? Record the application's page accesses once, replay them
through cache policies and bounds offline, and time what a miss costs on the real LevelDB state.

    python -m devnet.bench.trie_cache_sim trace --data /tmp/txs.bin --out /tmp/trace.bin   # memflat's txs file
    python -m devnet.bench.trie_cache_sim sim --trace /tmp/trace.bin --mib 64,128,192,256
    python -m devnet.bench.trie_cache_sim trace --data /tmp/txs.bin --mib 128 --blocks 600    # a bounded run

`trace` runs the application as devnet/bench/memflat.py does (finalize_block + commit block after block on a
fresh LevelDB state, the node's collector settings and malloc_trim pace) with a `CachedNodes` that logs every
page it is asked for and every page a commit makes (position, depth, the page's weight), block by block. The
pages the trie asks for do not depend on what the cache holds, so one trace at an unbounded cache (the
default) is the access stream of every bound. With `--mib N` the cache is bounded as on a node and each miss
(LevelDB get, decode_page) is timed in thread CPU; the run prints, every `--every` blocks, the misses per tx
by depth, the CPU of a miss, the cache's weight, anonymous RSS and the CPU per tx of the process and of the
applying thread alone (the node's commit thread: without LevelDB's compactions).

`sim` replays a trace through the cache policies below at each bound and prints, over the last third of the
blocks (the state of a 5-minute run at its end), the misses per tx by page depth, the weight held, and the
block at which the cache filled (where memory levels off). Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devnet.bench.memflat import _LEN, init_from_data, read_blocks
from devnet.bench.memprobe import proc_status
from state.trie import CachedNodes, Frozen, Pos, encode_page

# trace records: three int64 each
_READ, _APPLY, _BLOCK = 0, 1, 2


class TracingNodes(CachedNodes):
    """`CachedNodes` that logs its reads and commits (trace) and times its misses (thread CPU, ns)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.log = array("q")
        self.logging = True  # off: no trace kept (its ~150 bytes a tx would show in the anonymous RSS)
        self.ids: dict[Pos, int] = {}
        self.depth = array("h")
        self.miss_ns = {"get": 0, "decode": 0}
        self.miss_by_depth: dict[int, int] = {}
        raw_get = self._nodes.get
        clock = time.thread_time_ns

        class Timed:
            def get(_, key: bytes) -> bytes | None:
                t0 = clock()
                got = raw_get(key)
                self.miss_ns["get"] += clock() - t0
                return got

        self._nodes = Timed()

    def _id(self, key: Pos) -> int:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.ids)
            self.depth.append(key[0])
        return i

    def page(self, depth: int, prefix: int) -> Frozen | None:
        key = (depth, prefix)
        cached = key in self._cache or key in self._old or key in getattr(self, "_sparse", ())
        if not cached:
            import state.trie as trie_mod

            real_decode = trie_mod.decode_page
            clock = time.thread_time_ns

            def timed_decode(raw: bytes, levels: int) -> Frozen:
                t0 = clock()
                out = real_decode(raw, levels)
                self.miss_ns["decode"] += clock() - t0
                return out

            trie_mod.decode_page = timed_decode
            try:
                got = super().page(depth, prefix)
            finally:
                trie_mod.decode_page = real_decode
            self.miss_by_depth[depth] = self.miss_by_depth.get(depth, 0) + 1
        else:
            got = super().page(depth, prefix)
        if self.logging:
            self.log.extend((_READ, self._id(key), self._none if got is None else _packed(got, self.levels)))
        return got

    def apply(self, changes: Any) -> None:
        super().apply(changes)
        if not self.logging:
            return
        young, sparse = self._cache, getattr(self, "_sparse", {})  # (sparse pages: CachedNodes from session 7)
        for key in changes:
            got = young[key] if key in young else sparse.get(key)
            self.log.extend((_APPLY, self._id(key), -1 if got is None else _packed(got, self.levels)))

    def block(self, txs: int) -> None:
        if self.logging:
            self.log.extend((_BLOCK, txs, 0))


def _packed(page: Frozen, levels: int) -> int:
    """A trace's weight field: the decoded page's weight, and (since session 8) its stored length << 32."""
    return int(page[0]) | len(encode_page(page, levels)) << 32


def _run_trace(args: argparse.Namespace) -> None:
    from node import gctune, memtrim
    from state.abci import Application, RequestFinalizeBlock
    from state.kv_level import LevelKV
    from state.store import NS_TRIE

    tmp = Path(tempfile.mkdtemp(prefix="egp-trie-sim-", dir=args.dir))
    kv = LevelKV(tmp / "db")
    bound = (1 << 40) if args.mib == 0 else args.mib << 20
    app = Application(kv, trie_cache_bytes=bound)
    nodes = app.nodes = TracingNodes(kv.prefixed(NS_TRIE), max_bytes=bound)
    nodes.logging = args.out is not None
    saved = gc.get_threshold()
    try:
        with args.data.open("rb") as f:
            init_from_data(f, app)
            gctune.tune_for_node()
            done = 0
            c0, th0 = time.process_time(), time.thread_time()
            mark = (0, dict(nodes.miss_by_depth), dict(nodes.miss_ns))
            print(f"{'block':>6} {'txs':>8} {'anon MiB':>8} {'cache MiB':>9} {'pages':>8} {'miss/tx':>7} "
                  f"{'get us':>6} {'dec us':>6} {'miss/tx by depth':<40} {'us/tx':>6} {'thread':>6}", flush=True)
            for h, (t, txs) in enumerate(_limit(read_blocks(f), args.blocks), start=app.height + 1):
                app.finalize_block(RequestFinalizeBlock(txs, h, t))
                app.commit()
                memtrim.after_commit(len(txs))
                nodes.block(len(txs))
                done += len(txs)
                if h % args.every == 0:
                    c1, th1 = time.process_time(), time.thread_time()
                    n = done - mark[0]
                    by = {d: c - mark[1].get(d, 0) for d, c in sorted(nodes.miss_by_depth.items())}
                    misses = sum(by.values())
                    get_us = (nodes.miss_ns["get"] - mark[2]["get"]) / 1e3 / max(1, misses)
                    dec_us = (nodes.miss_ns["decode"] - mark[2]["decode"]) / 1e3 / max(1, misses)
                    depth_s = " ".join(f"{d}:{c / n:.2f}" for d, c in by.items() if c)
                    print(f"{h:6d} {done:8,d} {proc_status().get('RssAnon', 0) / 1024:8.1f} "
                          f"{nodes.weight / 2**20:9.1f} {len(nodes):8,d} {misses / n:7.3f} {get_us:6.1f} "
                          f"{dec_us:6.1f} {depth_s:<40} {1e6 * (c1 - c0) / n:6.0f} "
                          f"{1e6 * (th1 - th0) / n:6.0f}", flush=True)
                    c0, th0 = time.process_time(), time.thread_time()
                    mark = (done, dict(nodes.miss_by_depth), dict(nodes.miss_ns))
        if args.out:
            with args.out.open("wb") as out:
                head = json.dumps({"pages": len(nodes.ids), "none_weight": nodes._none}).encode()
                out.write(_LEN.pack(len(head)) + head)
                nodes.depth.tofile(out)
                nodes.log.tofile(out)
            print(f"trace: {len(nodes.log) // 3:,} events, {len(nodes.ids):,} pages -> {args.out}")
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
        kv.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _limit(it: Iterator[Any], n: int) -> Iterator[Any]:
    for i, x in enumerate(it):
        if n and i >= n:
            return
        yield x


# ---------------------------------------------------------------- simulation
def load_trace(path: Path) -> tuple[array[int], array[int], int]:
    with path.open("rb") as f:
        (ln,) = _LEN.unpack(f.read(4))
        head = json.loads(f.read(ln))
        depth = array("h")
        depth.fromfile(f, head["pages"])
        log = array("q")
        log.frombytes(f.read())
    return depth, log, int(head["none_weight"])


class Policy:
    """A cache of page ids by weight; `read` returns True on a hit."""

    name = "?"

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.weight = 0

    def read(self, pid: int, w: int) -> bool:
        raise NotImplementedError

    def apply(self, pid: int, w: int) -> None:
        raise NotImplementedError


class TwoGen(Policy):
    """CachedNodes' policy as it is: two generations, evict the old one's oldest to 15/16 of the bound."""

    name = "2gen"

    def __init__(self, bound: int, move: bool = False) -> None:
        super().__init__(bound)
        self.young: dict[int, int] = {}
        self.old: dict[int, int] = {}
        self.yw = self.ow = 0
        self.move = move  # a page written again goes to the young generation's end (session 7's fix)

    def _put(self, pid: int, w: int) -> None:
        if pid in self.old:
            self.ow -= self.old.pop(pid)
        if pid in self.young:
            self.yw -= self.young.pop(pid) if self.move else self.young[pid]
        self.young[pid] = w
        self.yw += w

    def read(self, pid: int, w: int) -> bool:
        if pid in self.young:
            return True
        hit = pid in self.old
        self._put(pid, w)
        self._evict()
        return hit

    def apply(self, pid: int, w: int) -> None:
        self._put(pid, w)
        self._evict()

    def _evict(self) -> None:
        target = self.bound - self.bound // 16
        if self.yw + self.ow <= self.bound:
            return
        while self.yw + self.ow > target:
            if not self.old:
                self.old, self.young, self.ow, self.yw = self.young, {}, self.yw, 0
            excess, drop = self.yw + self.ow - target, []
            for pid, w in self.old.items():  # (in one pass, as CachedNodes: deleting from the front one at a
                if excess <= 0:              # time would rescan the deleted slots each time)
                    break
                drop.append(pid)
                excess -= w
            for pid in drop:
                self.ow -= self.old.pop(pid)

    @property
    def held(self) -> int:
        return self.yw + self.ow


class LRU(Policy):
    name = "lru"

    def __init__(self, bound: int) -> None:
        super().__init__(bound)
        self.d: OrderedDict[int, int] = OrderedDict()

    def _put(self, pid: int, w: int) -> None:
        old = self.d.pop(pid, None)
        if old is not None:
            self.weight -= old
        self.d[pid] = w
        self.weight += w
        while self.weight > self.bound:
            _, ow = self.d.popitem(last=False)
            self.weight -= ow

    def read(self, pid: int, w: int) -> bool:
        hit = pid in self.d
        if hit:
            self.d.move_to_end(pid)
        else:
            self._put(pid, w)
        return hit

    def apply(self, pid: int, w: int) -> None:
        self._put(pid, w)

    @property
    def held(self) -> int:
        return self.weight


class Seg(Policy):
    """Two LRU segments: pages at depth >= `low_depth` (the sparse bottom pages, read by few keys for their
    weight) may hold at most `low_share` of the bound and are evicted first; the rest is one LRU."""

    name = "seg"

    def __init__(self, bound: int, low_depth: int = 20, low_share: float = 0.25) -> None:
        super().__init__(bound)
        self.hi: OrderedDict[int, int] = OrderedDict()
        self.lo: OrderedDict[int, int] = OrderedDict()
        self.hw = self.lw = 0
        self.low_depth, self.low_cap = low_depth, int(bound * low_share)
        self.depth: array[int] = array("h")

    def _put(self, pid: int, w: int) -> None:
        low = self.depth[pid] >= self.low_depth
        seg = self.lo if low else self.hi
        old = seg.pop(pid, None)
        if old is not None:
            if low:
                self.lw -= old
            else:
                self.hw -= old
        seg[pid] = w
        if low:
            self.lw += w
        else:
            self.hw += w
        while self.lw > self.low_cap and self.lo:
            self.lw -= self.lo.popitem(last=False)[1]
        while self.hw + self.lw > self.bound:
            if self.lo:
                self.lw -= self.lo.popitem(last=False)[1]
            else:
                self.hw -= self.hi.popitem(last=False)[1]

    def read(self, pid: int, w: int) -> bool:
        seg = self.lo if self.depth[pid] >= self.low_depth else self.hi
        if pid in seg:
            seg.move_to_end(pid)
            return True
        self._put(pid, w)
        return False

    def apply(self, pid: int, w: int) -> None:
        self._put(pid, w)

    @property
    def held(self) -> int:
        return self.hw + self.lw


class TwoQ(Policy):
    """Probation first: a page not held enters a FIFO of at most `share` of the bound and moves to the main LRU
    when it is read again from there (2Q without its ghost list); the FIFO's oldest go first."""

    name = "2q"

    def __init__(self, bound: int, share: float = 0.25) -> None:
        super().__init__(bound)
        self.main: OrderedDict[int, int] = OrderedDict()
        self.fifo: OrderedDict[int, int] = OrderedDict()
        self.mw = self.fw = 0
        self.cap = int(bound * share)

    def _trim(self) -> None:
        while self.fw > self.cap and self.fifo:
            self.fw -= self.fifo.popitem(last=False)[1]
        while self.mw + self.fw > self.bound:
            if self.fifo:
                self.fw -= self.fifo.popitem(last=False)[1]
            else:
                self.mw -= self.main.popitem(last=False)[1]

    def read(self, pid: int, w: int) -> bool:
        if pid in self.main:
            self.main.move_to_end(pid)
            return True
        if pid in self.fifo:
            self.fw -= self.fifo.pop(pid)
            self.main[pid] = w
            self.mw += w
            self._trim()
            return True
        self.fifo[pid] = w
        self.fw += w
        self._trim()
        return False

    def apply(self, pid: int, w: int) -> None:
        if pid in self.main:
            self.mw += w - self.main[pid]
            self.main[pid] = w
            self.main.move_to_end(pid)
        else:
            old = self.fifo.pop(pid, None)
            if old is not None:
                self.fw -= old
            self.fifo[pid] = w  # written once (read just before, or new): still on probation
            self.fw += w
        self._trim()

    @property
    def held(self) -> int:
        return self.mw + self.fw


class Thin(TwoGen):
    """`TwoGen` with the move fix, plus sparse pages (weight below `below`) kept apart, oldest first, and
    evicted before any other page: CachedNodes as of session 7."""

    name = "thin"

    def __init__(self, bound: int, below: int) -> None:
        super().__init__(bound, move=True)
        self.below = below
        self.sparse: dict[int, int] = {}
        self.sw = 0

    def _put(self, pid: int, w: int) -> None:
        if w < self.below:
            if pid in self.old:
                self.ow -= self.old.pop(pid)
            if pid in self.young:
                self.yw -= self.young.pop(pid)
            self.sw -= self.sparse.pop(pid, 0)
            self.sparse[pid] = w
            self.sw += w
        else:
            self.sw -= self.sparse.pop(pid, 0)
            super()._put(pid, w)

    def read(self, pid: int, w: int) -> bool:
        if pid in self.young or pid in self.sparse:
            return True
        hit = pid in self.old
        self._put(pid, w)
        self._evict()
        return hit

    def _evict(self) -> None:
        if self.yw + self.ow + self.sw <= self.bound:
            return
        target = self.bound - self.bound // 16
        excess, drop = self.yw + self.ow + self.sw - target, []
        for pid, w in self.sparse.items():
            if excess <= 0:
                break
            drop.append(pid)
            excess -= w
        for pid in drop:
            self.sw -= self.sparse.pop(pid)
        if excess > 0:
            self.bound, saved = self.bound - self.sw, self.bound
            try:
                super()._evict()
            finally:
                self.bound = saved

    @property
    def held(self) -> int:
        return self.yw + self.ow + self.sw


class Tiered(Policy):
    """Two tiers in one bound: the decoded pages as `Thin` holds them (young/old generations, sparse pages apart),
    and the *cold* tier: pages the hot tier gave up, kept as their stored bytes (`cold_base` + stored length
    each; `hashed`: + 32 bytes an occupied slot, the slots' hashes kept beside the bytes so a cold hit needs no
    SHA-256), oldest first. Over the bound, the hot tier's oldest pages go cold while it holds more than
    `hot_share` of the bound, then the cold tier's oldest pages go. (While everything fits decoded, nothing is
    cold.) A cold hit (decode, no LevelDB get) moves the page back into the hot tier; a write drops the cold
    copy. With `hot_share` 1 it is `Thin`. Counts cold hits by depth and pages moved to the cold tier (each an
    `encode_page`)."""

    name = "tier"

    def __init__(self, bound: int, hot_share: float, below: int, cold_base: int, hashed: bool = False) -> None:
        super().__init__(bound)
        self.hot_cap = int(bound * hot_share)  # the hot tier's floor: it goes cold only down to it
        self.cold_on = hot_share < 1
        self.below, self.cold_base, self.hashed = below, cold_base, hashed
        self.young: dict[int, int] = {}
        self.old: dict[int, int] = {}
        self.sparse: dict[int, int] = {}
        self.cold: dict[int, int] = {}
        self.yw = self.ow = self.sw = self.cw = 0
        self.lens: dict[int, tuple[int, int]] = {}  # page id -> (stored length, occupied slots), latest version
        self.cold_hits: dict[int, int] = {}
        self.to_cold = 0
        self.depth: array[int] = array("h")

    def note(self, pid: int, raw_len: int, slots: int) -> None:
        self.lens[pid] = (raw_len, slots)

    def _cold_w(self, pid: int) -> int:
        raw_len, slots = self.lens.get(pid, (0, 0))
        return self.cold_base + raw_len + (32 * slots if self.hashed else 0)

    def _hot_put(self, pid: int, w: int) -> None:
        if pid in self.young:
            self.yw -= self.young.pop(pid)
        elif pid in self.old:
            self.ow -= self.old.pop(pid)
        elif pid in self.sparse:
            self.sw -= self.sparse.pop(pid)
        if w < self.below:
            self.sparse[pid] = w
            self.sw += w
        else:
            self.young[pid] = w
            self.yw += w

    def read(self, pid: int, w: int) -> bool:
        if pid in self.young or pid in self.sparse:
            return True
        hit = pid in self.old
        if not hit and pid in self.cold:
            self.cw -= self.cold.pop(pid)
            d = self.depth[pid]
            self.cold_hits[d] = self.cold_hits.get(d, 0) + 1
            hit = True
        self._hot_put(pid, w)
        self._evict()
        return hit

    def apply(self, pid: int, w: int) -> None:
        if pid in self.cold:
            self.cw -= self.cold.pop(pid)
        self._hot_put(pid, w)
        self._evict()

    def _demote(self, pages: dict[int, int], excess: int, floor: int) -> int:
        """Move the first pages of `pages` to the cold tier (or drop them, with no cold tier) until `excess` is
        freed or the hot tier is down to `floor`; returns the hot weight moved."""
        moved = freed = 0
        drop = []
        hot = self.yw + self.ow + self.sw
        for pid, w in pages.items():
            if freed >= excess or hot - moved <= floor:
                break
            drop.append(pid)
            moved += w
            freed += w
            if self.cold_on:
                cw = self._cold_w(pid)
                freed -= cw
        for pid in drop:
            del pages[pid]
            if self.cold_on:
                cw = self.cold[pid] = self._cold_w(pid)
                self.cw += cw
                self.to_cold += 1
        return moved

    def _evict(self) -> None:
        """Over the bound: the hot tier's oldest pages (sparse first) go cold while the hot tier holds more than
        its floor, then the cold tier's oldest pages go; down to 15/16 of the bound."""
        total = self.yw + self.ow + self.sw + self.cw
        if total <= self.bound:
            return
        target = self.bound - self.bound // 16
        floor = self.hot_cap if self.cold_on else 0
        if self.sparse:
            self.sw -= self._demote(self.sparse, total - target, floor)
        while self.yw + self.ow + self.sw + self.cw > target and self.yw + self.ow + self.sw > floor:
            if not self.old:
                if not self.young:
                    break
                self.old, self.young, self.ow, self.yw = self.young, {}, self.yw, 0
            self.ow -= self._demote(self.old, self.yw + self.ow + self.sw + self.cw - target, floor)
        total = self.yw + self.ow + self.sw + self.cw
        if total > target and self.cold:
            excess, freed, drop = total - target, 0, []
            for pid, w in self.cold.items():
                if freed >= excess:
                    break
                drop.append(pid)
                freed += w
            for pid in drop:
                del self.cold[pid]
            self.cw -= freed

    @property
    def held(self) -> int:
        return self.yw + self.ow + self.sw + self.cw


def _slots(w: int, raw_len: int, levels: int = 4) -> int:
    """Occupied slots of a page from its weight and stored length (the weight is `_size`'s)."""
    from state.trie import SLOT_BYTES, page_base_bytes

    return max(0, (w - page_base_bytes(levels) - 2 * raw_len) // SLOT_BYTES)


def simulate(depth: array[int], log: array[int], none_w: int, policy: Policy,
             weight: Callable[[int, int], int], max_blocks: int = 0) -> dict[str, Any]:
    """Replay `log` through `policy`; `weight(depth, w)` maps a page's weight as the trace has it to the
    policy's (to try other page representations). Per block: txs, misses by depth, held weight, and for a
    `Tiered` policy its cold hits by depth and pages moved to its cold tier. A trace of session 8 on carries
    each page's stored length in the weight field's high bits (earlier ones: 0)."""
    blocks: list[tuple[int, dict[int, int], int, dict[int, int], int]] = []
    misses: dict[int, int] = {}
    n = len(log)
    i = 0
    read, apply_ = policy.read, policy.apply
    note = getattr(policy, "note", None)
    tiered = isinstance(policy, Tiered)
    while i < n:
        kind, a, w = log[i], log[i + 1], log[i + 2]
        i += 3
        if kind == _READ:
            d = depth[a]
            wt, raw_len = w & 0xFFFFFFFF, w >> 32
            if note is not None:
                note(a, raw_len, _slots(wt, raw_len) if raw_len else 0)
            if not read(a, weight(d, wt)):
                misses[d] = misses.get(d, 0) + 1
        elif kind == _APPLY:
            wt, raw_len = (none_w, 0) if w < 0 else (w & 0xFFFFFFFF, w >> 32)
            if note is not None:
                note(a, raw_len, _slots(wt, raw_len) if raw_len else 0)
            apply_(a, weight(depth[a], wt))
        else:
            if tiered:
                blocks.append((a, misses, policy.held, dict(policy.cold_hits), policy.to_cold))  # type: ignore
                policy.cold_hits, policy.to_cold = {}, 0  # type: ignore[attr-defined]
            else:
                blocks.append((a, misses, policy.held, {}, 0))  # type: ignore[attr-defined]
            misses = {}
            if len(blocks) == max_blocks:
                break
    return {"blocks": blocks}


def _unit(table: list[float], depth: int) -> float:
    """A per-page cost by depth from (depth <= 12, depth 16, depth >= 20)."""
    return table[0] if depth <= 12 else table[1] if depth == 16 else table[2]


def _report(name: str, bound_mib: int, res: dict[str, Any], cost: argparse.Namespace | None = None) -> None:
    blocks = res["blocks"]
    tail = blocks[len(blocks) * 2 // 3:]
    txs = sum(b[0] for b in tail)
    by: dict[int, int] = {}
    cold: dict[int, int] = {}
    for b in tail:
        for d, c in b[1].items():
            by[d] = by.get(d, 0) + c
        for d, c in b[3].items():
            cold[d] = cold.get(d, 0) + c
    bound = bound_mib << 20
    full = next((i for i, b in enumerate(blocks) if b[2] >= bound * 15 // 16), None)
    total = sum(by.values())
    line = (f"{name:>10} {bound_mib:5d} MiB  miss/tx {total / max(1, txs):6.3f}  "
            + " ".join(f"d{d}:{c / max(1, txs):.3f}" for d, c in sorted(by.items()))
            + f"  held {blocks[-1][2] / 2**20:6.1f} MiB  full at block {full}")
    if cold or any(b[4] for b in tail):
        line += (f"\n{'':>10} cold hits/tx {sum(cold.values()) / max(1, txs):6.3f}  "
                 + " ".join(f"d{d}:{c / max(1, txs):.3f}" for d, c in sorted(cold.items()))
                 + f"  to cold/tx {sum(b[4] for b in tail) / max(1, txs):.3f}")
    if cost is not None:  # the model: a miss = a LevelDB get + decode_page, a cold hit = decode_page, to cold = encode
        dec, enc, n = cost.decode_us, cost.encode_us, max(1, txs)
        m = sum(c * (cost.get_us + _unit(dec, d)) for d, c in by.items()) / n
        h = sum(c * _unit(dec, d) for d, c in cold.items()) / n
        e = sum(b[4] for b in tail) * enc / n
        line += f"\n{'':>10} modelled us/tx: misses {m:.1f} + cold hits {h:.1f} + to cold {e:.1f} = {m + h + e:.1f}"
    print(line, flush=True)


def _run_sim(args: argparse.Namespace) -> None:
    depth, log, none_w = load_trace(args.trace)
    weights: dict[str, Callable[[int, int], int]] = {"as-is": lambda d, w: w}
    def make(pname: str, bound: int) -> Policy:
        if pname.startswith("seg"):  # seg:DEPTH:SHARE
            _, d, share = pname.split(":")
            pol = Seg(bound, int(d), float(share))
            pol.depth = depth
            return pol
        if pname.startswith("2q"):  # 2q:SHARE
            return TwoQ(bound, float(pname.split(":")[1]))
        if pname.startswith("thin"):  # thin:BELOW (bytes)
            return Thin(bound, int(pname.split(":")[1]))
        if pname.startswith("tier"):  # tier:HOT_SHARE:BELOW:COLD_BASE[:hashed]
            parts = pname.split(":")
            tier = Tiered(bound, float(parts[1]), int(parts[2]), int(parts[3]), parts[4:] == ["hashed"])
            tier.depth = depth
            return tier
        if pname == "2gen-mv":
            return TwoGen(bound, move=True)
        return TwoGen(bound) if pname == "2gen" else LRU(bound)

    if args.census:
        _census(depth, log, none_w)
    for mib in [int(x) for x in args.mib.split(",")]:
        for pname in args.policies.split(","):
            for wname in args.weights.split(","):
                res = simulate(depth, log, none_w, make(pname, mib << 20), weights[wname], args.blocks)
                _report(f"{pname}/{wname}", mib, res, args if args.get_us is not None else None)


def _census(depth: array[int], log: array[int], none_w: int) -> None:
    """The trie at the end of the trace by page depth: pages, weight, and reads per tx over the last third."""
    last: dict[int, int] = {}
    blocks = sum(1 for i in range(0, len(log), 3) if log[i] == _BLOCK)
    reads: dict[int, int] = {}
    b = txs = 0
    for i in range(0, len(log), 3):
        kind, a, w = log[i], log[i + 1], log[i + 2]
        if kind == _APPLY:
            last[a] = w if w < 0 else w & 0xFFFFFFFF
        elif kind == _BLOCK:
            b += 1
            if b > blocks * 2 // 3:
                txs += a
        elif b >= blocks * 2 // 3:
            reads[depth[a]] = reads.get(depth[a], 0) + 1
    by: dict[int, list[int]] = {}
    for pid, w in last.items():
        if w >= 0:
            e = by.setdefault(depth[pid], [0, 0])
            e[0] += 1
            e[1] += w
    for d, (n, w) in sorted(by.items()):
        print(f"depth {d:3d}: {n:8,d} pages {w / 2**20:8.1f} MiB ({w / n:6.0f} B a page), "
              f"reads/tx (last third) {reads.get(d, 0) / max(1, txs):.3f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trace")
    t.add_argument("--data", type=Path, required=True, help="a memflat txs file (memflat --data F keeps one)")
    t.add_argument("--out", type=Path, default=None)
    t.add_argument("--mib", type=int, default=0, help="the cache's bound (0: unbounded, for a trace)")
    t.add_argument("--blocks", type=int, default=0, help="stop after this many blocks (0: all)")
    t.add_argument("--every", type=int, default=25)
    t.add_argument("--dir", type=Path, default=None, help="where the LevelDB state goes (a temp dir in it)")
    s = sub.add_parser("sim")
    s.add_argument("--trace", type=Path, required=True)
    s.add_argument("--mib", default="64,128,192,256")
    s.add_argument("--policies", default="2gen,lru",
                   help="2gen, 2gen-mv, lru, seg:DEPTH:SHARE, 2q:SHARE, thin:BYTES, "
                   "tier:HOT_SHARE:BYTES:COLD_BASE[:hashed] (comma-separated)")
    s.add_argument("--weights", default="as-is")
    s.add_argument("--blocks", type=int, default=0, help="replay only the trace's first N blocks (a smaller state)")
    s.add_argument("--census", action="store_true", help="first print the trie's pages and weight by depth")
    s.add_argument("--get-us", type=float, default=None,
                   help="model each policy's CPU per tx: a miss's LevelDB get in us (the bounded trace's 'get us')")
    s.add_argument("--decode-us", type=lambda v: [float(x) for x in v.split(",")], default=[13.0, 11.3, 4.2],
                   help="decode_page in us for pages at depth <= 12, 16, >= 20 (with --get-us)")
    s.add_argument("--encode-us", type=float, default=1.5, help="encode_page of a page moved cold, us (with --get-us)")
    args = ap.parse_args(argv)
    if args.cmd == "trace":
        _run_trace(args)
    else:
        _run_sim(args)


if __name__ == "__main__":
    main(sys.argv[1:])
