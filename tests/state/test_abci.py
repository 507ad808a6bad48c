"""ABCI++ semantics: check state, signature cache, proposals, validator updates, evidence, queries."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from state import errors as E
from state import execute
from state.abci import (
    Application,
    CheckTxType,
    Misbehavior,
    ProposalStatus,
    RequestCheckTx,
    RequestFinalizeBlock,
    RequestPrepareProposal,
    RequestProcessProposal,
    RequestQuery,
)
from state.crypto import address, sha256
from state.proofs import StateProof
from state.records import lg_id_of
from state.txs import (
    MAX_TX_BYTES,
    ApproveValidator,
    Demand,
    IssueGuarantee,
    ProposeValidator,
    PublishRequirement,
    Release,
    RequestGuarantee,
    decode_tx,
    sign_tx,
)
from tests.state.harness import CHAIN, DAY, Chain

H = b"\x02" * 32


def req_body(i: int) -> PublishRequirement:
    return PublishRequirement(f"R{i}", "P", "1", "PERF", 100, 2_000_000_000_000, 0, "F")


def test_check_tx_nonces_advance_in_check_state_only() -> None:
    c = Chain()
    t0, t1 = c.tx(c.agency, req_body(0)), c.tx(c.agency, req_body(1))
    assert c.app.check_tx(RequestCheckTx(t0)).code == 0
    assert c.app.check_tx(RequestCheckTx(t0)).code == E.BAD_NONCE.code  # replay refused
    assert c.app.check_tx(RequestCheckTx(t1)).code == 0
    assert c.query(f"/account/{address(c.agency.key.public_key.raw).hex()}")["result"]["nonce"] == 0
    c.block([t0])
    # after commit the check state is reset: the mempool's remaining t1 rechecks fine, t0 no longer
    assert c.app.check_tx(RequestCheckTx(t1, CheckTxType.RECHECK)).code == 0
    assert c.app.check_tx(RequestCheckTx(t0, CheckTxType.RECHECK)).code == E.BAD_NONCE.code


def test_check_tx_rejections() -> None:
    c = Chain()
    good = c.tx(c.agency, req_body(0))
    bad_sig = good[:-1] + bytes([good[-1] ^ 1])
    assert c.app.check_tx(RequestCheckTx(bad_sig)).code == E.BAD_SIGNATURE.code
    assert c.app.check_tx(RequestCheckTx(b"\x93garbage")).code == E.MALFORMED_TX.code
    other = sign_tx(c.agency.key, "other-chain", 0, req_body(0))
    assert c.app.check_tx(RequestCheckTx(other)).code == E.WRONG_CHAIN.code
    from state.crypto import PrivateKey

    stranger = sign_tx(PrivateKey.from_seed(b"\x09" * 32), CHAIN, 0, req_body(0))
    assert c.app.check_tx(RequestCheckTx(stranger)).code == E.UNKNOWN_SIGNER.code
    assert c.app.check_tx(RequestCheckTx(b"\x00" * 70_000)).code == E.TX_TOO_LARGE.code


def check(c: Chain, tx: bytes, *, recheck: bool = False, dry_run: bool = False) -> int:
    kind = CheckTxType.RECHECK if recheck else CheckTxType.NEW
    r = c.app.check_tx(RequestCheckTx(tx, kind), dry_run=dry_run)
    assert r.code == 0 or (r.codespace == "egp" and r.log), r
    return r.code


def test_check_tx_simulation_runs_domain_rules() -> None:
    """The wallet asks for a simulation (RPC `check_tx`) before it broadcasts: a bank officer learns of a
    refusal with the domain's code and sentence, and nothing is kept."""
    c = Chain()
    lg_id = c.active()
    c.ok(c.agency, Release(lg_id))
    demand = c.tx(c.agency, Demand(lg_id, 1, H, 0))
    r = c.app.check_tx(RequestCheckTx(demand), dry_run=True)
    assert (r.code, r.codespace) == (E.TERMINAL.code, "egp")
    assert "RELEASED" in r.log
    c.agency.nonce -= 1  # a simulation takes no sequence number
    lg2 = c.active("REF2", "R2", partial=True)
    assert check(c, c.tx(c.agency, Demand(lg2, 600_000_00, H, 0)), dry_run=True) == E.DEMAND_EXCEEDS_AVAILABLE.code
    c.agency.nonce -= 1
    assert check(c, c.tx(c.bank, Demand(lg2, 100, H, 0)), dry_run=True) == E.NOT_AUTHORISED.code  # signer's role
    c.bank.nonce -= 1
    assert check(c, c.tx(c.agency, Demand(lg2, 100, H, 0)), dry_run=True) == 0


def test_mempool_admission_checks_the_envelope_not_the_domain() -> None:
    """Mempool admission is CometBFT's CheckTx as Cosmos apps run it: signer, sequence, signature, an
    active owner. A tx the domain refuses is admitted, refused in the block with its code, and takes its
    sequence number there, so the signer's next tx (already in the mempool) is not stranded."""
    c = Chain()
    lg_id = c.active()
    c.ok(c.agency, Release(lg_id))
    refused = c.tx(c.agency, Demand(lg_id, 1, H, 0))
    after = c.tx(c.agency, req_body(7))
    assert check(c, refused) == 0
    assert check(c, after) == 0  # judged after `refused`: its sequence number is taken in the check state
    assert check(c, c.tx(c.agency, req_body(8)), dry_run=True) == 0
    c.agency.nonce -= 1
    assert [r.code for r in c.block([refused, after])] == [E.TERMINAL.code, 0]
    stale = sign_tx(c.agency.key, CHAIN, 0, req_body(9))
    assert check(c, stale) == E.BAD_NONCE.code  # the envelope rules still refuse at admission


def test_check_tx_dependent_txs_in_one_block() -> None:
    """Request (supplier) then issue against it (bank): both accepted at check_tx and in one block."""
    c = Chain()
    req = c.requirement()
    t_req = c.tx(c.sup, RequestGuarantee("006", req, "PERF", 500_000_00, c.now + 200 * DAY))
    rid = decode_tx(t_req).hash[:16].hex()
    t_issue = c.tx(c.bank, IssueGuarantee("REF9", rid, "PERF", c.sup.code, req, 1, 500_000_00, c.now + 200 * DAY,
                                          True, True, True, False, b"\x01" * 32, ""))
    # simulated alone (the request not yet committed) the issue is refused; the mempool takes both
    assert check(c, t_issue, dry_run=True) == E.UNKNOWN_REQUEST.code
    assert check(c, t_req) == 0
    assert check(c, t_issue) == 0
    assert [r.code for r in c.block([t_req, t_issue])] == [0, 0]
    assert c.lg(lg_id_of("006", "REF9")).status == "ISSUED"


def test_check_tx_dry_run_keeps_nothing() -> None:
    c = Chain()
    t0 = c.tx(c.agency, req_body(0))
    assert check(c, t0, dry_run=True) == 0
    assert check(c, t0, dry_run=True) == 0  # no sequence number consumed
    assert check(c, t0) == 0
    assert check(c, t0, dry_run=True) == E.BAD_NONCE.code


def test_recheck_drops_txs_invalidated_by_the_block() -> None:
    c = Chain()
    pending = c.tx(c.agency, req_body(0))
    assert check(c, pending) == 0
    rival = sign_tx(c.agency.key, CHAIN, 0, req_body(1))  # same sequence number, included by another proposer
    c.block([rival])
    assert check(c, pending, recheck=True) == E.BAD_NONCE.code


def test_signature_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    c = Chain()
    calls = []
    real = execute.verify

    def counting(pub: bytes, msg: bytes, sig: bytes) -> bool:
        calls.append(1)
        return real(pub, msg, sig)

    monkeypatch.setattr(execute, "verify", counting)
    seen, unseen = c.tx(c.agency, req_body(0)), c.tx(c.agency, req_body(1))
    assert c.app.check_tx(RequestCheckTx(seen)).code == 0
    assert len(calls) == 1  # check_tx verified it
    calls.clear()
    results = c.block([seen, unseen])
    assert [r.code for r in results] == [0, 0]
    assert len(calls) == 1  # only the tx this node never saw was verified in finalize_block
    calls.clear()
    refused = c.tx(c.agency, Release("LGNOPE"))  # well signed, refused by the rules in the block
    assert check(c, refused) == 0
    assert [r.code for r in c.block([refused])] == [E.UNKNOWN_GUARANTEE.code]
    assert len(calls) == 1  # verified once, at check_tx
    forged = c.tx(c.agency, req_body(2))
    forged = forged[:-1] + bytes([forged[-1] ^ 1])
    assert c.block([forged])[0].code == E.BAD_SIGNATURE.code


def test_failed_tx_consumes_nonce_but_not_state() -> None:
    c = Chain()
    r = c.do(c.agency, Release("LGNOPE"))
    assert r.code == E.UNKNOWN_GUARANTEE.code
    assert c.query(f"/account/{address(c.agency.key.public_key.raw).hex()}")["result"]["nonce"] == 1


def test_prepare_and_process_proposal() -> None:
    c = Chain()
    a0, a1, a2 = (c.tx(c.agency, req_body(i)) for i in range(3))
    resp = c.app.prepare_proposal(RequestPrepareProposal(10_000, [a0, b"junk", a2, a1], 1, c.now))
    assert resp.txs == [a0, a1]  # junk dropped; a2 out of sequence dropped
    assert c.app.prepare_proposal(RequestPrepareProposal(len(a0) - 1, [a0], 1, c.now)).txs == []
    ok = c.app.process_proposal(RequestProcessProposal([a0, a1], 1, c.now))
    assert ok.status == ProposalStatus.ACCEPT
    bad = c.app.process_proposal(RequestProcessProposal([a0, b"junk"], 1, c.now))
    assert bad.status == ProposalStatus.REJECT


_PROPOSAL_CHAIN: list[Chain] = []
_PROPOSAL_TXS: list[bytes] = []


@settings(max_examples=150, deadline=None)
@given(picks=st.lists(st.integers(0, 7), max_size=8), checked=st.lists(st.booleans(), min_size=8, max_size=8),
       hashes=st.sampled_from(["none", "right", "wrong", "short", "empty"]))
@example(picks=[0, 5], checked=[True] * 8, hashes="wrong")  # junk given the hash of a cached tx
@example(picks=[6, 1], checked=[True] * 8, hashes="wrong")  # an undecodable tx given a cached tx's hash
@example(picks=[0, 1, 7], checked=[False] * 8, hashes="right")
def test_process_proposal_gives_the_same_verdict_whatever_tx_hashes_it_is_given(
        picks: list[int], checked: list[bool], hashes: str) -> None:
    """`RequestProcessProposal.tx_hashes` only find txs in the signature cache: right ones, wrong ones (another
    tx's, or none), or a list of the wrong length give the verdict of the txs alone."""
    if not _PROPOSAL_CHAIN:
        _PROPOSAL_CHAIN.append(Chain())
        _PROPOSAL_TXS.extend(_PROPOSAL_CHAIN[0].tx(_PROPOSAL_CHAIN[0].agency, req_body(i)) for i in range(5))
    c, good = _PROPOSAL_CHAIN[0], _PROPOSAL_TXS
    pool = [*good, b"junk", good[0] + b"\0", b"x" * (MAX_TX_BYTES + 1)]  # trailing bytes: undecodable
    app = Application(c.app.kv)  # a fresh signature cache over the chain's state
    for raw, chk in zip(pool, checked, strict=True):
        dtx = app.preverify([raw])[0] if chk and len(raw) <= MAX_TX_BYTES else None
        if dtx is not None:
            app.admit_verified(dtx)  # as the node's verify thread leaves a gossiped tx
    assert len(app._sig_cache) == sum(checked[:5])
    txs = [pool[i] for i in picks]
    right = [sha256(t) for t in txs]
    given = {"none": None, "right": right, "wrong": right[::-1] if len(set(right)) > 1 else [b"\0" * 32] * len(txs),
             "short": right[:-1], "empty": [b""] * len(txs)}[hashes]
    want = all(0 <= i < 5 for i in picks)
    got = app.process_proposal(RequestProcessProposal(txs, 1, c.now, tx_hashes=given))
    assert (got.status == ProposalStatus.ACCEPT) == want
    assert got == app.process_proposal(RequestProcessProposal(txs, 1, c.now))


def test_finalize_rejects_gaps() -> None:
    c = Chain()
    with pytest.raises(ValueError):
        c.app.finalize_block(RequestFinalizeBlock([], 5, c.now))


def test_validator_change_needs_two_thirds() -> None:
    c = Chain()
    from state.crypto import PrivateKey

    new = PrivateKey.from_seed(b"\x07" * 32).public_key.raw
    c.ok(c.cgd, ProposeValidator(new, 5, "006"))
    assert c.do(c.bank, ProposeValidator(new, 5, "006")).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, ApproveValidator(1))  # 20 of 40: not enough
    assert c.last.validator_updates == ()
    assert c.do(c.bank, ApproveValidator(1)).code == E.ALREADY_APPROVED.code
    c.ok(c.bank2, ApproveValidator(1))  # 40 of 40
    assert [(u.pub_key, u.power) for u in c.last.validator_updates] == [(new, 5)]
    assert c.do(c.bank2, ApproveValidator(1)).code == E.PROPOSAL_CLOSED.code


def test_evidence_jails_until_reinstated() -> None:
    c = Chain()
    v = c.vals[0].public_key
    ev = Misbehavior(1, v.address, 3, c.now - 1000, 10, 40)
    c.block([], misbehavior=[ev])
    assert [(u.pub_key, u.power) for u in c.last.validator_updates] == [(v.raw, 0)]
    c.block([], misbehavior=[ev])  # the same evidence again changes nothing
    assert c.last.validator_updates == ()
    vals = {x["address"]: x for x in c.query("/validators")["result"]}
    assert vals[v.address.hex()]["jailed"] and vals[v.address.hex()]["power"] == 0
    c.ok(c.cgd, ProposeValidator(v.raw, 10, "006"))
    c.ok(c.bank2, ApproveValidator(1))  # 20 of 30 is not > 2/3
    assert c.last.validator_updates == ()
    c.ok(c.bank, ApproveValidator(1))
    assert [(u.pub_key, u.power) for u in c.last.validator_updates] == [(v.raw, 10)]


def test_query_proofs_and_heights() -> None:
    c = Chain()
    lg_id = c.active()
    r = c.app.query(RequestQuery(f"/lg/{lg_id}", prove=True))
    sp = StateProof.decode(r.proof_ops[0].data)
    assert r.key == sp.key and sp.verify(c.app.app_hash) and sp.value is not None
    r = c.app.query(RequestQuery("/lg/LGNOPE", prove=True))
    sp = StateProof.decode(r.proof_ops[0].data)
    assert sp.value is None and sp.verify(c.app.app_hash)
    assert c.app.query(RequestQuery("/lg/LGNOPE")).code == E.NOT_FOUND.code
    assert c.app.query(RequestQuery("/nope")).code == E.UNKNOWN_PATH.code
    assert c.app.query(RequestQuery(f"/lg/{lg_id}", height=1)).code == E.HEIGHT_UNAVAILABLE.code
    raw = c.app.query(RequestQuery("/store", data=f"lg/{lg_id}".encode(), prove=True))
    assert StateProof.decode(raw.proof_ops[0].data).verify(c.app.app_hash)
    hist = c.query(f"/lg/{lg_id}/history")["result"]
    assert hist["chain_ok"] and [e["kind"] for e in hist["events"]] == ["issue", "acknowledge"]
    page = c.query(f"/supplier/{c.sup.code}/guarantees?per_page=1&page=1")["result"]
    assert page["total"] == 1 and page["items"][0]["id"] == lg_id
    exp = c.query("/bank/006/exposure")["result"]
    assert exp["total_available"] == 500_000_00
    assert c.query("/lg/by-ref/006/REF1")["result"]["id"] == lg_id
    soon = c.query("/lg/expiring?days=365")["result"]["items"]
    assert [g["id"] for g in soon] == [lg_id]
    assert c.query("/lg/expiring?days=10")["result"]["total"] == 0


def test_events_are_indexed_for_tx_search() -> None:
    c = Chain()
    c.requirement()
    lg_id, r = c.issue()
    lg_events = [e for e in r.events if e.type == "lg"]
    attrs = {a.key: (a.value, a.index) for a in lg_events[0].attributes}
    assert attrs["id"] == (lg_id, True)
    assert {"id", "bank", "agency", "supplier", "type", "status"} <= set(attrs)
    assert decode_tx(c.tx(c.bank, req_body(0))).tx.type == "lg.requirement"


def test_stats_query() -> None:
    c = Chain()
    c.active()
    s = c.query("/stats?bank=006")["result"]
    assert s["count"] == 1 and s["by_type"]["PERF"]["issued_value"] == 500_000_00
    assert c.query("/stats")["result"]["count"] == 1 and c.query("/stats?bank=002")["result"]["count"] == 0


def test_commit_into_callers_batch_and_initial_height() -> None:
    import json

    from state.abci import Application, RequestInitChain
    from state.kv import MemoryKV

    root = MemoryKV()
    app = Application(root.prefixed(b"app/"))
    state = {"registrar": {"code": "CGD", "keys": []}}
    app.init_chain(RequestInitChain(1_000, "c", [], json.dumps(state).encode(), initial_height=5))
    assert app.info().last_block_height == 4
    app.finalize_block(RequestFinalizeBlock([], 5, 2_000))
    batch = root.batch()
    batch.put(b"node/block/5", b"...")
    app.commit(batch.prefixed(b"app/"))
    assert root.get(b"node/block/5") is None  # nothing written until the caller commits
    batch.commit(sync=True)
    again = Application(root.prefixed(b"app/"))
    assert (again.height, again.app_hash) == (5, app.app_hash)


_HANDOVER_CHAIN: list[Chain] = []
_HANDOVER_POOL: list[bytes] = []


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 8), st.one_of(st.none(), st.integers(0, 8)), st.booleans(),
                                st.booleans()), max_size=12))
@example(steps=[(0, 0, False, False), (1, 1, False, False), (2, 2, False, True)])  # the mempool's way
@example(steps=[(1, 0, False, False), (0, None, False, False), (1, None, False, False)])  # another tx handed
@example(steps=[(0, 0, True, False), (0, 0, False, False)])  # taken by a dry run, then handed again
def test_admit_verified_hand_over_gives_check_tx_s_verdicts(
        steps: list[tuple[int, int | None, bool, bool]]) -> None:
    """`admit_verified` hands its decoded tx to the next `_decode`: checking the tx handed takes it without
    hashing its bytes; whatever is handed (the tx checked, another, an old one, nothing), every verdict and
    the check state are those of an application without the hand-over (each step: maybe `admit_verified` of
    the pool's tx `handed` as `preverify` leaves it, then `check_code` (or a dry-run check_tx) of tx `checked`,
    the pool's bytes object or an equal copy)."""
    if not _HANDOVER_CHAIN:
        c0 = Chain()
        _HANDOVER_CHAIN.append(c0)
        good = [c0.tx(c0.agency, req_body(i)) for i in range(5)]
        bad_sig = good[1][:-1] + bytes([good[1][-1] ^ 1])
        _HANDOVER_POOL.extend([*good, b"junk", bad_sig, sign_tx(c0.agency.key, "other-chain", 0, req_body(0)),
                               good[2] + b"\0"])
    c, pool = _HANDOVER_CHAIN[0], _HANDOVER_POOL
    app, ref = Application(c.app.kv), Application(c.app.kv)  # fresh check states over the chain's state
    import state.abci as abci_mod

    hashed: list[bytes] = []
    real_sha = abci_mod.sha256

    def counting(data: bytes) -> bytes:
        hashed.append(data)
        return real_sha(data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(abci_mod, "sha256", counting)
        for checked, handed, dry_run, copy in steps:
            dtx = None if handed is None else app.preverify([pool[handed]])[0]
            if dtx is not None:
                app.admit_verified(dtx)
                ref.admit_verified(dtx)
                ref._handed = None  # the reference: found by its hash in the signature cache, as before
            hashed.clear()
            raw = bytes(bytearray(pool[checked])) if copy else pool[checked]
            if dry_run:
                got = app.check_tx(RequestCheckTx(raw), dry_run=True)
                want = ref.check_tx(RequestCheckTx(raw), dry_run=True)
            else:
                got, want = app.check_code(raw), ref.check_code(raw)
            assert got == want
            if dtx is not None and handed == checked:
                assert hashed.count(raw) == 1  # only the reference hashed it, to find it in its cache
            assert app._handed is None  # taken or dropped by the check
    assert app._check.writes == ref._check.writes
    assert list(app._sig_cache) == list(ref._sig_cache)
