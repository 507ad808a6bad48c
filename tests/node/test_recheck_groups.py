"""The re-check after a commit, judged per signer's run (state.abci.Application.recheck_txs): for any mempool
(several signers, sequences in and out of order, twins, gaps, bad and unverified signatures, garbage) and any
change the block made to the committed state (sequence numbers moved on, a key revoked, an institution or a
supplier suspended), the same verdicts and the same check state as check_tx(RECHECK) one tx at a time
(`ante_tx` on a child layer, merged when accepted), with and without the mempool's hashes.

And the property the short way rests on: `ante_tx` of an accepted tx writes its signer's account only, and
changes nothing in it but the sequence number (+1)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from state.abci import Application
from state.crypto import sha256
from state.errors import TxError
from state.execute import ante_tx
from state.records import Account, Institution, Supplier, k_account, k_inst, k_supplier
from state.registry import with_check_digit
from state.store import NS_STATE, Ctx, Overlay
from state.txs import RegisterSupplier, sign_tx
from tests.state.harness import CHAIN, Chain, Who

_CHAIN = Chain()  # genesis once (MemoryKV); every example gets its own Applications over a copy of it


def _check_writes(app: Application) -> dict[bytes, bytes | None]:
    """The check state's writes as bytes (the accounts `ante_tx` leaves unpacked: `Overlay.put_rec`)."""
    app._check.pack_records()
    return dict(app._check.writes)


def _actors(c: Chain) -> list[Who]:
    return [c.cgd, c.bank, c.bank2, c.agency, c.agency2, c.sup, c.sup2]


def _tx(who: Who, nonce: int, salt: int, chain: str = CHAIN) -> bytes:
    return sign_tx(who.key, chain, nonce, RegisterSupplier(with_check_digit(f"0109{salt % 10**8:08d}"), "S",
                                                            (who.key.public_key.raw,)))


def _reference(app: Application, raws: list[bytes]) -> list[bool]:
    out = []
    for raw in raws:
        try:
            dtx = app._decode(raw)
        except TxError:
            out.append(False)
            continue
        ctx = Ctx(Overlay(app._check), app.last_time, app.height + 1)
        res = ante_tx(ctx, dtx, app.params, verified=app._signature_known(dtx))
        if res.code == 0:
            ctx.view.merge_into(app._check)
        out.append(res.code == 0)
    return out


pool_items = st.lists(st.tuples(
    st.integers(0, 6),  # signer
    st.sampled_from([0, 0, 0, 0, 1, 1, 2, -1, 5]),  # step of its sequence number from its previous tx
    st.sampled_from(["cached", "cached", "cached", "cached", "unverified", "bad_sig", "wrong_chain", "garbage"]),
), min_size=1, max_size=60)
block_effects = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3), st.booleans(), st.booleans()),
                         max_size=7)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=pool_items, effects=block_effects, hashes=st.booleans())
# within a run: a bad signature, a good one not in the cache, another chain, a twin, a gap, a step back
@example(items=[(1, 0, "cached"), (1, 0, "bad_sig"), (1, -1, "cached")], effects=[], hashes=True)
@example(items=[(1, 0, "cached"), (1, 0, "unverified"), (1, 0, "cached")], effects=[], hashes=False)
@example(items=[(1, 0, "cached"), (1, 0, "wrong_chain"), (1, -1, "cached")], effects=[], hashes=True)
@example(items=[(2, 0, "cached"), (2, -1, "cached"), (2, 0, "cached"), (2, 1, "cached")], effects=[],
         hashes=True)
# interleaved signers; the block moved one on, revoked one key, suspended one owner
@example(items=[(1, 0, "cached"), (5, 0, "cached"), (1, 0, "cached"), (5, 0, "cached"), (3, 0, "cached"),
                (3, 0, "cached"), (1, 0, "cached")], effects=[(1, 1, False, False), (5, 0, True, False),
                                                               (3, 0, False, True)], hashes=True)
def test_recheck_in_runs_equals_check_tx_one_by_one(items: list[tuple[int, int, str]],
                                                       effects: list[tuple[int, int, bool, bool]],
                                                       hashes: bool) -> None:
    from state.kv import MemoryKV

    kv = MemoryKV()
    for k, v in _CHAIN.kv.iterate():
        kv.put(k, v)
    actors = _actors(_CHAIN)
    nonces = [0] * len(actors)
    raws: list[bytes] = []
    cached: list[bytes] = []
    for n, (who, step, kind) in enumerate(items):
        nonces[who] = max(0, nonces[who] + step) if n else 0
        if kind == "garbage":
            raws.append(b"\x00garbage" + bytes([n]))
            continue
        raw = _tx(actors[who], nonces[who], n, chain="other-chain" if kind == "wrong_chain" else CHAIN)
        if kind == "bad_sig":
            raw = raw[:-1] + bytes([raw[-1] ^ 1])
        if kind in ("cached", "wrong_chain"):
            cached.append(raw)
        raws.append(raw)
        nonces[who] += 1
    # what the block did to the committed state
    for who, advance, revoke, suspend in effects:
        w = actors[who]
        key = NS_STATE + k_account(w.key.public_key.address)
        acct = Account.decode(kv.get(key))  # type: ignore[arg-type]
        kv.put(key, replace(acct, nonce=acct.nonce + advance, active=acct.active and not revoke).encode())
        if suspend:
            okey = NS_STATE + (k_supplier(w.code) if w.kind == "SUPPLIER" else k_inst(w.kind, w.code))
            raw_o = kv.get(okey)
            assert raw_o is not None
            cls = Supplier if w.kind == "SUPPLIER" else Institution
            kv.put(okey, replace(cls.decode(raw_o), active=False).encode())

    verdicts = []
    writes = []
    for mode in ("reference", "runs"):
        app = Application(kv)
        for raw in cached:  # as admission leaves them: decoded, signature verified
            dtx = app.preverify([raw])[0]
            if dtx is not None:
                app.admit_verified(dtx)
        app._check = Overlay(kv, cache_reads=True)  # as a commit leaves it
        if mode == "reference":
            verdicts.append(_reference(app, raws))
        else:
            verdicts.append(app.recheck_txs(raws, [sha256(r) for r in raws] if hashes else None))
        writes.append(_check_writes(app))
    assert verdicts[1] == verdicts[0]
    assert writes[1] == writes[0]


@settings(max_examples=40, deadline=None)
@given(who=st.integers(0, 6), nonce_step=st.integers(0, 3))
def test_ante_tx_of_an_accepted_tx_moves_only_its_signers_sequence_number(who: int, nonce_step: int) -> None:
    app = Application(_CHAIN.kv)
    w = _actors(_CHAIN)[who]
    check = Overlay(_CHAIN.kv, cache_reads=True)
    ctx = Ctx(check, app.last_time, app.height + 1)
    key = NS_STATE + k_account(w.key.public_key.address)
    for n in range(nonce_step + 1):
        before = check.get(key)
        raw = _tx(w, n, n)
        res = ante_tx(ctx, app._decode(raw), app.params, verified=False)
        assert res.code == 0, res.log
        assert set(check.writes) == {key}
        assert before is not None
        assert Account.decode(check.get(key)) == replace(Account.decode(before), nonce=n + 1)  # type: ignore[arg-type]
