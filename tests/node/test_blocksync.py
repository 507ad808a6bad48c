"""Block sync's verification: a block is applied only with a commit that `verify_commit` accepts against
our own validator set; a forged or mismatched commit, or garbage, is refused and its sender dropped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from consensus.types import ConsensusParams
from node.mempool import Mempool
from node.messages import BlockResponseMsg
from node.metrics import Metrics
from node.node import Node
from node.runtime import NodeOptions
from state import chain
from state.crypto import PrivateKey
from tests.node.test_handshake import CHAIN, Stack, next_block


class Recorder:
    """The transport, as far as the node is concerned: what it sent and whom it dropped."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes]] = []
        self.dropped: list[tuple[str, str]] = []

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
        self.sent.append((peer_id, channel, payload))
        return True

    def disconnect(self, peer_id: str, reason: str) -> None:
        self.dropped.append((peer_id, reason))


def make_node(s: Stack, net: Recorder) -> Node:
    return Node(options=NodeOptions(CHAIN, ConsensusParams(), 4 << 20), state=s.state, app=s.app,
                applier=s.applier, mempool=Mempool(s.app.check), signer=None, address=None, network=net,
                metrics=Metrics(CHAIN))


def test_only_blocks_with_a_valid_commit_are_applied(tmp_path: Path) -> None:
    s = Stack(tmp_path / "db")
    net = Recorder()
    node = make_node(s, net)
    block, commit = next_block(s.state, s.store, 0)
    forger = PrivateKey.generate()
    sig = commit.signatures[0]
    forged = replace(commit, signatures=(replace(sig, signature=forger.sign(b"x")),))
    assert not node.apply_synced_block(block, forged)
    other_block = replace(block, txs=())
    assert not node.apply_synced_block(other_block, commit)  # commit for another block (and data hash)
    assert node.state.last_height == 0 and s.store.height == 0
    assert node.apply_synced_block(block, commit)
    assert node.state.last_height == 1 and s.store.height == 1
    assert s.app.last_height_and_hash() == (1, node.state.app_hash)
    s.close()


def test_block_responses_are_verified_in_order_and_bad_senders_dropped(tmp_path: Path) -> None:
    s = Stack(tmp_path / "db")
    net = Recorder()
    node = make_node(s, net)
    b1, c1 = next_block(s.state, s.store, 0)
    node.blocksync.on_response("garbage", BlockResponseMsg(1, b"\x00junk", c1.encode()))
    assert net.dropped and net.dropped[0][0] == "garbage"
    bad = replace(c1, signatures=(chain.CommitSig.absent(),))
    node.blocksync.on_response("liar", BlockResponseMsg(1, b1.encode(), bad.encode()))
    assert ("liar", "sent an invalid block") in net.dropped
    assert node.state.last_height == 0
    node.blocksync.on_response("honest", BlockResponseMsg(1, b1.encode(), c1.encode()))
    assert node.state.last_height == 1
    s.close()


def test_a_peer_claiming_blocks_it_never_serves_is_dropped(tmp_path: Path, monkeypatch: Any) -> None:
    from node import blocksync
    from node.messages import StatusMsg

    s = Stack(tmp_path / "db")
    net = Recorder()
    node = make_node(s, net)
    node.gossip.on_status("liar", StatusMsg(1001, 0, 0, 1, 1000))
    monkeypatch.setattr(blocksync, "REQUEST_TIMEOUT_S", 0.0)  # every request "times out" at once
    for _ in range(blocksync.MAX_STRIKES + 2):
        node.blocksync.tick()
    assert ("liar", "does not serve the blocks it claims to have") in net.dropped
    assert node.gossip.max_peer_store_height() == 0
    s.close()


def _peer_chain(path: Path, blocks: int) -> list[tuple[chain.Block, chain.Commit]]:
    """`blocks` committed blocks of a peer (its own stack), with their seen commits."""
    p = Stack(path)
    out = []
    for nonce in range(blocks):
        block, commit = next_block(p.state, p.store, nonce)
        p.state = p.applier.apply(p.state, block, commit).state
        out.append((block, commit))
    p.close()
    return out


def _requested(net: Recorder) -> list[int]:
    from node.messages import BlockRequestMsg, decode_message

    msgs = [decode_message(payload) for _, _, payload in net.sent]
    return [m.height for m in msgs if isinstance(m, BlockRequestMsg)]


def test_responses_keep_the_window_full_between_ticks(tmp_path: Path) -> None:
    from node import blocksync
    from node.messages import StatusMsg

    (b1, c1), = _peer_chain(tmp_path / "peer", 1)
    s = Stack(tmp_path / "db")
    net = Recorder()
    node = make_node(s, net)
    node.gossip.on_status("p", StatusMsg(41, 0, 0, 1, 40))
    node.blocksync.tick()
    assert _requested(net) == list(range(1, blocksync.WINDOW + 1))
    net.sent.clear()
    node.blocksync.on_response("p", BlockResponseMsg(1, b1.encode(), c1.encode()))
    assert node.state.last_height == 1 and not node.in_consensus
    assert _requested(net) == [blocksync.WINDOW + 1]  # the next height at once, not at the next tick
    s.close()


def test_block_sync_hands_over_when_the_moving_tip_is_one_block_ahead(tmp_path: Path) -> None:
    """With blocks faster than a tick, the peers are nearly always a block ahead when we check: exactly-at-
    the-tip would keep the node in block sync forever (and `catching_up` true)."""
    import asyncio

    from node.messages import StatusMsg

    blocks = _peer_chain(tmp_path / "peer", 3)
    s = Stack(tmp_path / "db")
    net = Recorder()
    node = make_node(s, net)

    async def run() -> None:
        node.gossip.on_status("p", StatusMsg(3, 0, 0, 1, 2))
        node.blocksync.tick()
        assert node.catching_up
        b, c = blocks[0]
        node.blocksync.on_response("p", BlockResponseMsg(1, b.encode(), c.encode()))
        node.gossip.on_status("p", StatusMsg(4, 0, 0, 1, 3))  # the tip moved on meanwhile
        b, c = blocks[1]
        node.blocksync.on_response("p", BlockResponseMsg(2, b.encode(), c.encode()))
        assert node.state.last_height == 2
        assert node.in_consensus and not node.catching_up  # one behind: consensus fetches the last block
        node.timers.cancel_all()

    asyncio.run(run())
    s.close()
