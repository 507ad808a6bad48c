"""Node-to-node messages: canonical `Record`s, decoded strictly; a message that fails → drop that peer.

Proposals carry the **whole block** (not 64 KiB parts as CometBFT does). Why: this is a permissioned
network of 4–22 banks whose blocks (≤ a few MiB: `block.max_bytes` from genesis, under the frame limit)
travel over persistent links between known peers; parts exist in CometBFT to pipeline gossip across large
open networks and to bound memory against unknown peers. A whole block makes the proposal atomic (no
partial part sets to track, no part-set header in the BlockID), and the block hash is the value id the
core votes on. The block stays opaque bytes here (`chain.Block` decodes it), so message decoding stays
cheap and the block is decoded once, by the node, with the block limits.

Catch-up needs no extra message: `Status` tells peers our height/round/step and our block store's range;
a peer behind in the current height is sent the votes and proposal it lacks, a peer at a lower height is
sent blocks (`BlockResponse` with the seen commit), the same messages block sync uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.types import Proposal, Vote, VoteType
from state.codec import DecodeError, Record, decode_union
from state.fastrec import pack, strict

MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # frames above this are refused by decode
MAX_BATCH_TXS = 1000


class WireRecord(Record):
    """A message whose bytes are made once per object: `encode()` packs it with `state.fastrec.pack` (the same
    bytes as `Record.encode`, a test checks it, about 6x cheaper) and keeps them in the instance dict, and
    `decode_message` keeps the received frame there (strict decoding proved it is those very bytes). Why: a
    vote or proposal is encoded for the WAL and for each peer it is pushed to, and a received one is relayed
    as it came (before: one encode per peer and one for the WAL, ~8 us for a vote, a copy of the whole block
    for a proposal). The cache is not a field: equality, hashing, `replace` and the encoding ignore it."""

    def encode(self) -> bytes:
        raw: bytes | None = self.__dict__.get("_wire")
        if raw is None:
            raw = self.__dict__["_wire"] = pack(self)
        return raw


@dataclass(frozen=True)
class StatusMsg(WireRecord):
    """Our consensus position (NewRoundStep) and the blocks we can serve (block sync StatusResponse)."""

    TAG = 1
    height: int  # consensus height (store height + 1 while in consensus)
    round: int
    step: int
    base: int  # lowest stored block height (0 = none)
    store_height: int  # highest stored block height

    def __post_init__(self) -> None:
        if self.height < 0 or self.round < -1 or not 0 <= self.step <= 3 or self.base < 0 or self.store_height < 0:
            raise ValueError("status out of range")


@dataclass(frozen=True)
class ProposalMsg(WireRecord):
    TAG = 2
    MAX_LEN = {"value_id": 32, "proposer": 20, "signature": 64}
    height: int
    round: int
    pol_round: int
    value_id: bytes
    proposer: bytes
    timestamp_ms: int
    signature: bytes
    block: bytes  # the encoded `chain.Block` whose hash is `value_id`

    def __post_init__(self) -> None:
        if self.height < 1 or self.round < 0 or not -1 <= self.pol_round < self.round or len(self.value_id) != 32:
            raise ValueError("proposal out of range")

    def proposal(self) -> Proposal:
        return Proposal(self.height, self.round, self.value_id, self.pol_round, self.proposer, self.timestamp_ms,
                        self.signature)

    @classmethod
    def of(cls, p: Proposal, block: bytes) -> ProposalMsg:
        return cls(p.height, p.round, p.pol_round, p.value_id, p.proposer, p.timestamp_ms, p.signature, block)


@dataclass(frozen=True)
class VoteMsg(WireRecord):
    TAG = 3
    MAX_LEN = {"value_id": 32, "validator": 20, "signature": 64}
    type: int
    height: int
    round: int
    value_id: bytes | None
    validator: bytes
    timestamp_ms: int
    signature: bytes

    def __post_init__(self) -> None:
        if self.type not in (VoteType.PREVOTE, VoteType.PRECOMMIT) or self.height < 1 or self.round < 0:
            raise ValueError("vote out of range")
        if self.value_id is not None and len(self.value_id) != 32:
            raise ValueError("vote value id must be 32 bytes")

    def vote(self) -> Vote:
        return Vote(VoteType(self.type), self.height, self.round, self.value_id, self.validator, self.timestamp_ms,
                    self.signature)

    @classmethod
    def of(cls, v: Vote) -> VoteMsg:
        return cls(int(v.type), v.height, v.round, v.value_id, v.validator, v.timestamp_ms, v.signature)


@dataclass(frozen=True)
class TxsMsg(WireRecord):
    TAG = 4
    MAX_LEN = {"txs": MAX_BATCH_TXS}
    txs: tuple[bytes, ...]


@dataclass(frozen=True)
class EvidenceMsg(WireRecord):
    """Duplicate-vote evidence: two votes of one validator for the same height, round and type."""

    TAG = 5
    vote_a: VoteMsg
    vote_b: VoteMsg

    def __post_init__(self) -> None:
        a, b = self.vote_a, self.vote_b
        if (a.type, a.height, a.round, a.validator) != (b.type, b.height, b.round, b.validator) or a == b:
            raise ValueError("evidence votes must conflict")


@dataclass(frozen=True)
class BlockRequestMsg(WireRecord):
    TAG = 6
    height: int

    def __post_init__(self) -> None:
        if self.height < 1:
            raise ValueError("height must be positive")


@dataclass(frozen=True)
class BlockResponseMsg(WireRecord):
    """A stored block with the commit that proves it (the seen commit, encoded as `chain.Commit`)."""

    TAG = 7
    height: int
    block: bytes
    commit: bytes


@dataclass(frozen=True)
class NoBlockResponseMsg(WireRecord):
    TAG = 8
    height: int


@dataclass(frozen=True)
class StatusRequestMsg(WireRecord):
    TAG = 9
    nonce: int


Message = StatusMsg | ProposalMsg | VoteMsg | TxsMsg | EvidenceMsg | BlockRequestMsg | BlockResponseMsg | \
    NoBlockResponseMsg | StatusRequestMsg
MESSAGE_TYPES: tuple[type[Record], ...] = (
    StatusMsg, ProposalMsg, VoteMsg, TxsMsg, EvidenceMsg, BlockRequestMsg, BlockResponseMsg, NoBlockResponseMsg,
    StatusRequestMsg,
)


def encode_message(msg: Record) -> bytes:
    return msg.encode()


_BY_TAG: dict[int, type[Record]] = {c.TAG: c for c in MESSAGE_TYPES}


def is_txs_message(data: bytes) -> bool:
    """True when `data` looks like a `TxsMsg` (`[4, [...]]`), from its first two bytes, without decoding: the
    node lets gossiped txs into its admission queue while it commits a block, and holds other messages."""
    return len(data) >= 2 and data[0] == 0x92 and data[1] == TxsMsg.TAG


def decode_message(data: bytes) -> Record:
    """Strict: anything but one well-formed message raises DecodeError (the caller drops the peer).

    Every message is an array `[tag, ...]` whose tag (1..9) msgpack writes as one byte after the array's
    one-byte header (<= 15 fields), so the class is known from `data[1]` and `state.fastrec.strict` decodes it
    (the same field checks and the same canonical-bytes rule as the generic `decode_union`, at a fraction of
    the cost: one typed pass instead of four generic walks, which mattered for 500-tx gossip frames). Anything
    else takes the generic path, which gives its own error."""
    if isinstance(data, bytes) and len(data) >= 2 and 0x91 <= data[0] <= 0x9F:
        cls = _BY_TAG.get(data[1])
        if cls is not None:
            msg = strict(cls, data, MAX_MESSAGE_BYTES)
            msg.__dict__["_wire"] = data  # `strict` checked that these are the bytes `encode()` gives
            return msg
    return decode_union(data, MESSAGE_TYPES, max_size=MAX_MESSAGE_BYTES)


__all__ = [
    "MESSAGE_TYPES", "BlockRequestMsg", "BlockResponseMsg", "DecodeError", "EvidenceMsg", "Message",
    "NoBlockResponseMsg", "ProposalMsg", "StatusMsg", "StatusRequestMsg", "TxsMsg", "VoteMsg", "WireRecord",
    "decode_message", "encode_message",
]
