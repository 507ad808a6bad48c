"""A validator fed its current height's block by block sync decides it through its core and precommits it.

Four validators (`egp testnet` homes), one node built from its home as `egp start` builds it (real LevelDB,
real signer, its commit worker thread); the other three only sign. The block of height 1 comes with the
commit a peer would serve (three precommits, ours absent), as block sync's small-gap request or a peer's
catch-up hands it over (node/node.py `apply_synced_block`). Before, the node committed it beside its core
and never sent its precommit, so the others, waiting for every precommit (`skip_timeout_commit`), waited
the full `commit` timeout; now the core decides it (`CommitReceived`, consensus/machine.py) and signs our
precommit for it first (`decide_precommit`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from consensus.commit import commit_vote
from consensus.sign_bytes import vote_sign_bytes
from consensus.types import BlockIDFlag, CommitReceived, Step, Vote, VoteType
from node import blockrules, inbound
from node.assemble import Running, build
from node.convert import commit_to_consensus, valset_from_info
from node.genesis import GENERATED_PARAMS
from node.messages import VoteMsg
from node.runtime import last_signed_vote
from node.testnet import make_testnet
from state.chain import Commit
from state.crypto import PrivateKey
from tests.node.chainkit import sign_commit


def _homes(tmp_path: Path) -> list[Path]:
    nodes = make_testnet(tmp_path / "net", validators=4, chain_id="egp-synced", starting_port=29650)
    return [n.home.root for n in nodes]


async def _non_proposer(homes: list[Path]) -> tuple[Running, dict[bytes, PrivateKey]]:
    """The node built from the first home that does not propose round 0 of height 1; the others' keys."""
    from node.home import Home

    keys = {k.address: k for k in (Home(h).validator_key() for h in homes)}
    for h in homes:
        run = await build(h)
        node = run.node
        node.enter_consensus()
        assert node.address is not None
        if node.core.proposer(0) != node.address:
            return run, {a: k for a, k in keys.items() if a != node.address}
        await _close(run)
    raise AssertionError("every node proposes round 0")


async def _close(run: Running) -> None:
    await run.node.stop()
    run.kv.close()


def _own_precommits(run: Running, height: int) -> list[VoteMsg]:
    node = run.node
    return [m for m in node.votes.values()
            if m.height == height and m.type == int(VoteType.PRECOMMIT) and m.validator == node.address]


def test_a_synced_block_of_the_current_height_is_decided_and_precommitted(tmp_path: Path) -> None:
    homes = _homes(tmp_path)

    async def go() -> None:
        run, others = await _non_proposer(homes)
        try:
            node = run.node
            st = node.state
            assert (node.core.height, node.core.step) == (1, Step.PROPOSE) and not _own_precommits(run, 1)
            proposer = node.core.proposer(0)
            block = blockrules.make_block(st, proposer, Commit.empty(), blockrules.next_block_time(st, Commit.empty()),
                                          [], [])
            commit = sign_commit(st, block.block_id(), others, st.last_block_time_ms + 10)
            assert node.apply_synced_block(block, commit)
            assert node.core.decision == block.hash() and node.core.lines_hit["decide_commit"] == 1
            mine = _own_precommits(run, 1)
            assert len(mine) == 1 and mine[0].value_id == block.hash() and mine[0].round == 0
            await node.wait_idle()  # committed by the decision's path, in the worker thread
            await asyncio.sleep(0)  # (the next height's replay of early messages, call_soon)
            assert node.state.last_height == 1 and run.store.height == 1
            # a peer is past height 1: the next height started once the block was committed, no commit wait
            assert (node.core.height, node.core.round) == (2, 0)
            seen = node.seen_commits.get(1)  # the LastCommit of our block 2: every precommit, ours too
            assert seen is not None and [s.flag for s in seen.signatures] == [2, 2, 2, 2]
            # the signer's guard holds it as our last signature (a restart re-sends it: `_recover_last_signed`)
            last = last_signed_vote(node.signer, node.chain_id, 1, node.address)
            assert last is not None and last.type == int(VoteType.PRECOMMIT) and last.value_id == block.hash()
        finally:
            await _close(run)

    asyncio.run(go())


def test_outside_consensus_a_synced_block_is_committed_without_a_vote(tmp_path: Path) -> None:
    """Block sync proper (not in consensus): the block is committed beside the core, as before; nothing signed."""
    homes = _homes(tmp_path)

    async def go() -> None:
        run, others = await _non_proposer(homes)
        try:
            node = run.node
            node.leave_consensus("test")
            st = node.state
            block = blockrules.make_block(st, node.core.proposer(0), Commit.empty(),
                                          blockrules.next_block_time(st, Commit.empty()), [], [])
            commit = sign_commit(st, block.block_id(), others, st.last_block_time_ms + 10)
            assert node.apply_synced_block(block, commit)
            await node.wait_idle()
            assert node.state.last_height == 1 and not _own_precommits(run, 1)
            assert "decide_commit" not in node.core.lines_hit
        finally:
            await _close(run)

    asyncio.run(go())


def test_a_synced_block_ends_the_commit_step_of_the_height_before_and_is_precommitted(tmp_path: Path) -> None:
    """Seen on a network with one node paused: its commit of h - 1 ended after the others had decided h, and
    block h came while its core was still in the COMMIT step of h - 1 (held: nothing in the mempool). That
    step ends at once (a peer is past h), the core starts h and takes the block: our precommit of h is sent.
    (Before, the block was committed beside the core and the others waited the full `commit` for it.)"""
    homes = _homes(tmp_path)

    async def go() -> None:
        run, others = await _non_proposer(homes)
        try:
            node = run.node
            c1 = await _decide_height_1(run, others)  # height 1 decided by the core as from gossip, then committed
            await node.wait_idle()
            await asyncio.sleep(0.05)  # the early COMMIT timeout fires and is held (an empty mempool)
            assert (node.core.height, node.core.step, node.state.last_height) == (1, Step.DECIDED, 1)
            assert node.hold.held is not None
            st = node.state
            proposer = valset_from_info(st.validators).proposer_at(0)
            b2 = blockrules.make_block(st, proposer, c1, blockrules.next_block_time(st, c1), [], [])
            c2 = sign_commit(st, b2.block_id(), others, blockrules.next_block_time(st, c1) + 10)
            assert node.apply_synced_block(b2, c2)
            assert node.hold.held is None and node.core.decision == b2.hash()
            mine = _own_precommits(run, 2)
            assert len(mine) == 1 and mine[0].value_id == b2.hash()
            await node.wait_idle()
            assert node.state.last_height == 2
        finally:
            await _close(run)

    asyncio.run(go())


def _homes_slow_commit(tmp_path: Path) -> list[Path]:
    """As `_homes`, with a 30 s `commit` timeout: only an early start can start height 2 within the test."""
    params = replace(GENERATED_PARAMS, timeout_commit_ms=30_000)
    nodes = make_testnet(tmp_path / "net", validators=4, chain_id="egp-synced", starting_port=29650, params=params)
    return [n.home.root for n in nodes]


async def _decide_height_1(run: Running, others: dict[bytes, PrivateKey]) -> Commit:
    """Height 1 decided by the core as from gossip (three precommits and the block; ours signed at the decision),
    its commit in the worker thread; returns the three precommits' commit."""
    node = run.node
    st = node.state
    b1 = blockrules.make_block(st, node.core.proposer(0), Commit.empty(),
                               blockrules.next_block_time(st, Commit.empty()), [], [])
    c1 = sign_commit(st, b1.block_id(), others, st.last_block_time_ms + 10)
    node.blocks[b1.hash()] = (b1, b1.packed())
    cc1 = commit_to_consensus(c1)
    for sig in cc1.signatures:
        if sig.flag == BlockIDFlag.COMMIT:
            inbound.on_vote(node, "", VoteMsg.of(commit_vote(cc1, sig)))
    node.executor.handle(CommitReceived(1, 0, b1.hash(), True))
    assert node.committing or node.state.last_height == 1
    return c1


def _peer_prevote(node_chain: str, key: PrivateKey, height: int) -> bytes:
    v = Vote(VoteType.PREVOTE, height, 0, None, key.address, 1)
    return VoteMsg.of(replace(v, signature=key.sign(vote_sign_bytes(node_chain, v)))).encode()


def test_a_peers_next_height_message_that_came_during_the_commit_starts_the_next_height(tmp_path: Path) -> None:
    """A node slower to commit than the others: a peer's message of height 2 came while it committed block 1
    (deferred until after the commit). Its COMMIT step's early start (every precommit in) is then neither held
    (an empty mempool) nor put off by next_block_delay: the peer is past height 1 (docs/design.md §9)."""
    homes = _homes_slow_commit(tmp_path)

    async def go() -> None:
        run, others = await _non_proposer(homes)
        try:
            node = run.node
            await _decide_height_1(run, others)
            node.handle_payload("peer-x", _peer_prevote(node.chain_id, next(iter(others.values())), 2))
            await node.wait_idle()
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert node.state.last_height == 1 and node.core.height == 2  # (else: the 30 s commit timeout)
            assert node.hold.held is None
        finally:
            await _close(run)

    asyncio.run(go())


def test_a_peers_next_height_message_ends_next_block_delay(tmp_path: Path) -> None:
    """Txs to propose (no hold): the early start is put off by next_block_delay (here 30 s); a peer's message of
    height 2 during that wait ends it at once."""
    homes = _homes_slow_commit(tmp_path)

    async def go() -> None:
        run, others = await _non_proposer(homes)
        try:
            node = run.node
            node.hold.wait_for_txs = lambda: False  # type: ignore[method-assign]  # (as if txs were waiting)
            node.hold.next_block_delay_s = lambda: 30.0  # type: ignore[method-assign]
            await _decide_height_1(run, others)
            await node.wait_idle()
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert node.core.height == 1 and node.core.commit_skipped  # in next_block_delay's wait
            node.handle_payload("peer-x", _peer_prevote(node.chain_id, next(iter(others.values())), 2))
            for _ in range(5):
                await asyncio.sleep(0.01)
            assert node.core.height == 2
        finally:
            await _close(run)

    asyncio.run(go())
