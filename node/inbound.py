"""Inbound consensus messages and transactions: verified here, then handed to the core or the mempool.

Why these checks before the core: the core trusts what it is given (ProposalReceived carries the shell's
verdict, VoteReceived a checked signature). A vote or proposal with a bad signature, or a proposal whose block
does not hash to its value id, is a peer's fault and drops the peer; a message of a height we are not at yet
is kept for when we get there (`Node.defer`); anything from an unknown validator is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from consensus.sign_bytes import proposal_sign_bytes, vote_sign_bytes
from consensus.types import Proposal, ProposalReceived, VoteReceived
from node import blockrules
from node.evidence import BAD_SIGNATURE
from node.gossip import proposal_key, vote_key
from node.logs import get_logger
from node.messages import (
    BlockRequestMsg,
    BlockResponseMsg,
    EvidenceMsg,
    NoBlockResponseMsg,
    ProposalMsg,
    StatusMsg,
    StatusRequestMsg,
    TxsMsg,
    VoteMsg,
    decode_message,
)
from node.runtime import BadPeer
from state.chain import Block
from state.codec import DecodeError, Record
from state.crypto import verify

if TYPE_CHECKING:
    from node.node import Node
    from node.statestore import ChainState

log = get_logger("node")


@dataclass(frozen=True)
class ProposalVerdict:
    """What `validate_proposal` found: the decoded block (None when the peer is at fault, `bad_peer` says
    why), whether the core may prevote for it, and why not (`reason`, from check_block)."""

    block: Block | None
    valid: bool
    reason: str | None
    bad_peer: str | None


def _app_accepts(node: Node, block: Block) -> bool:
    try:
        return node.app.process(block)
    except Exception:  # an application error on a proposal is a refusal, never a crash of the node
        log.error("process_proposal failed", exc=True, height=block.header.height)
        return False


def handle_payload(node: Node, peer_id: str, payload: bytes) -> None:
    """A frame from a peer: an undecodable one, or a message that proves the peer faulty, drops the peer."""
    try:
        msg = decode_message(payload)
    except DecodeError as exc:
        node.metrics.bad_peer_messages += 1
        node.net.disconnect(peer_id, f"undecodable message: {exc}")
        return
    try:
        dispatch(node, peer_id, msg)
    except BadPeer as exc:
        node.metrics.bad_peer_messages += 1
        node.net.disconnect(peer_id, str(exc))


def dispatch(node: Node, peer_id: str, msg: Record) -> None:
    """One decoded message (from a peer, or "" for our own WAL replay); raises BadPeer for a faulty peer."""
    if isinstance(msg, StatusMsg):
        node.gossip.on_status(peer_id, msg)
    elif isinstance(msg, VoteMsg):
        on_vote(node, peer_id, msg)
    elif isinstance(msg, ProposalMsg):
        on_proposal(node, peer_id, msg)
    elif isinstance(msg, TxsMsg):
        on_txs(node, peer_id, msg)
    elif isinstance(msg, EvidenceMsg):
        _, reason = node.add_evidence(msg)
        if reason == BAD_SIGNATURE:  # else stale (e.g. its validator was since jailed): the peer is honest
            raise BadPeer("evidence with a bad signature")
    elif isinstance(msg, BlockRequestMsg):
        node.send(peer_id, node.blocksync.serve(msg.height) or NoBlockResponseMsg(msg.height))
    elif isinstance(msg, BlockResponseMsg):
        node.blocksync.on_response(peer_id, msg)
    elif isinstance(msg, NoBlockResponseMsg):
        node.blocksync.on_no_block(peer_id, msg.height)
    elif isinstance(msg, StatusRequestMsg):
        node.send(peer_id, node.status())


def on_vote(node: Node, peer_id: str, msg: VoteMsg) -> None:
    node.gossip.mark_vote(peer_id, msg)
    if not node.in_consensus or msg.height != node.core.height or node.core.valset is None:
        node.defer(peer_id, msg, msg.height)
        return
    k = vote_key(msg)
    if k in node.votes:
        return
    val = node.core.valset.get(msg.validator)
    if val is None:
        return
    vote = msg.vote()
    if not node.verified.verify(val.pub_key, vote_sign_bytes(node.chain_id, vote), vote.signature):
        raise BadPeer("vote with a bad signature")
    node.votes[k] = msg
    node.vote_frames[msg.encode()] = msg  # (the frame it came in: no encoding)
    if node.wal is not None and not node._replaying:
        node.wal.append(msg.height, msg, sync=False)
    node.executor.handle(VoteReceived(vote))
    node.gossip.push_vote(msg)


def on_proposal(node: Node, peer_id: str, msg: ProposalMsg) -> None:
    node.gossip.mark_proposal(peer_id, msg)
    if not node.in_consensus or msg.height != node.core.height or node.core.valset is None:
        node.defer(peer_id, msg, msg.height)
        return
    k = proposal_key(msg)
    if k in node.proposals:
        return
    p = msg.proposal()
    val = node.core.valset.get(p.proposer)
    if val is None or p.proposer != node.core.proposer(p.round):
        return
    if not verify(val.pub_key, proposal_sign_bytes(node.chain_id, p), p.signature):
        raise BadPeer("proposal with a bad signature")
    node.take_proposal(peer_id, msg, p)  # its block validated (validate_proposal), then accept_proposal


def validate_proposal(node: Node, st: ChainState, msg: ProposalMsg, value_id: bytes) -> ProposalVerdict:
    """The block of a signed proposal for the height after `st`: decoded, its hash checked against the value
    id (a peer's fault: `bad_peer` says why), then `check_block` and the application's process_proposal.
    On the loop (`Node.take_proposal`); it changes no state of the node's (the verdict is applied by
    `accept_proposal`)."""
    try:
        block = Block.from_packed(msg.block)  # = Block.decode_block, ~6x cheaper (a test compares); keeps the bytes
    except DecodeError as exc:
        return ProposalVerdict(None, False, None, f"proposal with an undecodable block: {exc}")
    if block.hash() != value_id:
        return ProposalVerdict(None, False, None, "proposal block does not hash to its value id")
    reason = blockrules.check_block(node.chain_id, st, block, node.evidence.history, node.verified.verify)
    valid = reason is None and _app_accepts(node, block)
    return ProposalVerdict(block, valid, reason, None)


def accept_proposal(node: Node, msg: ProposalMsg, p: Proposal, verdict: ProposalVerdict) -> None:
    """On the loop, the proposal validated: to the WAL and the core, and on to the peers."""
    assert verdict.block is not None
    node.proposals[proposal_key(msg)] = msg
    if verdict.reason is not None:
        log.warning("invalid proposal", height=p.height, round=p.round, reason=verdict.reason)
    node.blocks.setdefault(p.value_id, (verdict.block, msg.block))
    if node.wal is not None and not node._replaying:
        node.wal.append(msg.height, msg, sync=False)
    node.executor.handle(ProposalReceived(p, verdict.valid))
    node.gossip.push_proposal(msg)


def on_txs(node: Node, peer_id: str, msg: TxsMsg) -> None:
    """Gossiped txs: the peer is marked as having each (we never send it back), and each one the pool has not
    seen goes into the admission queue (signature checked in a worker thread, then check_tx in arrival
    order; full, too large, empty: dropped quietly); those admitted are gossiped on by `Node._on_admitted`.
    A duplicate (most of what a full mesh delivers: each foreign tx comes from 3 peers) costs three look-ups
    (its hash found by its bytes in `Gossip.tx_hashes`, then the pool's and the seen cache's); the frame's
    hashes are found, marked and looked up a list at a time (no call per tx)."""
    txs = msg.txs
    hashes = node.gossip.tx_hashes.of(txs)  # (= state.crypto.sha256 of each; a copy seen before is not hashed again)
    known = node.gossip.known_txs_of(peer_id)
    if known is not None:
        known.push_many(hashes)
    fresh = node.mempool.unseen(hashes, txs)
    if fresh:
        node.admission.submit_many(fresh)
