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


def _check_writes(app: abci.Application) -> dict[bytes, bytes | None]:
    """The check state's writes as bytes (the accounts `ante_tx` leaves unpacked: `Overlay.put_rec`)."""
    app._check.pack_records()
    return dict(app._check.writes)


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
                writes_one = _check_writes(app)
                app._check = Overlay(app.kv, cache_reads=True)
                in_one_pass = app.recheck_txs(txs)
                assert in_one_pass == one_by_one
                assert _check_writes(app) == writes_one
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


def _reference_check(app: abci.Application, raw: bytes) -> int:
    """check_tx as it was before `Application._check_new`: a child layer, a context and a merge per tx."""
    from state.errors import TxError
    from state.execute import ante_tx
    from state.store import Ctx

    try:
        dtx = app._decode(raw)
    except TxError as err:
        return err.code
    verified = app._signature_known(dtx)
    ctx = Ctx(Overlay(app._check), app.last_time, app.height + 1)
    out = ante_tx(ctx, dtx, app.params, verified=verified)
    if out.code == 0:
        ctx.view.merge_into(app._check)
    return out.code


def test_check_on_one_context_gives_the_child_layer_verdicts_and_check_state(tmp_path: Path) -> None:
    """`check_code` / `check_tx` run `ante_tx` straight on the check state through one reused context; the
    verdicts and the check state are those of a child layer merged per accepted tx, and a new check state
    (what a commit leaves) gets a new context: its verdicts follow the new state, not the old one."""

    async def main() -> None:
        run = await build(_home(tmp_path / "h"))
        app = run.app.app
        try:
            for t in _txs(40):
                app.admit_verified(app.preverify([t])[0])  # type: ignore[arg-type]
            for seed in range(8):
                txs = _mix(seed)
                app._check = Overlay(app.kv, cache_reads=True)
                ref = [_reference_check(app, t) for t in txs]
                writes_ref = _check_writes(app)
                app._check = Overlay(app.kv, cache_reads=True)
                fast = [app.check_code(t)[0] for t in txs]
                assert fast == ref
                assert _check_writes(app) == writes_ref
                assert 0 < ref.count(0) < len(txs)
                # the same txs again on the same check state: every accepted one is now a replayed nonce
                assert all(app.check_code(t)[0] != 0 for t, code in zip(txs, ref, strict=True) if code == 0)
                # the ABCI entry point agrees (and names the sender of an accepted tx)
                app._check = Overlay(app.kv, cache_reads=True)
                full = [app.check_tx(abci.RequestCheckTx(t)) for t in txs]
                assert [r.code for r in full] == ref
                assert all(r.sender and r.nonce >= 0 for r in full if r.code == 0)
        finally:
            run.node.admission.close()
            run.kv.close()

    asyncio.run(main())


def test_the_node_gets_one_shared_accepted_verdict_and_the_refusals_codes(tmp_path: Path) -> None:
    from node.mempool import ACCEPTED
    from state.errors import CODESPACE

    async def main() -> None:
        run = await build(_home(tmp_path / "h"))
        try:
            txs = _txs(3)
            assert run.app.check(txs[0], False) is ACCEPTED
            refused = run.app.check(txs[0], True)  # its sequence number is taken now
            assert refused.code != 0 and refused.log and refused.codespace == CODESPACE
            assert run.app.check(b"\x00garbage", False).code != 0
        finally:
            run.node.admission.close()
            run.kv.close()

    asyncio.run(main())
