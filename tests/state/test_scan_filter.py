"""The scans the key filter answers without the store (store.SCAN_FILTERED: the open credit requests that every
credit confirmation issued looks for): the same results, app hashes and stored bytes as the plain scan, across
blocks, rollbacks and restarts, and an overlay's scans equal a model's."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.abci import Application, RequestCheckTx, RequestFinalizeBlock
from state.kv import MemoryKV
from state.store import NS_INDEX, SCAN_FILTERED, KeyFilter, Overlay, StateCache, scan_marks
from state.txs import DeclineCredit, IssueCredit, RequestCredit
from tests.state.harness import Chain, Who
from tests.state.overlay_model import overlay_step

PURPOSES = ("BID_QUALIFICATION", "EGP_REGISTRATION")


def _ops(seed: int, n_blocks: int, per_block: int) -> list[list[tuple[str, int, int, int, int]]]:
    """Blocks of (kind, supplier, bank, purpose, addressee) choices, seeded."""
    rng = random.Random(seed)
    kinds = ["request"] * 4 + ["issue"] * 4 + ["decline"]
    return [[(rng.choice(kinds), rng.randrange(2), rng.randrange(2), rng.randrange(2), rng.randrange(2))
             for _ in range(per_block)] for _ in range(n_blocks)]


def _drive(blocks: list[list[tuple[str, int, int, int, int]]], *, variant: str, restart_at: int,
           dry_run: bool) -> tuple[list[Any], dict[bytes, bytes]]:
    """Run the credit request/issue/decline blocks on a fresh chain; `variant`: "filter" (the default
    application), "plain" (no key filter), "nocache" (no state cache, so no filter either)."""
    c = Chain()

    def app_of() -> Application:
        if variant == "filter":
            return Application(c.kv)
        if variant == "plain":
            return Application(c.kv, key_filter=False)
        return Application(c.kv, state_cache_size=0)

    c.app = app_of()
    sups, banks = [c.sup, c.sup2], [c.bank, c.bank2]
    addressees = ("CGD", "AG1")
    out: list[Any] = []
    request_ids: list[str] = []
    ref = 0
    for h, ops in enumerate(blocks, start=1):
        txs: list[bytes] = []
        for kind, s, b, p, a in ops:
            who: Who
            if kind == "request":
                who, body = sups[s], RequestCredit(banks[b].code, PURPOSES[p], addressees[a], "", 1)
            elif kind == "issue":
                ref += 1
                who, body = banks[b], IssueCredit(f"C{ref}", sups[s].code, PURPOSES[p], addressees[a], "",
                                                  10_000, 1, 0, b"\x02" * 32)
            else:
                rid = request_ids[(s * 7 + b * 3 + p) % len(request_ids)] if request_ids else "nope"
                who, body = banks[b], DeclineCredit(rid, "no")
            raw = c.tx(who, body)
            if dry_run:  # the RPC's simulation reads through the check state (its scans are filtered too)
                out.append(c.app.check_tx(RequestCheckTx(raw), dry_run=True).code)
            txs.append(raw)
        c.now += 1000
        resp = c.app.finalize_block(RequestFinalizeBlock(txs, h, c.now))
        c.app.commit()
        out.append(resp)
        for r in resp.tx_results:
            for e in r.events:
                if e.type == "ccrq" and any(x.key == "status" and x.value == "REQUESTED" for x in e.attributes):
                    request_ids.append(next(x.value for x in e.attributes if x.key == "id"))
        if h == restart_at:  # a new application over the same store: the filter's marks come from its scan
            c.app = app_of()
    return out, dict(c.kv._root.data)  # type: ignore[attr-defined]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_blocks=st.integers(1, 5), per_block=st.integers(1, 12),
       restart_at=st.integers(0, 5), dry_run=st.booleans())
def test_filtered_scans_give_the_plain_results_hashes_and_bytes(seed: int, n_blocks: int, per_block: int,
                                                               restart_at: int, dry_run: bool) -> None:
    blocks = _ops(seed, n_blocks, per_block)
    ref = _drive(blocks, variant="nocache", restart_at=restart_at, dry_run=dry_run)
    assert _drive(blocks, variant="plain", restart_at=restart_at, dry_run=dry_run) == ref
    assert _drive(blocks, variant="filter", restart_at=restart_at, dry_run=dry_run) == ref


def test_a_credit_issued_with_no_open_request_does_not_scan_the_store() -> None:
    c = Chain()
    scans: list[bytes | None] = []
    root = c.kv._root  # type: ignore[attr-defined]
    orig = root.scan

    def counting(start: bytes | None, stop: bytes | None, reverse: bool) -> Any:
        scans.append(start)
        return orig(start, stop, reverse)

    root.scan = counting
    issue = IssueCredit("X1", c.sup.code, PURPOSES[0], "CGD", "", 10_000, 1, 0, b"\x02" * 32)
    c.ok(c.bank, issue)
    assert not [s for s in scans if s is not None and s.startswith(b"iccrq/")]
    c.ok(c.sup, RequestCredit("006", PURPOSES[0], "CGD", "", 1))  # an open request of this pair: it scans
    scans.clear()
    r = c.ok(c.bank, IssueCredit("X2", c.sup.code, PURPOSES[0], "CGD", "", 10_000, 1, 0, b"\x02" * 32))
    assert [s for s in scans if s is not None and s.startswith(b"iccrq/006/")]
    assert [e.type for e in r.events] == ["cc", "ccrq"]  # the request was found and fulfilled


_SEGS = [b"a", b"b", b"a/b", b"", b"ab"]


def _fam_key(parts: tuple[bytes, ...]) -> bytes:
    return SCAN_FILTERED[0] + b"/".join(parts)


_key = st.tuples(*[st.sampled_from(_SEGS)] * 3).map(_fam_key)
_prefix = st.one_of(st.just(SCAN_FILTERED[0]), st.tuples(st.sampled_from(_SEGS), st.sampled_from(_SEGS)).map(
    lambda t: _fam_key(t) + b"/"), st.sampled_from(_SEGS).map(lambda s: _fam_key((s,)) + b"/"),
    st.sampled_from(_SEGS).map(lambda s: _fam_key((s,))), st.just(NS_INDEX + b"cc"))


@settings(max_examples=300, deadline=None)
@given(base=st.lists(_key, max_size=6),
       blocks=st.lists(st.lists(st.tuples(st.sampled_from(["put", "del", "begin", "keep", "rollback", "iter"]),
                                          _key, _prefix), max_size=25), min_size=1, max_size=3))
def test_an_overlays_filtered_scans_follow_a_model(base: list[bytes], blocks: list[list[tuple[str, bytes, bytes]]]
                                                   ) -> None:
    """Keys with any '/' in their parts, committed at the start (filter marks from a scan) or by earlier blocks
    (marks of what they wrote), written, deleted, rolled back; every scan equals the model's."""
    kv = MemoryKV()
    for k in base:
        kv.put(k, b"v")
    shared = StateCache(64)
    shared.keys = KeyFilter.of([])
    shared.keys.update([m for k, _ in kv.iterate(prefix=SCAN_FILTERED[0]) for m in scan_marks(k)])
    model = {k: b"v" for k in base}
    for ops in blocks:
        o = Overlay(kv, cache_reads=True, shared=shared)
        snapshot = None
        for op, key, prefix in ops:
            model, snapshot = overlay_step(o, op, key, key[-3:], model, snapshot)
            want = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
            assert list(o.iterate(prefix=prefix)) == want
            assert list(o.iterate(prefix=prefix, reverse=True)) == want[::-1]
        if snapshot is not None:
            o.keep()
        # commit, as the application does: marks first, then the write
        shared.keys.update([m for k in o.written_under(SCAN_FILTERED[0]) for m in scan_marks(k)])
        assert o.written_under(SCAN_FILTERED[0]) == sorted(k for k, v in o.writes.items() if v is not None)
        b = kv.batch()
        b.extend(o.writes.items())
        b.commit()
        assert dict(kv.iterate(prefix=SCAN_FILTERED[0])) == model
