"""Application benchmark: check_tx/s, finalize_block+commit tx/s on a big LevelDB state, proof queries/s.

    python -m devnet.bench.app_bench                      # small: 20,000 instruments
    python -m devnet.bench.app_bench --instruments 1000000 --blocks 20 --txs 2000   # the full run

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
from state.trie import Trie
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
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="egp-app-bench-")) if args.dir is None else args.dir
    wl = Workload(seed=args.seed, n_agencies=2_000, n_suppliers=20_000)
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
    try:
        app = Application(kv)
        if args.template is not None:
            ids = json.loads((args.template / "ids.json").read_text())
            print(f"state: a copy of {args.template} ({len(ids):,} instruments)")
        else:
            app.init_chain(genesis)
            print(f"bulk-loading {args.instruments:,} instruments into LevelDB at {tmp}")
            ids = bulk_load(app, wl, args.instruments)
            app = Application(kv)

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

        ok = 0
        with Timer() as tm:
            for i, (t, txs) in enumerate(blocks, start=app.height + 1):
                resp = app.finalize_block(RequestFinalizeBlock(txs, i, t))
                app.commit()
                ok += sum(1 for r in resp.tx_results if r.code == 0)
        print(f"finalize_block+commit: {tm.rate(n)} ({ok:,} of {n:,} accepted; signatures cached by check_tx)")

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
