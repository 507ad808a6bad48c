"""The mempool's re-check after a commit in one pass (state.abci.Application.recheck_txs, used by
node/mempool.py `Mempool.update`): the same verdicts and the same check state as check_tx(RECHECK) per tx.

Real node assembly and application; the txs mix a signer's sequence in and out of order, two txs with the
same sequence number, a gap, an unknown signer and a bad signature that is not in the signature cache.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from node.assemble import build
from state import abci
from state.crypto import PrivateKey
from state.store import Overlay
from tests.node.test_admission import REG, _bad_signature, _home, _txs

CHAIN = "egp-admission"


def _mix(seed: int) -> list[bytes]:
    from state.registry import with_check_digit
    from state.txs import RegisterSupplier, sign_tx

    rng = random.Random(seed)
    seq = _txs(40)
    other = PrivateKey.from_seed(bytes([seed % 256]) * 32)
    extra = [
        sign_tx(REG, CHAIN, 3, RegisterSupplier(with_check_digit("010999999990"), "Twin", (other.public_key.raw,))),
        sign_tx(other, CHAIN, 0, RegisterSupplier(with_check_digit("010999999991"), "Nobody", (other.public_key.raw,))),
        _bad_signature(_txs(1, start=41)[0]),
        b"\x00garbage",
    ]
    txs = [*seq[:25], seq[30], *seq[25:30], *seq[31:], *extra]
    # mostly in order, some local swaps
    for _ in range(6):
        i = rng.randrange(len(txs) - 1)
        txs[i], txs[i + 1] = txs[i + 1], txs[i]
    return txs


def test_recheck_txs_gives_check_tx_recheck_verdicts_and_check_state(tmp_path: Path) -> None:
    async def main() -> None:
        run = await build(_home(tmp_path / "h"))
        app = run.app.app
        try:
            for t in _txs(40):  # most signatures are in the cache, as for txs admitted to the mempool
                app.admit_verified(app.preverify([t])[0])  # type: ignore[arg-type]
            for seed in range(8):
                txs = _mix(seed)
                app._check = Overlay(app.kv, cache_reads=True)  # as a commit leaves it
                one_by_one = [app.check_tx(abci.RequestCheckTx(t, abci.CheckTxType.RECHECK)).code == 0 for t in txs]
                writes_one = dict(app._check.writes)
                app._check = Overlay(app.kv, cache_reads=True)
                in_one_pass = app.recheck_txs(txs)
                assert in_one_pass == one_by_one
                assert dict(app._check.writes) == writes_one
                assert 0 < sum(in_one_pass) < len(txs)  # the mix has both kinds
        finally:
            run.node.admission.close()
            run.kv.close()

    asyncio.run(main())


def test_the_mempool_drops_what_the_one_pass_recheck_refuses(tmp_path: Path) -> None:
    async def main() -> None:
        run = await build(_home(tmp_path / "h"))
        app, pool = run.app.app, run.node.mempool
        try:
            txs = _txs(10)
            for t in txs:
                assert pool.add(t).code == 0
            app._check = Overlay(app.kv, cache_reads=True)
            assert pool.update(1, []) == []  # all still valid against the fresh check state
            assert pool.txs() == txs
            app._check = Overlay(app.kv, cache_reads=True)
            dropped = pool.update(2, [txs[0]])  # tx 0 committed... but the state says nonce 0 is next:
            # (no real commit here) txs 1..9 no longer follow the expected sequence and are dropped
            assert len(dropped) == 9 and pool.txs() == [] and not pool.seen(dropped[0])
        finally:
            run.node.admission.close()
            run.kv.close()

    asyncio.run(main())
