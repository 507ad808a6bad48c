"""Micro-benchmark of the node's per-block commit bookkeeping: block results and the tx/block event index.

    python -m devnet.bench.commit_bench                    # 5 blocks x 1,000 txs of the realistic mix
    python -m devnet.bench.commit_bench --blocks 10 --txs 2000
    python -m devnet.bench.commit_bench --state 50000 --blocks 20   # the whole commit path on a LevelDB state

Why a separate bench: the network profile (docs/performance.md) put `BlockStore.save_results` and
`Indexer.index_chain_block` at 12-18 % of a node's CPU, a cost hidden inside `app_bench`'s figures. Here the
results are produced once by the real application (state/workload.py txs, in-memory KV), then only the
node's conversion of the app's response and the two writers run, into batches that are built but not
committed (the LevelDB write is measured elsewhere).
Figures are per CPU-second (`time.process_time`), since the machine is shared. Prints numbers, asserts
nothing.

`--state N`: the node's whole commit path (node/applier.py step 3) on a LevelDB state of N bulk-loaded
instruments (built once in `--template`, copied for each run): per block `NodeApp.finalize`, then into one
batch `save_results`, the index and the app's commit, then the synced write. Prints the CPU of this thread
per tx for each stage (finalize's `Trie.update` apart), the CPU of LevelDB's own threads per tx (compaction:
process CPU minus this thread's; a node pays it too, but a py-spy profile does not show it), and what the
batch writes per tx by key prefix. The collector is set as `egp start` sets it (node/gctune.py). Add `--checked`
for the commit thread's figure as a node pays it: each block's txs go through check_tx first (not timed), so
finalize finds their signatures verified and their decoding done (without it, finalize also pays Ed25519 and the
decoding of every tx, ~60 us a tx that egp-verify pays in a node).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

from node.blockstore import BlockStore
from node.indexer import Indexer
from node.rpc import adapt
from state.abci import Application, RequestCheckTx, RequestFinalizeBlock, RequestInitChain, ValidatorUpdate
from state.chain import FinalizeBlockResult, pack_results
from state.codec import decode, encode
from state.fastrec import pack
from state.kv import MemoryKV
from state.workload import Workload


def make_results(n_blocks: int, n_txs: int, seed: int) -> list[tuple[SimpleNamespace, FinalizeBlockResult]]:
    """(block stand-in with header.height, txs and the app's response, the node's FinalizeBlockResult) for n
    realistic blocks."""
    wl = Workload(seed=seed)
    app = Application(MemoryKV())
    vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
    app.init_chain(RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode()))
    out = []
    for h, (t, txs) in enumerate(wl.blocks(n_blocks, n_txs, block_ms=600_000), start=1):
        r = app.finalize_block(RequestFinalizeBlock(txs, h, t))
        app.commit()
        out.append((SimpleNamespace(header=SimpleNamespace(height=h), txs=list(txs), response=r), r))  # the
        # app's response is the node's FinalizeBlockResult (no conversion since the one event/result shape)
    return out


def check_same_bytes(blocks: list[tuple[SimpleNamespace, FinalizeBlockResult]]) -> None:
    """The fast writers must store exactly what the generic codec would: results bytes equal `Record.encode`,
    and indexing the chain records equals indexing their RPC views, every entry canonical."""
    for block, res in blocks:
        if not pack_results(res) == pack(res) == res.encode():
            raise SystemExit(f"block {block.header.height}: fast results bytes differ from Record.encode")
        fast, views = MemoryKV(), MemoryKV()
        b = fast.batch()
        Indexer(fast).index_chain_block(b, block, res)  # type: ignore[arg-type]
        b.commit()
        b = views.batch()
        Indexer(views).index_block(b, block, adapt.block_results(block.header.height, res))
        b.commit()
        got, want = list(fast.iterate()), list(views.iterate())
        # the block attributes (`bh`) are a canonical codec value; a tx record (`th`) is now a fixed-width pointer
        # (node/indexer.py), not one
        if got != want or any(encode(decode(v)) != v for k, v in got if k[3:5] == b"bh"):
            raise SystemExit(f"block {block.header.height}: index entries differ")


def cpu_rate(fn: object, blocks: list[tuple[SimpleNamespace, FinalizeBlockResult]], repeat: int) -> float:
    """Txs per CPU-second of `fn(batch, block, result)` over all blocks, best of `repeat`."""
    n = sum(len(b.txs) for b, _ in blocks)
    best = float("inf")
    for _ in range(repeat):
        kv = MemoryKV()
        c0 = time.process_time()
        for block, res in blocks:
            fn(kv.batch(), block, res)  # type: ignore[operator]
        best = min(best, time.process_time() - c0)
    return n / max(best, 1e-9)


STAGES = ("finalize", "save_results", "index", "app_commit", "leveldb_write")


def state_path(args: argparse.Namespace) -> None:
    """The commit path on a LevelDB state (`--state`): see the module's doc."""
    from devnet.bench.app_bench import bulk_load
    from node import gctune
    from node.nodeapp import NodeApp
    from state import kv_level
    from state.chain import Block, BlockID, Commit, Header, PartSetHeader
    from state.crypto import sha256
    from state.trie import Trie

    if args.compression != "default":
        kv_level.COMPRESSION = None if args.compression == "none" else args.compression
    if args.write_buffer_mib:
        kv_level.WRITE_BUFFER_BYTES = args.write_buffer_mib << 20
    wl = Workload(seed=args.seed, n_agencies=2_000, n_suppliers=20_000)
    vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
    genesis = RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode())
    tmp = Path(tempfile.mkdtemp(prefix="egp-commit-bench-"))
    template = args.template or tmp / "template"
    if not (template / "ids.json").exists():
        kv = kv_level.LevelKV(template / "db")
        Application(kv.prefixed(b"app/")).init_chain(genesis)
        print(f"bulk-loading {args.state:,} instruments into {template}")
        ids = bulk_load(Application(kv.prefixed(b"app/")), wl, args.state)
        (template / "ids.json").write_text(json.dumps(ids))
        kv.close()
    shutil.copytree(template / "db", tmp / "db")
    kv = kv_level.LevelKV(tmp / "db")
    try:
        app = Application(kv.prefixed(b"app/"))
        node_app = NodeApp(app)
        store = BlockStore(kv)
        indexer = Indexer(kv, b"ix/")
        z = b"\x00" * 32
        blocks = []
        for h, (t, txs) in enumerate(wl.blocks(3 + args.blocks, args.txs, block_ms=600_000), start=app.height + 1):
            hdr = Header(11, 1, wl.chain_id, h, t, BlockID(sha256(b"%d" % h), PartSetHeader(1, z)), z, z, z, z, z,
                         b"", z, z, b"\x01" * 20)
            blocks.append(Block(hdr, tuple(txs), (), Commit.empty()))
        trie_cpu = [0.0]
        checked_cpu = [0.0]
        update = Trie.update

        def timed_update(trie: Trie, changes: Mapping[bytes, bytes | None]) -> bytes:
            t0 = time.thread_time()
            try:
                return update(trie, changes)
            finally:
                trie_cpu[0] += time.thread_time() - t0

        sizes: collections.Counter[bytes] = collections.Counter()
        counts: collections.Counter[bytes] = collections.Counter()
        acc = dict.fromkeys(STAGES, 0.0)
        tt = time.thread_time

        def run(blks: list[Block], measure: bool) -> None:
            for block in blks:
                if args.checked:  # as in a node: the mempool's check_tx verified and cached each signature
                    c0 = tt()
                    for raw in block.txs:
                        app.check_tx(RequestCheckTx(raw))
                    if measure:
                        checked_cpu[0] += tt() - c0  # left out of the "process" figure (egp-verify's in a node)
                t0 = tt()
                r = node_app.finalize(block, ())
                t1 = tt()
                batch = kv.batch()
                store.save_results(block.header.height, r, batch)
                t2 = tt()
                indexer.index_chain_block(batch, block, r)
                t3 = tt()
                node_app.commit(batch)
                t4 = tt()
                if measure:
                    for key, value in batch._ops:
                        cat = key[:5] if key.startswith(b"app/") else key[:4]
                        sizes[cat] += len(key) + len(value or b"")
                        counts[cat] += 1
                t5 = tt()
                batch.commit(sync=True)
                t6 = tt()
                if measure:
                    for k, d in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5), strict=True):
                        acc[k] += d

        run(blocks[:3], False)  # warm the caches, as a running node has them
        gctune.tune_for_node()
        Trie.update = timed_update  # type: ignore[method-assign,assignment]
        thirds: list[tuple[float, int]] = []  # (LevelDB threads' CPU, txs) per third of the measured blocks
        try:
            p0, m0 = time.process_time(), tt()
            measured = blocks[3:]
            cut = [0, len(measured) // 3, 2 * len(measured) // 3, len(measured)]
            for a, b in itertools.pairwise(cut):
                q0, r0 = time.process_time(), tt()
                run(measured[a:b], True)
                thirds.append(((time.process_time() - q0) - (tt() - r0), sum(len(x.txs) for x in measured[a:b])))
            proc, main_cpu = time.process_time() - p0 - checked_cpu[0], tt() - m0 - checked_cpu[0]
        finally:
            Trie.update = update  # type: ignore[method-assign]
        n = sum(len(b.txs) for b in blocks[3:])
        us = {k: 1e6 * v / n for k, v in acc.items()}
        after = sum(us[k] for k in STAGES[1:])
        print(f"{n:,} txs in {args.blocks} blocks on {args.state:,} instruments"
              f"{' (signatures verified by check_tx first)' if args.checked else ''}, LevelDB compression "
              f"{kv_level.COMPRESSION}, memtable {kv_level.WRITE_BUFFER_BYTES >> 20} MiB; CPU us per tx (this thread):")
        for k in STAGES:
            extra = f"   (Trie.update {1e6 * trie_cpu[0] / n:.1f})" if k == "finalize" else ""
            print(f"  {k:16s} {us[k]:8.1f}{extra}")
        print(f"  {'after finalize':16s} {after:8.1f}   (+ Trie.update: {after + 1e6 * trie_cpu[0] / n:.1f})")
        by_third = " / ".join(f"{1e6 * c / max(k, 1):.0f}" for c, k in thirds)
        print(f"  LevelDB threads  {1e6 * (proc - main_cpu) / n:8.1f}   (process CPU minus this thread's; by thirds of "
              f"the run {by_third}: it grows with the database)")
        print(f"  process          {1e6 * proc / n:8.1f}")
        cats = sorted(sizes, key=lambda k: -sizes[k])
        print("written per tx (bytes/entries): "
              + ", ".join(f"{k.decode(errors='replace')} {sizes[k] / n:,.0f}/{counts[k] / n:.2f}" for k in cats)
              + f"; total {sum(sizes.values()) / n:,.0f} B")
        print(f"database {sum(f.stat().st_size for f in (tmp / 'db').iterdir()) / 1e6:,.1f} MB; "
              f"app hash {app.app_hash.hex().upper()}")
    finally:
        kv.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--txs", type=int, default=1_000, help="transactions per block")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--state", type=int, default=0, help="the whole commit path on a LevelDB state of N instruments")
    ap.add_argument("--template", type=Path, default=None, help="with --state: keep the bulk-loaded state here")
    ap.add_argument("--checked", action="store_true",
                    help="with --state: check_tx each block's txs first (not timed), so finalize finds their "
                         "signatures verified, as a node's commit thread does (without: finalize pays Ed25519 and "
                         "the decoding, ~60 us a tx that egp-verify pays in a node)")
    ap.add_argument("--compression", choices=("default", "none", "snappy"), default="default",
                    help="with --state: LevelDB block compression (default: the node's, state/kv_level.py)")
    ap.add_argument("--write-buffer-mib", type=int, default=0,
                    help="with --state: LevelDB's memtable size (default: the node's, state/kv_level.py)")
    args = ap.parse_args(argv)
    if args.state:
        state_path(args)
        return
    blocks = make_results(args.blocks, args.txs, args.seed)
    n = sum(len(b.txs) for b, _ in blocks)
    check_same_bytes(blocks)
    store = BlockStore(MemoryKV())
    indexer = Indexer(MemoryKV())

    def save_cold(b: object, blk: SimpleNamespace, r: FinalizeBlockResult) -> None:
        r.__dict__.pop("_packed", None)  # encode, as the first writer of a block's results does
        store.save_results(blk.header.height, r, b)  # type: ignore[arg-type]

    save = cpu_rate(save_cold, blocks, args.repeat)
    index = cpu_rate(lambda b, blk, r: indexer.index_chain_block(b, blk, r), blocks, args.repeat)
    print(f"{n:,} txs in {len(blocks)} blocks, bytes identical to the generic codec's "
          f"(best of {args.repeat}, per CPU-second):")
    print(f"  BlockStore.save_results:         {save:,.0f} tx/s ({1e6 / save:.1f} us/tx)")
    print(f"  Indexer.index_chain_block:       {index:,.0f} tx/s ({1e6 / index:.1f} us/tx)")


if __name__ == "__main__":
    main(sys.argv[1:])
