"""Micro-benchmark of the node's per-block commit bookkeeping: block results and the tx/block event index.

    python -m devnet.bench.commit_bench                    # 5 blocks x 1,000 txs of the realistic mix
    python -m devnet.bench.commit_bench --blocks 10 --txs 2000

Why a separate bench: the network profile (docs/performance.md) put `BlockStore.save_results` and
`Indexer.index_chain_block` at 12-18 % of a node's CPU, a cost hidden inside `app_bench`'s figures. Here the
results are produced once by the real application (state/workload.py txs, in-memory KV), then only the
node's conversion of the app's response and the two writers run, into batches that are built but not
committed (the LevelDB write is measured elsewhere).
Figures are per CPU-second (`time.process_time`), since the machine is shared. Prints numbers, asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from types import SimpleNamespace

from node.blockstore import BlockStore
from node.indexer import Indexer
from node.rpc import adapt
from state.abci import Application, RequestFinalizeBlock, RequestInitChain, ValidatorUpdate
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
        if got != want or any(encode(decode(v)) != v for k, v in got if k[3:5] in (b"th", b"bh")):
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--txs", type=int, default=1_000, help="transactions per block")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
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
