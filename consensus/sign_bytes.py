"""Canonical, chain-id-bound sign bytes for votes and proposals (fixed layout, big-endian).

Vote::

    b"EGP/vote/v1" | type u8 | height u64 | round i32 | value | timestamp_ms i64 | len u8 | chain_id

Proposal::

    b"EGP/prop/v1" | 0x20 u8 | height u64 | round i32 | pol_round i32 | value | timestamp_ms i64
    | len u8 | chain_id

``value`` is ``0x00`` for nil or ``0x01`` followed by the 32-byte value id.  ``chain_id`` is ASCII,
1..50 bytes.  Every field has one encoding, so equal messages give equal bytes and the decoders
(used by tests and tools) accept only the bytes the encoders give; they raise ``SignBytesError`` only.
The signature itself is never part of the sign bytes.
"""

from __future__ import annotations

import struct

from consensus.types import PROPOSAL_TYPE, VALUE_ID_LEN, Proposal, ValueId, Vote, VoteType

VOTE_TAG = b"EGP/vote/v1"
PROPOSAL_TAG = b"EGP/prop/v1"
MAX_CHAIN_ID_LEN = 50
_HEAD_VOTE = struct.Struct(">BQi")
_HEAD_PROP = struct.Struct(">BQii")
_TIME = struct.Struct(">q")


class SignBytesError(ValueError):
    """Malformed message or sign bytes."""


def _check_chain_id(chain_id: str) -> bytes:
    raw = chain_id.encode("ascii", errors="replace")
    if not 1 <= len(raw) <= MAX_CHAIN_ID_LEN or not chain_id.isascii() or not chain_id.isprintable():
        raise SignBytesError("chain_id must be 1..50 printable ASCII characters")
    return raw


def _value(value_id: ValueId | None) -> bytes:
    if value_id is None:
        return b"\x00"
    if len(value_id) != VALUE_ID_LEN:
        raise SignBytesError("value id must be 32 bytes")
    return b"\x01" + bytes(value_id)


def _pack(fmt: struct.Struct, *values: int) -> bytes:
    try:
        return fmt.pack(*values)
    except struct.error as e:
        raise SignBytesError(f"field out of range: {e}") from None


def vote_sign_bytes(chain_id: str, vote: Vote) -> bytes:
    if vote.type not in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        raise SignBytesError("bad vote type")
    cid = _check_chain_id(chain_id)
    return b"".join(
        (
            VOTE_TAG,
            _pack(_HEAD_VOTE, int(vote.type), vote.height, vote.round),
            _value(vote.value_id),
            _pack(_TIME, vote.timestamp_ms),
            bytes((len(cid),)),
            cid,
        )
    )


def proposal_sign_bytes(chain_id: str, proposal: Proposal) -> bytes:
    cid = _check_chain_id(chain_id)
    return b"".join(
        (
            PROPOSAL_TAG,
            _pack(_HEAD_PROP, PROPOSAL_TYPE, proposal.height, proposal.round, proposal.pol_round),
            _value(proposal.value_id),
            _pack(_TIME, proposal.timestamp_ms),
            bytes((len(cid),)),
            cid,
        )
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SignBytesError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def value(self) -> ValueId | None:
        marker = self.take(1)
        if marker == b"\x00":
            return None
        if marker == b"\x01":
            return self.take(VALUE_ID_LEN)
        raise SignBytesError("bad value marker")

    def tail(self) -> tuple[int, str]:
        (ts,) = _TIME.unpack(self.take(8))
        n = self.take(1)[0]
        raw = self.take(n)
        if self.pos != len(self.data):
            raise SignBytesError("trailing bytes")
        try:
            cid = raw.decode("ascii")
        except UnicodeDecodeError:
            raise SignBytesError("chain_id not ASCII") from None
        _check_chain_id(cid)
        return ts, cid


def decode_vote_sign_bytes(data: bytes) -> tuple[str, Vote]:
    """Inverse of ``vote_sign_bytes`` (the vote has no validator address and no signature)."""
    r = _Reader(bytes(data))
    if r.take(len(VOTE_TAG)) != VOTE_TAG:
        raise SignBytesError("not a vote")
    t, height, round_ = _HEAD_VOTE.unpack(r.take(_HEAD_VOTE.size))
    if t not in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        raise SignBytesError("bad vote type")
    value = r.value()
    ts, cid = r.tail()
    return cid, Vote(VoteType(t), height, round_, value, b"", ts)


def decode_proposal_sign_bytes(data: bytes) -> tuple[str, Proposal]:
    """Inverse of ``proposal_sign_bytes`` (the proposal has no proposer address and no signature)."""
    r = _Reader(bytes(data))
    if r.take(len(PROPOSAL_TAG)) != PROPOSAL_TAG:
        raise SignBytesError("not a proposal")
    t, height, round_, pol_round = _HEAD_PROP.unpack(r.take(_HEAD_PROP.size))
    if t != PROPOSAL_TYPE:
        raise SignBytesError("bad proposal type")
    value = r.value()
    if value is None:
        raise SignBytesError("nil proposal")
    ts, cid = r.tail()
    return cid, Proposal(height, round_, value, pol_round, b"", ts)
