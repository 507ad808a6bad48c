"""The per-block work a node no longer repeats: signatures verified once, the block store's range kept in
memory, status sent when it changed (devnet/bench/block_overhead.py measures what these save)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.commit import verify_commit
from consensus.sign_bytes import vote_sign_bytes
from consensus.types import BlockIDFlag, VoteType
from consensus.types import Vote as CoreVote
from node.blockrules import VerifiedSignatures, check_block
from node.convert import commit_to_consensus, valset_from_info
from state.crypto import PrivateKey, verify
from tests.node.chainkit import Chain

_CHAIN = Chain.start(4)
_CHAIN.grow(6, txs_per_block=1)
_KEYS = [PrivateKey.generate() for _ in range(3)]


class _NoHistory:
    def validators_at(self, height: int) -> None:
        return None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.binary(max_size=40), st.integers(-1, 70)), max_size=25))
def test_the_signature_cache_gives_the_verdicts_of_verify(ops: list[tuple[int, bytes, int]]) -> None:
    """With the cache and without it, the same verdict for every (key, message, signature), valid or not,
    asked once or again; only valid ones are remembered."""
    cache = VerifiedSignatures(limit=8)
    for k, msg, flip in ops:
        key = _KEYS[k]
        sig = bytearray(key.sign(msg))
        if 0 <= flip < 64:
            sig[flip] ^= 0x01
        pub = key.public_key.raw if flip != 70 else _KEYS[(k + 1) % 3].public_key.raw
        want = verify(pub, msg, bytes(sig))
        assert cache.verify(pub, msg, bytes(sig)) is want
        assert cache.verify(pub, msg, bytes(sig)) is want  # a second time: from the cache when valid
    assert len(cache._ok) <= 8


def test_a_blocks_last_commit_is_not_verified_again_after_its_votes() -> None:
    """The precommits of height h, verified as votes (on_vote) or signed here (broadcast_vote), are the
    signatures of block h+1's LastCommit: check_block finds them all in the cache; its verdicts are those of
    the plain verification, for the block as made and with one of its LastCommit signatures broken."""
    c = _CHAIN
    h = 4  # block h+1 = blocks[h] carries the commit of blocks[h-1]
    block, state = c.blocks[h], c.states[h]
    cache = VerifiedSignatures()
    vals = valset_from_info(state.last_validators)  # type: ignore[arg-type]
    lc = commit_to_consensus(block.last_commit)
    for val, sig in zip(vals.validators, lc.signatures, strict=True):
        if sig.flag == BlockIDFlag.ABSENT:
            continue
        vote = CoreVote(VoteType.PRECOMMIT, lc.height, lc.round, lc.value_id, val.address, sig.timestamp_ms,
                        sig.signature)
        assert cache.verify(val.pub_key, vote_sign_bytes(state.chain_id, vote), sig.signature)
    hits = cache.hits
    assert check_block(state.chain_id, state, block, _NoHistory(), cache.verify) is None  # type: ignore[arg-type]
    assert cache.hits - hits == sum(s.flag != BlockIDFlag.ABSENT for s in lc.signatures) > 0
    assert check_block(state.chain_id, state, block, _NoHistory()) is None  # type: ignore[arg-type]

    bad_sigs = list(block.last_commit.signatures)
    bad_sigs[0] = replace(bad_sigs[0], signature=bytes(64))
    bad = replace(block, last_commit=replace(block.last_commit, signatures=tuple(bad_sigs)))
    plain = check_block(state.chain_id, state, bad, _NoHistory())  # type: ignore[arg-type]
    cached = check_block(state.chain_id, state, bad, _NoHistory(), cache.verify)  # type: ignore[arg-type]
    assert plain is not None and cached == plain
    assert verify_commit(state.chain_id, vals, lc.height, lc.value_id, lc, cache.verify).ok
    broken = replace(lc, signatures=(replace(lc.signatures[0], signature=bytes(64)), *lc.signatures[1:]))
    got = verify_commit(state.chain_id, vals, lc.height, lc.value_id, broken, cache.verify)
    assert not got.ok and got == verify_commit(state.chain_id, vals, lc.height, lc.value_id, broken, verify)


def test_the_tick_sends_the_status_only_when_it_changed_or_a_second_passed(tmp_path: Path) -> None:
    """A real node (LevelDB home) with a fake peer: the tick's status goes out when it differs from the last
    one sent or STATUS_REFRESH_S after it, never 4 times a second unchanged; a block's status always goes."""
    import asyncio

    from node import node as node_mod
    from node.assemble import build
    from node.messages import StatusMsg
    from tests.node.solo import solo_home

    home = solo_home(tmp_path / "h", "egp-status", PrivateKey.from_seed(b"\x44" * 32), rpc=False)

    async def go() -> None:
        run = await build(home)
        try:
            node = run.node
            sent: list[StatusMsg] = []
            node.gossip.send = lambda peer, msg: sent.append(msg) if isinstance(msg, StatusMsg) else None
            node.gossip.add_peer("peer")
            node.blocksync.tick = lambda: None  # type: ignore[method-assign]  # (it would start consensus)
            node._broadcast_status()  # as after a block: always
            assert len(sent) == 1
            for _ in range(5):
                node.tick()
            assert len(sent) == 1  # unchanged: not again within a second
            node._status_sent_at -= node_mod.STATUS_REFRESH_S
            node.tick()
            assert len(sent) == 2 and sent[1] == sent[0]
            node._status_sent = StatusMsg(99, 0, 0, 0, 0)  # what peers were told last differs from now
            node.tick()
            assert len(sent) == 3 and sent[2] == sent[0]
        finally:
            if run.node.commit_worker is not None:
                run.node.commit_worker.shutdown(wait=True)
            run.kv.close()

    asyncio.run(go())


def test_a_peers_proposal_is_validated_on_the_loop_even_with_a_commit_worker(tmp_path: Path) -> None:
    """`Node.take_proposal`: the block is decoded and checked (`inbound.validate_proposal`) on the spot, on
    the loop's thread, though the node has a commit worker (node/commit_thread.py says why), and the verdict
    goes to the core at once; an undecodable block, or one that does not hash to the value id, is the peer's
    fault (BadPeer: the caller disconnects it) and reaches nothing."""
    import asyncio
    import threading

    from consensus.types import Proposal
    from node import blockrules, inbound
    from node.assemble import build
    from node.convert import valset_from_info
    from node.messages import ProposalMsg
    from node.runtime import BadPeer
    from state.chain import Commit
    from tests.node.solo import solo_home

    home = solo_home(tmp_path / "h", "egp-onloop", PrivateKey.from_seed(b"\x45" * 32), rpc=False)

    async def go() -> None:
        run = await build(home)
        node = run.node
        try:
            assert node.commit_worker is not None and node.address is not None
            st = node.state
            node.in_consensus = True
            node.core.start_height(st.height, valset_from_info(st.validators))  # (its actions are not run)
            block = blockrules.make_block(st, node.address, Commit.empty(), st.last_block_time_ms, [], [])
            threads: list[int] = []
            accepted: list[tuple[ProposalMsg, inbound.ProposalVerdict]] = []
            real_validate, real_accept = inbound.validate_proposal, inbound.accept_proposal

            def validate(*a: object) -> inbound.ProposalVerdict:
                threads.append(threading.get_ident())
                return real_validate(*a)  # type: ignore[arg-type]

            inbound.validate_proposal = validate  # type: ignore[assignment]
            inbound.accept_proposal = lambda n, m, p, v: accepted.append((m, v))  # type: ignore[assignment]
            try:
                def proposal(round_: int, raw: bytes, value_id: bytes = block.hash()) -> tuple[ProposalMsg, Proposal]:
                    p = Proposal(st.height, round_, value_id, -1, node.address, 1, b"\x00" * 64)  # type: ignore[arg-type]
                    return ProposalMsg.of(p, raw), p

                msg, p = proposal(0, block.encode())
                node.take_proposal("peer", msg, p)
                assert threads == [threading.get_ident()]  # on the loop's thread
                assert len(accepted) == 1 and accepted[0][0] is msg
                assert accepted[0][1].valid and accepted[0][1].block == block
                assert accepted[0][1].block is not None and accepted[0][1].block.packed() is msg.block

                bad, p1 = proposal(1, b"\x01\x02")
                with pytest.raises(BadPeer, match="undecodable"):
                    node.take_proposal("peer", bad, p1)
                other, p2 = proposal(2, block.encode(), b"\x07" * 32)
                with pytest.raises(BadPeer, match="does not hash"):
                    node.take_proposal("peer", other, p2)
                assert len(accepted) == 1
            finally:
                inbound.validate_proposal, inbound.accept_proposal = real_validate, real_accept
        finally:
            node.commit_worker.shutdown(wait=True)  # type: ignore[union-attr]
            run.kv.close()

    asyncio.run(go())


def test_the_state_store_writes_the_records_encoding_and_the_block_context_is_made_once() -> None:
    """StateStore.save and BlockStore.save_seen_commit write with fastrec.pack: the very bytes of .encode();
    ChainState.block_context() is computed once per state object and equals a fresh one."""
    from state.fastrec import pack

    for state in [*_CHAIN.states, _CHAIN.state]:
        for rec in (state, state.validators, state.next_validators, state.consensus_params):
            assert pack(rec) == rec.encode()
        ctx = state.block_context()
        assert state.block_context() is ctx and ctx == state._make_block_context()
    for seen in _CHAIN.seen_commits:
        assert pack(seen) == seen.encode()


def test_a_relayed_copy_of_a_vote_we_hold_is_only_marked_for_its_sender(tmp_path: Path) -> None:
    """Node.handle_payload: a frame byte-equal to a vote the node holds (`vote_frames`, filled with `votes`)
    marks the peer as having it and goes no further (on_vote would do only that, after decoding it); any
    other frame goes to node/inbound.py as before; a new height forgets the frames with the votes."""
    import asyncio

    from node import inbound
    from node.assemble import build
    from node.gossip import proposal_key, vote_key
    from node.messages import ProposalMsg, VoteMsg
    from tests.node.solo import solo_home

    home = solo_home(tmp_path / "h", "egp-frames", PrivateKey.from_seed(b"\x47" * 32), rpc=False)

    async def go() -> None:
        run = await build(home)
        node = run.node
        real = inbound.handle_payload
        seen: list[bytes] = []
        inbound.handle_payload = lambda n, peer, payload: seen.append(payload)  # type: ignore[assignment]
        try:
            held = VoteMsg(1, 1, 0, b"\x01" * 32, b"\x02" * 20, 1000, b"\x03" * 64)
            other = replace(held, round=1)
            node.in_consensus = True
            node.votes[vote_key(held)] = held
            node.vote_frames[held.encode()] = held
            node.gossip.add_peer("peer")
            node.handle_payload("peer", bytes(held.encode()))  # an equal frame, another bytes object
            assert not seen and vote_key(held) in node.gossip.peers["peer"].known_votes
            node.handle_payload("peer", other.encode())
            assert seen == [other.encode()]
            prop = ProposalMsg(1, 0, -1, b"\x01" * 32, b"\x02" * 20, 9, b"s" * 64, b"block" * 100)
            node.proposals[proposal_key(prop)] = prop
            node.handle_payload("peer", bytes(prop.encode()))  # a relayed copy of a proposal we hold
            assert len(seen) == 1 and proposal_key(prop) in node.gossip.peers["peer"].known_proposals
            node.handle_payload("peer", replace(prop, signature=b"t" * 64).encode())  # not the same bytes
            assert len(seen) == 2
            node.in_consensus = False  # (then inbound decides: it may keep a message for later)
            node.handle_payload("peer", held.encode())
            assert len(seen) == 3
            node.in_consensus = True
            node._reset_height()
            assert not node.vote_frames
            node.handle_payload("peer", held.encode())
            assert len(seen) == 4
        finally:
            inbound.handle_payload = real
            if node.commit_worker is not None:
                node.commit_worker.shutdown(wait=True)
            run.kv.close()

    asyncio.run(go())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["next", "jump", "same", "reopen"]), st.integers(0, 3), st.booleans()),
                max_size=14))
def test_the_wal_forgets_finished_heights_as_the_scan_did(script: list[tuple[str, int, bool]]) -> None:
    """ConsensusWAL.start_height deletes the height it leaves by key when it moves to the next one (no scan),
    in the next write's batch: against a model, after every step the WAL replays exactly the current height's
    records in order, stores exactly those up to our last own (synced) one, and once it wrote anything at this
    height, nothing of other heights; also across reopenings (a restart: peers' records held after our last
    own one are lost, as a buffered WAL's tail) and jumps (block sync)."""
    import tempfile

    from node.messages import VoteMsg
    from node.wal import ConsensusWAL
    from state.kv_level import LevelKV

    with tempfile.TemporaryDirectory() as d:
        kv = LevelKV(Path(d) / "db")
        wal = ConsensusWAL(kv.prefixed(b"wal/"))
        h = 1
        model: list[VoteMsg] = []
        written, clean = 0, True
        wal.start_height(h)
        for op, n, last_ours in script:
            if op == "reopen":
                wal = ConsensusWAL(kv.prefixed(b"wal/"))
                model = model[:written]
                assert wal.replay(h) == model
                wal.start_height(h)
                clean = True
            elif op != "same":
                h, model, written = h + (1 if op == "next" else 2 + n), [], 0
                wal.start_height(h)
                clean = op == "jump"
            for i in range(n):
                msg = VoteMsg(1, h, i, None, bytes([i + 1]) * 20, 1000 + i, b"\x05" * 64)
                ours = i == n - 1 and last_ours
                wal.append(h, msg, sync=ours)
                model.append(msg)
                if ours:
                    written, clean = len(model), True
            assert wal.replay(h) == model
            stored = [k for k, _ in kv.prefixed(b"wal/").iterate()]
            assert len([k for k in stored if int.from_bytes(k[:8], "big") == h]) == written
            if clean:
                assert len(stored) == written
        kv.close()


@given(st.integers(0, 2**63 - 1), st.integers(0, 2**31), st.integers(0, 3), st.binary(max_size=64),
       st.binary(min_size=1, max_size=300))
def test_the_signer_state_text_is_the_json_it_was(height: int, round_: int, step: int, sig: bytes,
                                                  sign_bytes: bytes) -> None:
    """node/privval.py `state_text` writes the state file's text without json's pure-Python indenting
    encoder: the same text, read back to the same state."""
    import json

    from node.privval import LastSignState, state_text

    state = LastSignState(height, round_, step, sig, sign_bytes if sig else b"")
    text = state_text(state)
    assert text == json.dumps(state.to_json(), indent=2) + "\n"
    assert LastSignState.from_json(json.loads(text)) == state


@settings(max_examples=80, deadline=None)
@given(st.integers(0, len(_CHAIN.blocks) - 1),
       st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), max_size=3), st.integers(0, 5))
def test_a_proposals_block_is_decoded_strictly_as_the_generic_decoder_does(
        i: int, flips: list[tuple[int, int]], cut: int) -> None:
    """node/inbound.py validate_proposal decodes the block with Block.from_packed (fastrec.strict): the same
    block, or a DecodeError, as Block.decode_block gives, for valid encodings and for mutated ones (changed
    bytes, truncated, extended); the decoded block keeps the bytes it came from as its packed() (validation's
    size, the block id, the block store), which are its encode(). CommitThread.build's block.packed() is
    block.encode()."""
    from state.chain import Block, BlockID, part_set_header
    from state.codec import DecodeError
    from state.fastrec import pack

    def both(data: bytes) -> tuple[object, object]:
        out: list[object] = []
        for fast in (True, False):
            try:
                got = Block.from_packed(data) if fast else Block.decode_block(data)
                if fast:
                    assert got.packed() is data and got.packed() == got.encode()
                out.append(got)
            except DecodeError:
                out.append(DecodeError)
        return out[0], out[1]

    block = _CHAIN.blocks[i]
    raw = bytearray(block.encode())
    fresh = Block.decode_block(bytes(raw))
    assert pack(block) == bytes(raw) == fresh.packed() and fresh.packed() is fresh.packed()
    assert fresh.block_id() == BlockID(block.hash(), part_set_header(bytes(raw)))
    assert both(bytes(raw)) == (block, block)
    for pos, val in flips:
        raw[pos % len(raw)] = val
    for data in (bytes(raw), bytes(raw[: len(raw) - cut]), bytes(raw) + b"\x00" * cut):
        fast, generic = both(data)
        assert fast == generic


def test_block_sync_serves_the_stored_bytes_of_a_block(tmp_path: Path) -> None:
    """BlockSync.serve answers with the block's stored bytes (its encoding) instead of decoding and encoding
    it again: the same BlockResponseMsg as before, byte for byte."""
    from types import SimpleNamespace

    from node.blockstore import BlockStore
    from node.blocksync import BlockSync
    from node.messages import BlockResponseMsg
    from state.kv_level import LevelKV

    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    for block, seen in zip(_CHAIN.blocks, _CHAIN.seen_commits, strict=True):
        store.save_block(block, seen)
    sync = BlockSync(SimpleNamespace(store=store))  # type: ignore[arg-type]
    for h, (block, seen) in enumerate(zip(_CHAIN.blocks, _CHAIN.seen_commits, strict=True), start=1):
        got = sync.serve(h)
        assert got is not None and got.encode() == BlockResponseMsg(h, block.encode(), seen.encode()).encode()
    assert sync.serve(len(_CHAIN.blocks) + 1) is None and sync.serve(0) is None
    kv.close()


def test_the_timers_of_finished_heights_are_cancelled_and_the_rest_fire() -> None:
    """LoopTimers.cancel_below (called as a height starts): the timeouts of lower heights never reach the node
    (the core would ignore them), those of the height and above fire as scheduled, in order."""
    import asyncio

    from consensus.types import Timeout, TimeoutKind
    from node.consensus_ports import LoopTimers

    fired: list[Timeout] = []

    async def go() -> None:
        timers = LoopTimers(lambda ev: fired.append(ev.timeout))
        sched = [Timeout(TimeoutKind.PROPOSE, 3, 0), Timeout(TimeoutKind.COMMIT, 3, 0),
                 Timeout(TimeoutKind.PREVOTE, 4, 0), Timeout(TimeoutKind.PRECOMMIT, 4, 1),
                 Timeout(TimeoutKind.COMMIT, 5, 0)]
        for i, t in enumerate(sched):
            timers.schedule(t, 1 + i)
        timers.cancel_below(4)
        assert timers.pending() == 3
        while timers.pending():
            await asyncio.sleep(0.005)
        timers.cancel_below(6)  # (nothing left to cancel: fired timers are forgotten)

    asyncio.run(go())
    assert fired == [Timeout(TimeoutKind.PREVOTE, 4, 0), Timeout(TimeoutKind.PRECOMMIT, 4, 1),
                     Timeout(TimeoutKind.COMMIT, 5, 0)]
