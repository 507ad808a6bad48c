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


def _generic(data: bytes) -> object:
    from node.messages import MAX_MESSAGE_BYTES
    from state.codec import decode_union
    try:
        return decode_union(data, MESSAGE_TYPES, max_size=MAX_MESSAGE_BYTES)
    except DecodeError:
        return DecodeError


def _fast(data: bytes) -> object:
    try:
        return decode_message(data)
    except DecodeError:
        return DecodeError


SAMPLES = [
    StatusMsg(3, -1, 1, 1, 2), ProposalMsg(5, 1, 0, b"\x01" * 32, b"\x02" * 20, 9, b"s" * 64, b"block" * 100),
    VOTE, VoteMsg(2, 5, 0, None, b"\x02" * 20, 2**40, b"\x03" * 64), TxsMsg(tuple(bytes([i]) * 300 for i in range(40))),
    TxsMsg(()), EvidenceMsg(VOTE, VoteMsg(1, 5, 0, None, b"\x02" * 20, 1000, b"\x04" * 64)), BlockRequestMsg(7),
    BlockResponseMsg(7, b"b", b"c"),
]


@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
       st.integers(0, 5))
def test_the_fast_decoder_agrees_with_the_generic_one(msg: object, flips: list[tuple[int, int]], cut: int) -> None:
    """decode_message (fastrec.strict by tag) gives what the generic decode_union gives: the same message or
    a DecodeError, for valid frames and for mutated ones (changed bytes, truncated, extended)."""
    raw = bytearray(msg.encode())  # type: ignore[attr-defined]
    assert _fast(bytes(raw)) == msg == _generic(bytes(raw))
    for pos, val in flips:
        raw[pos % len(raw)] = val
    for data in (bytes(raw), bytes(raw[: len(raw) - cut]), bytes(raw) + b"\x00" * cut):
        assert _fast(data) == _generic(data)


def test_the_fast_decoder_refuses_what_the_generic_one_refuses() -> None:
    too_many = encode([4, [b"x"] * 1001])  # TxsMsg over MAX_BATCH_TXS
    wide_int = encode([6, True])  # a bool where an int belongs
    for data in (too_many, wide_int, encode([3, 1, 5, 0, b"\x01" * 33, b"\x02" * 20, 1, b""]), b"\x91\x04"):
        assert _fast(data) is DecodeError and _generic(data) is DecodeError


def test_is_txs_message_tells_a_txs_frame_from_the_others() -> None:
    from node.messages import is_txs_message
    assert is_txs_message(TxsMsg((b"a", b"b")).encode()) and is_txs_message(TxsMsg(()).encode())
    assert not any(is_txs_message(m.encode()) for m in SAMPLES if not isinstance(m, TxsMsg))
    assert not is_txs_message(b"") and not is_txs_message(b"\x92")


_votes = st.builds(VoteMsg, st.sampled_from([1, 2]), st.integers(1, 2**63 - 1), st.integers(0, 2**31),
                   st.one_of(st.none(), st.binary(min_size=32, max_size=32)), st.binary(min_size=20, max_size=20),
                   st.integers(0, 2**63 - 1), st.binary(max_size=64))


@given(st.one_of(_votes, st.sampled_from(SAMPLES)))
def test_the_wire_bytes_are_made_once_and_are_the_canonical_encoding(msg: object) -> None:
    """`WireRecord.encode` (fastrec.pack, kept on the object) gives the bytes of the generic codec, the same
    object every call; a decoded message keeps the frame it came in (no re-encode to relay it); the cache
    changes neither equality nor hashing."""
    from state.codec import Record
    generic = Record.encode(msg)  # type: ignore[arg-type]
    first = msg.encode()  # type: ignore[attr-defined]
    assert first == generic and msg.encode() is first  # type: ignore[attr-defined]
    frame = bytes(generic)
    got = decode_message(frame)
    assert got == msg and hash(got) == hash(msg) and got.encode() is frame  # type: ignore[attr-defined]
    from dataclasses import replace
    assert replace(got).encode() == frame  # type: ignore[type-var]
