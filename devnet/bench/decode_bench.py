"""Micro-benchmark of the strict transaction decoder (`state/txs.py` `decode_tx` → `state/fastrec.py` `strict`).

    python -m devnet.bench.decode_bench                    # 5,000 txs of the realistic mix, best of 15

Why: with full-rules `check_tx`, every tx is strictly decoded at least once per node (check_tx, and again in
finalize_block when the signature cache misses); the profile of the app puts `strict` at ~15 % of
check_tx + finalize_block + commit CPU. Figures are per CPU-second (`time.process_time`), the best of
`--repeat` passes, since the machine is shared. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

from state.txs import decode_tx
from state.workload import Workload


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    wl = Workload(seed=args.seed)
    txs = [tx for _, block in wl.blocks(1, args.txs) for tx in block]
    best = float("inf")
    for _ in range(args.repeat):
        c0 = time.process_time()
        for tx in txs:
            decode_tx(tx)
        best = min(best, time.process_time() - c0)
    print(f"decode_tx: {len(txs) / best:,.0f} txs per CPU-second ({best / len(txs) * 1e6:.2f} us/tx, "
          f"{len(txs):,} txs, best of {args.repeat})")


if __name__ == "__main__":
    main(sys.argv[1:])
