"""RPC ingest A/B: the event loop's CPU per tx of WebSocket `broadcast_tx_sync` (pipelined, one connection), two
trees taking turns.

    python -m devnet.bench.rpc_ingest_ab --base REV [--rounds 20] [--txs 2000]

Each round is `devnet.bench.ingest_bench`'s RPC step in the worker's tree (`one_round`: a fresh node in a temp
dir, its consensus not started, one client pipelining `--txs` signed txs over one WebSocket and reading every
answer); the figure is the node loop thread's CPU per tx (`rpc_loop_us`: the RPC read, parse and answer, the
admission's loop side and check_tx, the gossip queue; not the verify thread's Ed25519 nor the client). The rest
of ingest_bench's round (gossip into a second node, a proposal) runs too but is not reported. A worker prints
`rejected accepted` first (the RPC errors and non-zero codes, and the txs in the pool), then the figure for each
line it reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devnet.bench.paired_ab import run_paired

_WORKER = r'''
import sys
from devnet.bench.ingest_bench import make_txs, one_round

n = int(sys.argv[1])
txs = make_txs(n)
r = one_round(n, txs)
print(f"rejected-{int(r['rejected'])}", int(r["a_mempool"]), flush=True)
for _line in sys.stdin:
    print(one_round(n, txs)["rpc_loop_us"], flush=True)
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=None, help="a git revision to compare with (B = this tree)")
    ap.add_argument("--tree", type=Path, default=Path.cwd(), help="the tree measured as B (default: here)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--txs", type=int, default=2_000)
    args = ap.parse_args(argv)
    run_paired(args, _WORKER, [str(args.txs)], what="RPC ingest on the loop", digest="RPC rejections")


if __name__ == "__main__":
    main(sys.argv[1:])
