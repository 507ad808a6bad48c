"""The execution caches change no answer: the state cache across blocks (`StateCache`), the decoded records
of the overlay (`Overlay.objs`), the accounts packed once a block (`Overlay.put_rec`) and the per-tx undo log
(`Overlay.begin/keep/rollback`) give the same results, app hashes and stored bytes as the reference: every
record decoded from its bytes at every read, no cache across blocks, every account packed at each write, and
each tx in a child overlay merged on success (the execution before these caches)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state import errors as E
from state import execute
from state.abci import (
    Application,
    RequestCheckTx,
    RequestFinalizeBlock,
    RequestInitChain,
    RequestPrepareProposal,
    RequestProcessProposal,
    ValidatorUpdate,
)
from state.chain import ExecTxResult
from state.crypto import sha256
from state.errors import CODESPACE, TxError
from state.fastrec import pack, unpack
from state.kv import MemoryKV
from state.records import Account, Params, k_account
from state.store import NS_STATE, Ctx, KeyFilter, Overlay, StateCache
from state.txs import DecodedTx
from state.workload import Workload
from tests.state.overlay_model import overlay_step


def _reference_run_tx(block: Ctx, dtx: DecodedTx, params: Params, *, verified: bool) -> ExecTxResult:
    """`run_tx` as it was before the undo log: the domain runs in a child overlay merged on success."""
    block.tx_hash = dtx.hash
    try:
        acct = execute.authenticate(block, dtx, params, verified=verified)
    except TxError as err:
        return ExecTxResult(err.code, b"", err.log, "", 0, 0, (), CODESPACE)
    _reference_bump_nonce(block, dtx.signer_address, acct)
    ctx = block.child()
    ctx.signer_addr, ctx.signer_kind, ctx.signer_id = dtx.signer_address, acct.owner_kind, acct.owner_id
    try:
        execute.registry.check_owner_active(ctx, acct.owner_kind, acct.owner_id)
        execute.HANDLERS[dtx.tx.type](ctx, dtx.body)
    except TxError as err:
        return ExecTxResult(err.code, b"", err.log, "", 0, 0, (), CODESPACE)
    except Exception as exc:
        return ExecTxResult(E.INTERNAL.code, b"", E.INTERNAL.template.format(kind=type(exc).__name__), "", 0, 0,
                            (), CODESPACE)
    ctx.view.merge_into(block.view)
    block.validator_updates.update(ctx.validator_updates)
    return ExecTxResult(0, b"", "", "", 0, 0, tuple(ctx.events), "")


def _reference_bump_nonce(ctx: Ctx, addr: bytes, acct: Account) -> None:
    """`bump_nonce` as it was before `Overlay.put_rec`: the account packed at every tx."""
    ctx.put(k_account(addr), Account(acct.pub_key, acct.owner_kind, acct.owner_id, acct.nonce + 1, acct.active))


def _decode_every_read(self: Overlay, key: bytes, cls: Any) -> Any:
    raw = self.get(key)
    return None if raw is None else unpack(cls, raw)


@contextmanager
def reference_execution() -> Iterator[None]:
    """Within: the reference execution (no decoded records reused, child overlays per tx)."""
    import state.abci

    saved = (Overlay.get_rec, state.abci.run_tx, execute.bump_nonce)
    Overlay.get_rec = _decode_every_read  # type: ignore[method-assign]
    state.abci.run_tx = _reference_run_tx  # type: ignore[assignment]
    execute.bump_nonce = _reference_bump_nonce  # ante_tx's too (the check state)
    try:
        yield
    finally:
        Overlay.get_rec, state.abci.run_tx, execute.bump_nonce = saved  # type: ignore[method-assign,assignment]


@contextmanager
def failing_after_writes(share: int) -> Iterator[None]:
    """Every domain handler, after it ran (its writes, events and validator updates made), then fails for about
    `share` in 8 txs (chosen by the tx hash, the same in both runs): a refusal or a bug, so the rollback of
    writes already made is exercised (the real rules mostly refuse before writing)."""
    saved = dict(execute.HANDLERS)

    def wrap(handler: execute.Handler) -> execute.Handler:
        def failing(ctx: Ctx, body: Any) -> None:
            handler(ctx, body)
            ctx.emit("doomed", {"n": 1})
            ctx.validator_updates[b"v" * 32] = 5
            if ctx.tx_hash[0] % 8 < share:
                if ctx.tx_hash[1] % 2:
                    raise TxError(E.BAD_FIELD, field="x", reason="made to fail after its writes")
                raise RuntimeError("a bug after the writes")
        return failing

    for name, handler in saved.items():
        execute.HANDLERS[name] = wrap(handler)
    try:
        yield
    finally:
        execute.HANDLERS.update(saved)


def _genesis(wl: Workload) -> RequestInitChain:
    vals = [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()]
    return RequestInitChain(wl.start_ms, wl.chain_id, vals, json.dumps(wl.genesis_app_state()).encode())


def _blocks(seed: int, n_blocks: int, per_block: int, invalid: float, shuffle: bool) -> tuple[
        Workload, list[tuple[int, list[bytes]]]]:
    wl = Workload(seed=seed, n_banks=4, n_agencies=6, n_suppliers=30, invalid_share=invalid, refused_at_check=False)
    blocks = list(wl.blocks(n_blocks, per_block, block_ms=3_600_000 * (1 + seed % 48)))
    if shuffle:  # out of order: bad sequence numbers, unknown instruments, refusals after writes (rollbacks)
        rng = random.Random(seed)
        for _, txs in blocks:
            rng.shuffle(txs)
    return wl, blocks


def _check_cache_is_committed_state(app: Application, kv: MemoryKV) -> None:
    cache = app.cache
    assert cache is not None
    for k in {*cache.young, *cache.old}:
        e = cache.get(k)
        assert e is not None
        raw, rec = e
        assert k[:1] == NS_STATE and kv.get(k) == raw, k
        assert rec is None or (raw is not None and pack(rec) == raw), k  # type: ignore[arg-type]


def _run(blocks: list[tuple[int, list[bytes]]], wl: Workload, *, reference: bool, cache_size: int,
         check_first: bool, hashes: str | None = None, restart_at: int = 0,
         proposal: bool = False) -> tuple[list[Any], dict[bytes, bytes]]:
    kv = MemoryKV()
    out: list[Any] = []
    app = Application(kv, state_cache_size=0 if reference else cache_size)
    app.init_chain(_genesis(wl))
    for h, (t, txs) in enumerate(blocks, start=1):
        if check_first:  # check_tx reads through the same cache (the check state)
            out.append([app.check_tx(RequestCheckTx(raw)).code for raw in txs])
        out.append(app.prepare_proposal(RequestPrepareProposal(1 << 20, txs, h, t)).txs)  # nonces via the cache
        given = None  # the caller's tx hashes (the node passes its block's): right ones, or wrong ones
        if hashes == "right":
            given = [sha256(raw) for raw in txs]
        elif hashes == "wrong":
            given = [sha256(raw + b"x") for raw in txs][::-1]
        if proposal:  # a peer's proposal: the txs it decodes (not in the signature cache) are kept for finalize
            out.append(app.process_proposal(RequestProcessProposal(txs, h, t, tx_hashes=given)).status)
            if reference:
                app._proposed.clear()  # the reference decodes every tx in finalize
        resp = app.finalize_block(RequestFinalizeBlock(txs, h, t, tx_hashes=given))
        out.append(resp)
        app.commit()
        out.append(app.app_hash)
        if h == restart_at:  # a new Application over the same store: its key filter comes from a scan
            app = Application(kv, state_cache_size=cache_size)
            assert app.cache is not None and app.cache.keys is not None and app.cache.keys.count > 0
        if not reference:
            _check_cache_is_committed_state(app, kv)
    return out, dict(kv._root.data)  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_blocks=st.integers(1, 5), per_block=st.integers(1, 40),
       invalid=st.sampled_from([0.0, 0.1, 0.3]), shuffle=st.sampled_from([False, False, True]),
       cache_size=st.sampled_from([2, 7, 64, 65_536]), check_first=st.booleans(), fail=st.integers(0, 3),
       hashes=st.sampled_from([None, "right", "wrong"]), proposal=st.booleans())
def test_caches_give_the_reference_results_hashes_and_bytes(seed: int, n_blocks: int, per_block: int,
                                                            invalid: float, shuffle: bool, cache_size: int,
                                                            check_first: bool, fail: int, hashes: str | None,
                                                            proposal: bool) -> None:
    wl, blocks = _blocks(seed, n_blocks, per_block, invalid, shuffle)
    with failing_after_writes(fail):
        with reference_execution():
            ref, ref_kv = _run(blocks, wl, reference=True, cache_size=0, check_first=check_first,
                               proposal=proposal)
        wl2, _ = _blocks(seed, n_blocks, per_block, invalid, shuffle)
        got, got_kv = _run(blocks, wl2, reference=False, cache_size=cache_size, check_first=check_first,
                           hashes=hashes, proposal=proposal)
    assert got == ref
    assert got_kv == ref_kv


def test_recorded_records_round_trip_through_their_bytes() -> None:
    """The premise of reusing the record a tx put: decoding its bytes gives an equal record (no list where the
    record declares a tuple, no int where it declares a bool...), and the bytes written with it are `pack(rec)`
    (state/lg_core.py packs a guarantee from its fields' dict). Every record written with its bytes
    (`Overlay.put` with a record: `Ctx.put`, a guarantee's `_store`) of a workload run."""
    puts = 0
    orig = Overlay.put

    def checked(self: Overlay, key: bytes, value: bytes | None, rec: Any = None) -> None:
        nonlocal puts
        if rec is not None and value is not None and type(value) is bytes:  # not put_rec's deferred mark
            assert value == pack(rec), (type(rec).__name__, key)
            assert unpack(type(rec), value) == rec and type(unpack(type(rec), value)) is type(rec)
            for name, v in vars(rec).items():
                again = getattr(unpack(type(rec), value), name)
                assert type(again) is type(v), (type(rec).__name__, name)
            puts += 1
        orig(self, key, value, rec)

    Overlay.put = checked  # type: ignore[method-assign]
    try:
        wl, blocks = _blocks(3, 12, 60, 0.1, False)
        _run(blocks, wl, reference=False, cache_size=65_536, check_first=True)
    finally:
        Overlay.put = orig  # type: ignore[method-assign]
    assert puts > 500


def test_rollback_restores_reads_records_and_iteration() -> None:
    kv = MemoryKV()
    kv.put(b"sa", b"1")
    kv.put(b"sc", b"3")
    o = Overlay(kv, cache_reads=True, shared=StateCache(4))
    acct = Account(b"k" * 32, "BANK", "006", 1, True)
    o.put(b"sb", pack(acct), acct)
    before = (dict(o.writes), dict(o.objs), list(o.iterate()))
    o.begin()
    o.put(b"sb", b"x")
    o.put(b"sd", b"4")
    o.delete(b"sa")
    assert list(o.iterate()) == [(b"sb", b"x"), (b"sc", b"3"), (b"sd", b"4")]
    o.rollback()
    assert (dict(o.writes), dict(o.objs), list(o.iterate())) == before
    assert o.get_rec(b"sb", Account) is acct and o.get(b"sd") is None
    o.begin()
    o.put(b"sd", b"5")  # a key a rollback dropped, written again and kept: listed once
    o.keep()
    assert list(o.iterate()) == [(b"sa", b"1"), (b"sb", pack(acct)), (b"sc", b"3"), (b"sd", b"5")]
    other = Account(b"k" * 32, "BANK", "006", 2, True)
    o.put(b"sb", pack(other))  # bytes without their record: the old record is not served for them
    assert o.get_rec(b"sb", Account) == other
    o.delete(b"sb")
    assert o.get_rec(b"sb", Account) is None and o.get(b"sb") is None


def test_state_cache_is_bounded_and_the_young_generation_wins() -> None:
    c = StateCache(4)
    c.update({b"s1": (b"a", None), b"s2": (b"b", None)})  # young full: it becomes the old generation
    c.update({b"s1": (b"c", None)})
    assert c.get(b"s1") == (b"c", None) and c.get(b"s2") == (b"b", None)
    c.update({b"s3": (None, None)})
    assert c.get(b"s2") is None and c.get(b"s1") == (b"c", None) and c.get(b"s3") == (None, None)
    assert len(c) <= 4


_KEYS = [bytes([a, b]) for a in b"abc" for b in b"xyz"]


@settings(max_examples=300, deadline=None)
@given(base=st.dictionaries(st.sampled_from(_KEYS), st.binary(min_size=1, max_size=2), max_size=6),
       ops=st.lists(st.tuples(st.sampled_from(["put", "del", "rec", "rec", "begin", "keep", "rollback", "iter",
                                               "pack", "getrec"]),
                              st.sampled_from(_KEYS), st.binary(min_size=1, max_size=2),
                              st.sampled_from([b"", b"a", b"b", b"c", b"ax", b"cz"])), max_size=60),
       fold=st.sampled_from([1, 3, 2048]))
def test_overlay_reads_and_iteration_follow_a_model(base: dict[bytes, bytes], ops: list[tuple[str, bytes, bytes,
                                                                                            bytes]],
                                                    fold: int) -> None:
    """Writes, deletes, records written unpacked (`put_rec`, packed by `pack_records` or when read), kept and
    rolled-back txs, and range iteration at any point (whatever `_FOLD`), against a plain dict with copies for
    the txs."""
    import state.store as store

    kv = MemoryKV()
    for k, v in base.items():
        kv.put(k, v)
    saved_fold, store._FOLD = store._FOLD, fold
    try:
        o = Overlay(kv, cache_reads=True)
        model, snapshot = dict(base), None
        for op, key, value, prefix in ops:
            if op == "rec":
                rec = Account(value, "BANK", key.hex(), value[0], True)
                o.put_rec(key, rec)
                model[key] = pack(rec)
            elif op == "pack":
                o.pack_records()
                assert all(type(v) is bytes or v is None for v in o.writes.values())
            elif op == "getrec" and len(model.get(key) or b"") > 2:  # a record's bytes (raw values: 1-2 bytes)
                assert pack(o.get_rec(key, Account)) == model[key]  # type: ignore[arg-type]
            elif op == "iter":
                want = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
                assert list(o.iterate(prefix=prefix or None)) == want
                assert list(o.iterate(prefix=prefix or None, reverse=True)) == want[::-1]
            else:
                model, snapshot = overlay_step(o, op, key, value, model, snapshot)
            assert all(o.get(k) == model.get(k) for k in _KEYS)
        assert list(o.iterate()) == sorted(model.items())
        o.pack_records()
        assert all(model.get(k) == v for k, v in o.writes.items())  # what a block's batch would write
        assert all(base[k] == v for k, v in model.items() if k not in o.writes)
        assert all(type(v) is bytes or v is None for v in o.writes.values())
    finally:
        store._FOLD = saved_fold


def test_a_record_left_unpacked_is_packed_once_and_rolled_back_exactly() -> None:
    """`put_rec`: the bytes are made when needed (a read, iteration, `pack_records`), from the last record
    written; a tx rolled back restores the unpacked record even after a `pack_records` inside it."""
    kv = MemoryKV()
    kv.put(b"ax", b"1")
    o = Overlay(kv, cache_reads=True)
    a0, a1, a2 = (Account(b"k", "BANK", "B", n, True) for n in range(3))
    o.put_rec(b"ax", a0)
    o.put_rec(b"ax", a1)
    assert o.get_rec(b"ax", Account) is a1 and o.writes[b"ax"] is not pack(a1)  # not packed yet
    o.begin()
    o.put_rec(b"ax", a2)
    o.put(b"ay", b"2")
    o.pack_records()
    assert o.writes == {b"ax": pack(a2), b"ay": b"2"}
    o.rollback()
    assert o.get_rec(b"ax", Account) is a1
    assert list(o.iterate()) == [(b"ax", pack(a1))]
    o.put_rec(b"ax", a0)  # the read or the iteration packed a1 on the way: only the last record counts
    o.pack_records()
    assert o.writes == {b"ax": pack(a0)} and type(o.writes[b"ax"]) is bytes
    o.begin()
    o.put_rec(b"ax", a2)
    o.put(b"ax", b"raw")  # a plain write over an unpacked record wins
    o.keep()
    o.pack_records()
    assert o.writes == {b"ax": b"raw"} and o.get(b"ax") == b"raw"
    o.begin()
    o.put(b"ax", b"3")
    o.pack_records()
    o.rollback()
    assert o.get(b"ax") == b"raw"
    o.put_rec(b"ax", a1)
    o.begin()
    o.put(b"ax", b"4")  # the undo log keeps the unpacked record
    o.pack_records()
    o.rollback()
    o.pack_records()
    assert o.writes == {b"ax": pack(a1)} and type(o.writes[b"ax"]) is bytes


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.binary(min_size=0, max_size=40), max_size=300), more=st.lists(st.binary(max_size=40),
       max_size=100), bits=st.integers(3, 12))
def test_key_filter_never_forgets_a_key(keys: list[bytes], more: list[bytes], bits: int) -> None:
    """KeyFilter: no false "absent" for any key added (at the scan, one by one, in bulk), at any size (a tiny
    one is mostly "may hold", which is only a LevelDB read)."""
    f = KeyFilter(bits + 3)
    f.update(iter(keys))
    for k in more[: len(more) // 2]:
        f.add(k)
    f.update(more[len(more) // 2:])
    assert all(f.may_hold(k) for k in keys + more)
    assert f.count == len(keys) + len(more)
    g = KeyFilter.of(iter(keys))
    assert all(g.may_hold(k) for k in keys)
    assert g.mask + 1 == 1 << KeyFilter.MIN_BITS_LOG2  # < 262,144 keys


def test_key_filter_answers_absent_without_the_store() -> None:
    """The block overlay and the check state take a key the filter does not hold as absent without a read of
    the committed KV; a key it may hold is read (a wrong "may hold" is answered by the store)."""

    class Counting(MemoryKV):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[bytes] = []

        def get(self, key: bytes) -> bytes | None:
            self.reads.append(key)
            return super().get(key)

    kv = Counting()
    kv.put(NS_STATE + b"lg/A", b"1")
    cache = StateCache(16)
    cache.keys = KeyFilter.of(k for k, _ in kv.iterate(prefix=NS_STATE))
    o = Overlay(kv, cache_reads=True, shared=cache)
    assert o.get(NS_STATE + b"lg/A") == b"1"
    absent = [NS_STATE + b"lg/%d" % i for i in range(200)]
    assert all(o.get(k) is None for k in absent)
    assert len(kv.reads) < 10  # lg/A and the few false "may hold" (2 probes in 2**23 bits: ~none)
    kv.reads.clear()
    assert o.get(b"i" + b"lg/none") is None and kv.reads == [b"i" + b"lg/none"]  # other namespaces: the store
    o2 = Overlay(kv, cache_reads=False, shared=cache)  # an overlay that does not cache reads ignores it
    kv.reads.clear()
    assert o2.get(NS_STATE + b"lg/1") is None and kv.reads == [NS_STATE + b"lg/1"]
    big = KeyFilter.of(b"%d" % i for i in range(300_000))  # sized at ~32 bits a key
    assert big.mask + 1 == 1 << (KeyFilter.MIN_BITS_LOG2 + 1)
    assert all(big.may_hold(b"%d" % i) for i in range(300_000))


def test_a_restarted_application_scans_its_keys_and_gives_the_same_results() -> None:
    """An Application built over a store with state (a node's restart) fills its key filter by a scan: the
    blocks after the restart give the results, app hashes and bytes of an application without caches."""
    wl, blocks = _blocks(7, 6, 30, 0.1, False)
    with reference_execution():
        ref, ref_kv = _run(blocks, wl, reference=True, cache_size=0, check_first=True)
    wl2, _ = _blocks(7, 6, 30, 0.1, False)
    got, got_kv = _run(blocks, wl2, reference=False, cache_size=65_536, check_first=True, restart_at=3)
    assert got == ref
    assert got_kv == ref_kv
