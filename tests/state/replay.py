"""Replay a seeded workload on a fresh store and print the app hash at every height (used in subprocesses)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

from state.abci import Application, RequestFinalizeBlock, RequestInitChain, ValidatorUpdate
from state.kv import KV, MemoryKV
from state.workload import Workload


def make_blocks(seed: int, n_blocks: int, per_block: int) -> tuple[Workload, list[tuple[int, list[bytes]]]]:
    wl = Workload(seed=seed, n_agencies=40, n_suppliers=300, refused_at_check=False)  # the golden model
    return wl, list(wl.blocks(n_blocks, per_block))


def init(app: Application, wl: Workload) -> bytes:
    vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
    req = RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode())
    return app.init_chain(req).app_hash


def replay(kv: KV, seed: int, n_blocks: int, per_block: int) -> Iterator[bytes]:
    wl, blocks = make_blocks(seed, n_blocks, per_block)
    app = Application(kv)
    yield init(app, wl)
    for h, (t, txs) in enumerate(blocks, start=1):
        yield app.finalize_block(RequestFinalizeBlock(txs, h, t)).app_hash
        app.commit()


if __name__ == "__main__":
    seed, n, per = (int(x) for x in sys.argv[1:4])
    for h in replay(MemoryKV(), seed, n, per):
        print(h.hex())
