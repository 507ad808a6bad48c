"""Node messages: round trips, and garbage only ever raises DecodeError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.messages import (
    MESSAGE_TYPES,
    BlockRequestMsg,
    BlockResponseMsg,
    EvidenceMsg,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    decode_message,
)
from state.codec import DecodeError, encode, tags_unique


def test_tags_unique() -> None:
    assert tags_unique(MESSAGE_TYPES)


VOTE = VoteMsg(1, 5, 0, b"\x01" * 32, b"\x02" * 20, 1000, b"\x03" * 64)


@pytest.mark.parametrize(
    "msg",
    [
        StatusMsg(3, 0, 1, 1, 2),
        ProposalMsg(5, 1, 0, b"\x01" * 32, b"\x02" * 20, 9, b"s" * 64, b"block"),
        VOTE,
        VoteMsg(2, 5, 0, None, b"\x02" * 20, 1000, b"\x03" * 64),
        TxsMsg((b"a", b"b")),
        EvidenceMsg(VOTE, VoteMsg(1, 5, 0, None, b"\x02" * 20, 1000, b"\x04" * 64)),
        BlockRequestMsg(7),
        BlockResponseMsg(7, b"b", b"c"),
    ],
)
def test_round_trip(msg: object) -> None:
    assert decode_message(msg.encode()) == msg  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        [3, 9, 5, 0, None, b"\x02" * 20, 1, b""],  # bad vote type
        [3, 1, 5, 0, b"short", b"\x02" * 20, 1, b""],  # short value id
        [2, 5, 0, 0, b"\x01" * 32, b"", 0, b"", b""],  # pol_round not below round
        [5, VOTE.to_value(), VOTE.to_value()],  # evidence with identical votes
        [6, 0],  # block 0
        [1, 1, 0, 9, 0, 0],  # step out of range
        [99],
    ],
)
def test_invalid_values_are_decode_errors(value: list[object]) -> None:
    with pytest.raises(DecodeError):
        decode_message(encode(value))


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)
