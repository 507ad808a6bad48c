"""Tx gossip bookkeeping A/B: the loop's CPU per tx of the node's own code between a peer's tx frame and the
next gossip push, with the application's check stubbed out, two trees taking turns.

    python -m devnet.bench.gossip_ab --base REV [--rounds 60] [--txs 2000]

What one round does, per tx, as a validator of a full mesh of 4 sees a foreign tx (the real `node.inbound.on_txs`,
`node.mempool.Admission` and `Mempool`, `node.gossip.Gossip`, on a running asyncio loop): it arrives in a
frame (`TxsMsg`, 100 txs) from its origin peer (hash, mark the peer, seen? -> admission queue -> reserve ->
check (stubbed: accepted) -> pool -> gossip queue), the queued txs are pushed to the three peers (each knows
those it sent), the same frames come again from the two other peers (duplicates, refused by hash), then the
block commits them (`Mempool.update` without a re-check). Not included: Ed25519 and check_tx (the app's; see
check_ab), the frame's decryption and decoding (p2p_bench). The pool, the gossip and their recent-hash sets
live across rounds (their generations turn over as in a node). A worker prints `digest accepted` first (the
digest of what the peers were sent, and the txs the pool admitted in the first round), then the thread CPU in
us per tx for each line it reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devnet.bench.paired_ab import run_paired

_WORKER = r'''
import asyncio, hashlib, os, sys, time
from types import SimpleNamespace
from node.gossip import Gossip
from node.inbound import on_txs
from node.mempool import ACCEPTED, Admission, Mempool
from node.messages import TxsMsg

n, frame = int(sys.argv[1]), 100
rng = __import__("random").Random(7)
sent = []
gossip = Gossip(lambda peer, msg: sent.append((peer, len(msg.txs))))
for p in ("origin", "relay1", "relay2"):
    gossip.add_peer(p)
pool = Mempool(lambda tx, recheck: ACCEPTED, size=4 * n, cache_size=10_000, recheck=False)
adm = Admission(pool, lambda txs: [None] * len(txs), inline_below=1 << 30)  # "verified" on the loop, no Ed25519
admitted = [0]


def on_admitted(txs):
    admitted[0] += len(txs)
    gossip.queue_txs(txs, lambda batch: TxsMsg(tuple(batch)))


adm.on_admitted = on_admitted
node = SimpleNamespace(gossip=gossip, mempool=pool, admission=adm)


def make_round():
    txs = [rng.randbytes(200) for _ in range(n)]
    return txs, [TxsMsg(tuple(txs[i:i + frame])) for i in range(0, n, frame)]


async def one(txs, frames):
    t0 = time.thread_time()
    for m in frames:
        on_txs(node, "origin", m)
    while adm.pending:  # the admission's batches run (one per loop turn, call_soon)
        await asyncio.sleep(0)
    gossip.flush_txs()
    for m in frames:
        on_txs(node, "relay1", m)
    for m in frames:
        on_txs(node, "relay2", m)
    pool.update(pool.height + 1, txs, [hashlib.sha256(t).digest() for t in txs])
    dt = time.thread_time() - t0
    assert len(pool) == 0
    return dt


async def main():
    from node.gctune import tune_for_node
    tune_for_node()
    await one(*make_round())
    d = hashlib.sha256(repr(sorted(sent)).encode()).hexdigest()[:16]
    print(d, admitted[0], flush=True)  # (the digest of the frames sent; the txs the pool admitted)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        txs, frames = make_round()
        sent.clear()
        dt = await one(txs, frames)
        print(1e6 * dt / n, flush=True)

asyncio.run(main())
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=None, help="a git revision to compare with (B = this tree)")
    ap.add_argument("--tree", type=Path, default=Path.cwd(), help="the tree measured as B (default: here)")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--txs", type=int, default=2_000)
    args = ap.parse_args(argv)
    run_paired(args, _WORKER, [str(args.txs)], what="gossip bookkeeping", digest="gossip sends")


if __name__ == "__main__":
    main(sys.argv[1:])
