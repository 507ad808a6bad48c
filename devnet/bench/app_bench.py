"""Application benchmark: check_tx/s, finalize_block+commit tx/s on a big LevelDB state, proof queries/s.

    python -m devnet.bench.app_bench                      # small: 20,000 instruments
    python -m devnet.bench.app_bench --instruments 1000000 --blocks 20 --txs 2000   # the full run
    python -m devnet.bench.app_bench --trie-keys 200000   # the state trie alone, on LevelDB

The finalize_block+commit figure is followed by its trie part (Trie.update, the encoding of its writes and
the cache update: CPU of this thread per changed key, LevelDB entries and bytes written per block), then by
the split of the app thread's CPU per tx: finalize_block (execution, i.e. everything but Trie.update, and
Trie.update) and commit. `--gc node` measures with the collector settings of a running node, `--profile F`
adds a cProfile of that phase, `--no-fresh` stops after it (A/B runs of two trees: `--template DIR`).

Prints numbers, asserts nothing. The background state is bulk-loaded through the real issue handler
(without signatures, in chunks, each chunk committed with its trie update), then the realistic mix of
state/workload.py is measured on top of it. One process, one core.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from state.abci import (
    Application,
    RequestCheckTx,
    RequestFinalizeBlock,
    RequestInitChain,
    RequestQuery,
    ValidatorUpdate,
)
from state.crypto import sha256
from state.issuance import issue_guarantee, publish_requirement
from state.kv_level import LevelKV
from state.proofs import StateProof
from state.records import lg_id_of
from state.store import NS_STATE, NS_TRIE, Ctx, Overlay
from state.trie import CachedNodes, Trie
from state.txs import IssueGuarantee, PublishRequirement
from state.workload import Workload

DAY = 86_400_000


class Timer:
    """Wall time, this process's CPU time and the calling thread's. On a shared machine CPU time gives
    per-core rates. The process figure also counts LevelDB's background compaction threads (high right after
    the bulk load, and half of the process CPU in a short run on a freshly copied state); the thread figure
    is the application's own work (its LevelDB reads and writes included), and steadier run to run."""

    def __enter__(self) -> Timer:
        self.w0, self.c0, self.t0 = time.perf_counter(), time.process_time(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0
        self.thread = time.thread_time() - self.t0

    def rate(self, n: int) -> str:
        return (f"{n / self.wall:,.0f}/s wall, {n / max(self.cpu, 1e-9):,.0f}/s per CPU-second "
                f"({1e6 * self.cpu / max(n, 1):,.0f} us), app thread {1e6 * self.thread / max(n, 1):,.0f} us each")


class TrieMeter:
    """Thread CPU spent in the trie (update, write_items, the cache's apply), changed keys, and the LevelDB
    entries and bytes its writes make; installed by wrapping the methods (the measured code is unchanged)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.by_method: dict[str, float] = {}  # thread CPU per wrapped method (update, write_items, apply)
        self.keys = self.entries = self.bytes = self.blocks = 0
        self._saved: list[tuple[type, str, object]] = []

    def install(self) -> TrieMeter:
        meter = self

        def timed(cls: type, name: str, count: object) -> None:
            orig = getattr(cls, name)
            self._saved.append((cls, name, orig))

            def wrapper(obj: object, *a: object) -> object:
                t0 = time.thread_time()
                try:
                    out = orig(obj, *a)
                finally:
                    dt = time.thread_time() - t0
                    meter.cpu += dt
                    meter.by_method[name] = meter.by_method.get(name, 0.0) + dt
                count(a, out)  # type: ignore[operator]
                return out

            setattr(cls, name, wrapper)

        def on_update(a: tuple[dict[bytes, bytes | None]], out: object) -> None:
            meter.keys += len(a[0])
            meter.blocks += 1

        def on_items(a: object, out: list[tuple[bytes, bytes | None]]) -> None:
            meter.entries += len(out)
            meter.bytes += sum(len(k) + len(v or b"") for k, v in out)

        timed(Trie, "update", on_update)
        timed(Trie, "write_items", on_items)
        timed(CachedNodes, "apply", lambda a, out: None)
        return self

    def uninstall(self) -> None:
        for cls, name, orig in self._saved:
            setattr(cls, name, orig)
        self._saved.clear()

    def report(self) -> str:
        k, b = max(self.keys, 1), max(self.blocks, 1)
        return (f"trie: {1e6 * self.cpu / k:,.1f} us CPU per changed key ({self.keys / b:,.0f} keys per block), "
                f"{self.entries / b:,.0f} LevelDB entries ({self.entries / k:.2f} per key) and "
                f"{self.bytes / b / 1024:,.0f} KiB per block")


class KeyChurn:
    """The trie benches' seeded key churn (`trie_bench` here, devnet/bench/trie_ab.py): key hashes of
    `key<i>`, loaded in blocks of new keys, then blocks of 80 % updates of present keys, 15 % new keys and
    5 % deletes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.present: list[int] = []
        self.nxt = 0

    @staticmethod
    def kh(i: int) -> bytes:
        return sha256(b"key%d" % i)

    def load_blocks(self, keys: int, per_block: int = 20_000) -> Iterator[dict[bytes, bytes | None]]:
        """Blocks of new keys until `keys` are present (each block is taken as given before the next)."""
        while self.nxt < keys:
            n = min(per_block, keys - self.nxt)
            yield {self.kh(i): sha256(b"v%d" % i) for i in range(self.nxt, self.nxt + n)}
            self.present += range(self.nxt, self.nxt + n)
            self.nxt += n

    def changes(self, r: int, count: int) -> dict[bytes, bytes | None]:
        """Block `r`'s `count` changes."""
        rng, present, kh = self.rng, self.present, self.kh
        out: dict[bytes, bytes | None] = {}
        for _ in range(count):
            x = rng.random()
            if x < 0.80:
                out[kh(present[rng.randrange(len(present))])] = sha256(b"u%d/%f" % (r, x))
            elif x < 0.95:
                out[kh(self.nxt)] = sha256(b"n%d" % self.nxt)
                present.append(self.nxt)
                self.nxt += 1
            else:
                j = rng.randrange(len(present))
                present[j], present[-1] = present[-1], present[j]
                out[kh(present.pop())] = None
        return out


def trie_bench(args: argparse.Namespace, tmp: Path) -> None:
    """The state trie alone on LevelDB, used as the application uses it: one `Trie` per block over the
    shared `CachedNodes` (default bound), its writes in one batch, then applied to the cache. Blocks of
    `--trie-changes` key hashes: 80 % updates of present keys, 15 % new keys, 5 % deletes (seeded)."""
    churn = KeyChurn(args.seed)
    kv = LevelKV(tmp / "trie")
    try:
        reads = [0]

        class CountingReader:
            def get(self, key: bytes) -> bytes | None:
                reads[0] += 1
                return kv.get(key)

        # --trie-levels: levels per stored page (state/trie.py PAGE_LEVELS by default)
        nodes = CachedNodes(CountingReader(), **({"levels": args.trie_levels} if args.trie_levels else {}))
        def block(changes: dict[bytes, bytes | None]) -> tuple[float, float, float, float, int, int]:
            t0 = time.thread_time()
            trie = Trie(nodes)
            trie.update(changes)
            t1 = time.thread_time()
            items = trie.write_items()
            t2 = time.thread_time()
            b = kv.batch()
            b.extend(items)
            b.commit(sync=False)
            t3 = time.thread_time()
            nodes.apply(trie.changes)
            t4 = time.thread_time()
            return t1 - t0, t2 - t1, t3 - t2, t4 - t3, len(items), sum(len(k) + len(v or b"") for k, v in items)

        t0 = time.process_time()
        for load in churn.load_blocks(args.trie_keys):
            block(load)
        print(f"trie: loaded {args.trie_keys:,} keys ({time.process_time() - t0:.1f} s CPU)")

        def changes_for(r: int) -> dict[bytes, bytes | None]:
            return churn.changes(r, args.trie_changes)

        for r in range(3):  # warm the cache, as a running node has it
            block(changes_for(r))
        sums = [0.0] * 4
        entries = size = keys = 0
        reads[0] = 0
        p0 = time.process_time()
        for r in range(3, 3 + args.trie_blocks):
            ch = changes_for(r)
            keys += len(ch)
            up, enc, wr, ap, ne, nb = block(ch)
            for i, v in enumerate((up, enc, wr, ap)):
                sums[i] += v
            entries += ne
            size += nb
        proc = time.process_time() - p0
        us = [1e6 * v / keys for v in sums]
        print(f"trie: {args.trie_blocks} blocks x {args.trie_changes:,} changed keys on {args.trie_keys:,} keys: "
              f"{sum(us):.1f} us CPU per changed key (update {us[0]:.1f}, encode writes {us[1]:.1f}, LevelDB "
              f"write {us[2]:.1f}, cache apply {us[3]:.1f}; process {1e6 * proc / keys:.1f} with LevelDB's "
              f"threads); {entries / args.trie_blocks:,.0f} entries ({entries / keys:.2f} per key), "
              f"{size / args.trie_blocks / 1024:,.0f} KiB per block; {reads[0] / keys:.2f} LevelDB reads per key, "
              f"{len(nodes):,} entries cached")
        print(f"trie: root {Trie(nodes).root().hex().upper()}")
    finally:
        kv.close()


def bulk_load(app: Application, wl: Workload, n: int, chunk: int = 20_000) -> list[str]:
    """Issue `n` guarantees directly through the domain handlers (no signatures), committing per chunk."""
    rng = random.Random(99)
    ids: list[str] = []
    done = 0
    t0 = time.perf_counter()
    while done < n:
        overlay = Overlay(app.kv)
        ctx = Ctx(overlay, wl.start_ms, app.height)
        for i in range(done, min(n, done + chunk)):
            ag = wl.agencies[rng.randrange(len(wl.agencies))]
            bank = wl.banks[rng.randrange(len(wl.banks))]
            sup = wl.suppliers[rng.randrange(len(wl.suppliers))].code
            ctx.signer_kind, ctx.signer_id = "AGENCY", ag.code
            publish_requirement(ctx, PublishRequirement(f"B{i}", "P", "1", "PERF", 1, wl.start_ms + 400 * DAY, 0,
                                                        "F"))
            ctx.signer_kind, ctx.signer_id = "BANK", bank.code
            issue_guarantee(ctx, IssueGuarantee(f"BULK{i}", "", "PERF", sup, f"{ag.code}:B{i}", 1,
                                                rng.randint(10_000, 5_000_000) * 100,
                                                wl.start_ms + rng.randint(400, 1500) * DAY, True, True, True,
                                                False, b"", ""))
            ids.append(lg_id_of(bank.code, f"BULK{i}"))
        ctx.events.clear()
        overlay.pack_records()  # plain bytes in `writes` (state.store.Overlay.put_rec)
        trie = Trie(app.kv.prefixed(NS_TRIE))
        trie.update({sha256(k[1:]): None if v is None else sha256(v)
                     for k, v in overlay.writes.items() if k[:1] == NS_STATE})
        batch = app.kv.batch()
        for k, v in overlay.writes.items():
            batch.put(k, v) if v is not None else batch.delete(k)
        nodes = batch.prefixed(NS_TRIE)
        for pos, raw in trie.writes.items():
            nodes.put(pos, raw) if raw is not None else nodes.delete(pos)
        batch.commit(sync=False)
        done = min(n, done + chunk)
        print(f"  loaded {done:,} instruments ({done / (time.perf_counter() - t0):,.0f}/s)", flush=True)
    # restart the app so its app hash and caches are read back from the store
    return ids


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instruments", type=int, default=20_000)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--txs", type=int, default=1_000, help="transactions per block")
    ap.add_argument("--queries", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=None, help="LevelDB directory (default: a temp dir)")
    ap.add_argument("--template", type=Path, default=None,
                    help="a directory to keep the bulk-loaded state in: built there once (with --instruments), "
                         "then copied for each run, so repeated runs (A/B of two trees) start from the same state")
    ap.add_argument("--trie-keys", type=int, default=0, help="run the trie-only benchmark on this many keys instead")
    ap.add_argument("--trie-blocks", type=int, default=10)
    ap.add_argument("--trie-changes", type=int, default=3_000, help="changed keys per block (trie-only)")
    ap.add_argument("--trie-levels", type=int, default=0, help="levels per stored trie page (trie-only)")
    ap.add_argument("--agencies", type=int, default=2_000,
                    help="agencies of the workload (egp bench's devnet workload has 200; a template is built for one "
                         "setting of --agencies/--suppliers)")
    ap.add_argument("--suppliers", type=int, default=20_000, help="suppliers of the workload (egp bench: 2,000)")
    ap.add_argument("--gc", choices=("default", "node"), default="default",
                    help="'node': the collector settings of `egp start` (node/gctune.py) before the measured blocks")
    ap.add_argument("--profile", type=Path, default=None,
                    help="cProfile the finalize_block+commit phase into this file (and print its top 25)")
    ap.add_argument("--no-fresh", action="store_true",
                    help="stop after finalize_block+commit (no never-seen blocks, no queries): quick A/B runs")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="egp-app-bench-")) if args.dir is None else args.dir
    if args.trie_keys:
        try:
            trie_bench(args, tmp)
        finally:
            if args.dir is None:
                shutil.rmtree(tmp, ignore_errors=True)
        return
    wl = Workload(seed=args.seed, n_agencies=args.agencies, n_suppliers=args.suppliers)
    vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
    genesis = RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode())
    if args.template is not None and not (args.template / "ids.json").exists():
        kv = LevelKV(args.template / "db")
        Application(kv).init_chain(genesis)
        print(f"bulk-loading {args.instruments:,} instruments into the template at {args.template}")
        (args.template / "ids.json").write_text(json.dumps(bulk_load(Application(kv), wl, args.instruments)))
        kv.close()
    if args.template is not None:
        shutil.copytree(args.template / "db", tmp / "db", dirs_exist_ok=True)
    kv = LevelKV(tmp / "db")
    # the signature cache holds every measured tx that check_tx verified (a node's spans its mempool, 10,000
    # by default): otherwise a run of more than ~10 blocks verifies the oldest signatures again in finalize
    sig_cache = max(10_000, args.blocks * args.txs * 2)
    try:
        c0 = time.process_time()
        app = Application(kv, sig_cache_size=sig_cache)
        c1 = time.process_time()
        if args.template is not None:
            ids = json.loads((args.template / "ids.json").read_text())
            print(f"state: a copy of {args.template} ({len(ids):,} instruments)")
            keys = app.cache.keys if app.cache is not None else None
            print(f"Application(): {c1 - c0:.2f} s CPU (the scan of the state's keys for the key filter: "
                  f"{keys.count if keys is not None else 0:,} keys, {len(keys.bits) >> 10 if keys else 0:,} KiB)")
        else:
            app.init_chain(genesis)
            print(f"bulk-loading {args.instruments:,} instruments into LevelDB at {tmp}")
            ids = bulk_load(app, wl, args.instruments)
            app = Application(kv, sig_cache_size=sig_cache)

        print(f"generating {args.blocks} blocks x ~{args.txs} txs of the realistic mix (+3 warm-up blocks)")
        for i, (t, txs) in enumerate(wl.blocks(3, args.txs, block_ms=600_000), start=app.height + 1):
            app.finalize_block(RequestFinalizeBlock(txs, i, t))  # warm the trie-node cache, as a running node has
            app.commit()
        blocks = list(wl.blocks(args.blocks, args.txs, block_ms=600_000))
        n = sum(len(t) for _, t in blocks)

        with Timer() as tm:
            for _, txs in blocks:
                for tx in txs:
                    app.check_tx(RequestCheckTx(tx))
        print(f"check_tx: {tm.rate(n)} ({n:,} txs, Ed25519 verified once each)")

        if args.gc == "node":  # as `egp start` sets the collector (node/gctune.py) after start-up
            from node.gctune import tune_for_node

            tune_for_node()
        ok = 0
        fin = com = 0.0  # app-thread CPU in finalize_block and in commit
        prof = None
        if args.profile is not None:
            import cProfile

            prof = cProfile.Profile()
        meter = TrieMeter().install()
        try:
            with Timer() as tm:
                if prof is not None:
                    prof.enable()
                for i, (t, txs) in enumerate(blocks, start=app.height + 1):
                    t0 = time.thread_time()
                    resp = app.finalize_block(RequestFinalizeBlock(txs, i, t))
                    t1 = time.thread_time()
                    app.commit()
                    t2 = time.thread_time()
                    fin += t1 - t0
                    com += t2 - t1
                    ok += sum(1 for r in resp.tx_results if r.code == 0)
                if prof is not None:
                    prof.disable()
        finally:
            meter.uninstall()
        print(f"finalize_block+commit: {tm.rate(n)} ({ok:,} of {n:,} accepted; signatures cached by check_tx)")
        print(f"  of which {meter.report()}; {1e6 * meter.cpu / max(n, 1):,.1f} us per tx")
        upd = meter.by_method.get("update", 0.0)
        print(f"  app thread per tx: finalize_block {1e6 * fin / n:,.1f} us (execution {1e6 * (fin - upd) / n:,.1f}, "
              f"Trie.update {1e6 * upd / n:,.1f}), commit {1e6 * com / n:,.1f} us (trie writes and cache "
              f"{1e6 * (meter.cpu - upd) / n:,.1f})")
        if prof is not None:
            import pstats

            prof.dump_stats(str(args.profile))
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            print(f"  cProfile of finalize_block+commit written to {args.profile} (its overhead inflates the "
                  f"times above)")
        if args.no_fresh:
            print(f"app hash {app.app_hash.hex().upper()} at height {app.height}")
            return

        fresh = list(wl.blocks(max(1, args.blocks // 2), args.txs, block_ms=600_000))
        m = sum(len(t) for _, t in fresh)
        with Timer() as tm:
            for i, (t, txs) in enumerate(fresh, start=app.height + 1):
                app.finalize_block(RequestFinalizeBlock(txs, i, t))
                app.commit()
        print(f"finalize_block+commit, txs never seen (signatures verified here): {tm.rate(m)}")

        rng = random.Random(7)
        sample = [rng.choice(ids) for _ in range(args.queries)] if ids else []
        verified = 0
        with Timer() as tm:
            for lg_id in sample:
                r = app.query(RequestQuery(f"/lg/{lg_id}", prove=True))
                verified += StateProof.decode(r.proof_ops[0].data).verify(app.app_hash)
        if sample:
            print(f"proof queries (/lg/<id> prove=true: JSON + proof, verified): {tm.rate(len(sample))} "
                  f"({verified} verified)")
        with Timer() as tm:
            for lg_id in sample:
                app.query(RequestQuery("/store", data=f"lg/{lg_id}".encode(), prove=True))
        if sample:
            print(f"raw proof queries (/store prove=true): {tm.rate(len(sample))}")
        print(f"app hash {app.app_hash.hex().upper()} at height {app.height}")
    finally:
        kv.close()
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
