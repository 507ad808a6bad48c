"""The node's small shared vocabulary: channels, options, the transport it needs, signer recovery.

Kept out of `node/node.py` so that module stays about the event flow; `node/assemble.py` and the tests
import the channel numbers and options from here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from consensus.sign_bytes import SignBytesError, decode_vote_sign_bytes
from consensus.types import ConsensusParams, Proposal, Vote
from node.messages import EvidenceMsg, ProposalMsg, StatusMsg, StatusRequestMsg, TxsMsg, VoteMsg
from state.codec import Record

CH_STATE, CH_DATA, CH_VOTE, CH_MEMPOOL, CH_EVIDENCE, CH_BLOCKSYNC = 0x20, 0x21, 0x22, 0x30, 0x38, 0x40


def channel_of(msg: Record) -> int:
    if isinstance(msg, VoteMsg):
        return CH_VOTE
    if isinstance(msg, ProposalMsg):
        return CH_DATA
    if isinstance(msg, TxsMsg):
        return CH_MEMPOOL
    if isinstance(msg, EvidenceMsg):
        return CH_EVIDENCE
    if isinstance(msg, StatusMsg | StatusRequestMsg):
        return CH_STATE
    return CH_BLOCKSYNC


class Network(Protocol):
    """What the node needs of the transport (`node.p2p.transport.P2P`)."""

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool: ...
    def disconnect(self, peer_id: str, reason: str) -> None: ...


@dataclass
class NodeOptions:
    chain_id: str
    params: ConsensusParams
    block_max_bytes: int
    blocksync_enable: bool = True
    switch_threshold: int = 5  # fall back to block sync when this many blocks behind
    create_empty_blocks: bool = True
    create_empty_blocks_interval_ms: int = 0
    broadcast_txs: bool = True


class BadPeer(Exception):
    """A peer sent something that decodes but is wrong (bad signature, block not matching its id)."""


class NoSigner:
    """The signer of a non-validator: never signs."""

    def sign_vote(self, vote: Vote) -> Vote | None:
        return None

    def sign_proposal(self, proposal: Proposal) -> Proposal | None:
        return None


def last_signed_vote(signer: object, chain_id: str, height: int, address: bytes | None) -> VoteMsg | None:
    """The vote the signer guard (`node.privval.FilePV.state`) last signed, if it is a vote of `height`."""
    last = getattr(signer, "state", None)
    if last is None or address is None or getattr(last, "height", 0) != height:
        return None
    if getattr(last, "step", 0) not in (2, 3) or not getattr(last, "signature", b""):
        return None
    try:
        cid, v = decode_vote_sign_bytes(last.sign_bytes)
    except SignBytesError:
        return None
    if cid != chain_id:
        return None
    return VoteMsg.of(replace(v, validator=address, signature=last.signature))
