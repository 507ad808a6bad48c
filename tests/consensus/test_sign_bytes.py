"""Sign bytes: golden vectors (a change here forks every signature), round trips, chain-id binding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.sign_bytes import (
    SignBytesError,
    decode_proposal_sign_bytes,
    decode_vote_sign_bytes,
    proposal_sign_bytes,
    vote_sign_bytes,
)
from consensus.types import Proposal, Vote, VoteType

CHAIN = "egp-mainnet-1"
GOLDEN_PREVOTE = (
    "4547502f766f74652f7631"  # "EGP/vote/v1"
    "01"  # prevote
    "0000000000000007"  # height 7
    "00000002"  # round 2
    "01" "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  # value id
    "0000018bcfe5687b"  # timestamp 1700000000123 ms
    "0d" "6567702d6d61696e6e65742d31"  # chain id
)  # fmt: skip
GOLDEN_NIL_PRECOMMIT = "4547502f766f74652f7631" "02" "0000000000000001" "00000000" "00" "0000000000000000" "0d" + (
    "6567702d6d61696e6e65742d31"
)  # fmt: skip
GOLDEN_PROPOSAL = (
    "4547502f70726f702f7631"  # "EGP/prop/v1"
    "20"  # proposal type
    "0000000000000007" "00000003" "00000001"  # height 7, round 3, pol_round 1
    "01" + "ab" * 32
    + "0000018bcfe56be7"  # timestamp 1700000000999 ms
    "0d" "6567702d6d61696e6e65742d31"
)  # fmt: skip


def test_golden_vectors() -> None:
    prevote = Vote(VoteType.PREVOTE, 7, 2, bytes(range(32)), b"\x11" * 20, 1700000000123, b"sig")
    assert vote_sign_bytes(CHAIN, prevote).hex() == GOLDEN_PREVOTE
    nil = Vote(VoteType.PRECOMMIT, 1, 0, None, b"\x11" * 20, 0)
    assert vote_sign_bytes(CHAIN, nil).hex() == GOLDEN_NIL_PRECOMMIT
    prop = Proposal(7, 3, b"\xab" * 32, 1, b"\x22" * 20, 1700000000999)
    assert proposal_sign_bytes(CHAIN, prop).hex() == GOLDEN_PROPOSAL


def test_binding() -> None:
    v = Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 32, b"\x11" * 20, 5)
    base = vote_sign_bytes(CHAIN, v)
    assert vote_sign_bytes("egp-testnet-1", v) != base
    assert vote_sign_bytes(CHAIN, Vote(VoteType.PRECOMMIT, 1, 0, b"\x01" * 32, b"\x11" * 20, 5)) != base
    # the signer address and the signature are not signed over (the key is)
    assert vote_sign_bytes(CHAIN, Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 32, b"\x22" * 20, 5, b"x")) == base
    p = Proposal(1, 0, b"\x01" * 32, -1, b"\x11" * 20, 5)
    assert proposal_sign_bytes(CHAIN, p)[:11] != base[:11]  # domain separation


@pytest.mark.parametrize("chain_id", ["", "x" * 51, "caf\u00e9", "a\nb"])
def test_bad_chain_id(chain_id: str) -> None:
    with pytest.raises(SignBytesError):
        vote_sign_bytes(chain_id, Vote(VoteType.PREVOTE, 1, 0, None, b"", 0))


def test_out_of_range_fields() -> None:
    for vote in (
        Vote(VoteType.PREVOTE, -1, 0, None, b"", 0),
        Vote(VoteType.PREVOTE, 1, 2**31, None, b"", 0),
        Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 31, b"", 0),
    ):
        with pytest.raises(SignBytesError):
            vote_sign_bytes(CHAIN, vote)


chain_ids = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=50)
values = st.one_of(st.none(), st.binary(min_size=32, max_size=32))


@settings(max_examples=200, deadline=None)
@given(
    chain_ids,
    st.sampled_from([VoteType.PREVOTE, VoteType.PRECOMMIT]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**31 - 1),
    values,
    st.integers(-(2**63), 2**63 - 1),
)
def test_vote_round_trip(chain: str, t: VoteType, h: int, r: int, v: bytes | None, ts: int) -> None:
    vote = Vote(t, h, r, v, b"", ts)
    data = vote_sign_bytes(chain, vote)
    assert decode_vote_sign_bytes(data) == (chain, vote)


@settings(max_examples=200, deadline=None)
@given(chain_ids, st.integers(0, 2**64 - 1), st.integers(0, 2**31 - 1), st.integers(-1, 2**31 - 1),
       st.binary(min_size=32, max_size=32), st.integers(-(2**63), 2**63 - 1))  # fmt: skip
def test_proposal_round_trip(chain: str, h: int, r: int, vr: int, v: bytes, ts: int) -> None:
    prop = Proposal(h, r, v, vr, b"", ts)
    assert decode_proposal_sign_bytes(proposal_sign_bytes(chain, prop)) == (chain, prop)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_garbage_raises_only_sign_bytes_error(data: bytes) -> None:
    for decode in (decode_vote_sign_bytes, decode_proposal_sign_bytes):
        try:
            chain, msg = decode(data)
        except SignBytesError:
            continue
        # whatever decodes re-encodes to the very same bytes (one encoding per message)
        enc = vote_sign_bytes if isinstance(msg, Vote) else proposal_sign_bytes
        assert enc(chain, msg) == data  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=10), st.integers(0, 100))
def test_mutated_golden_never_crashes(junk: bytes, pos: int) -> None:
    raw = bytes.fromhex(GOLDEN_PREVOTE)
    data = raw[:pos] + junk + raw[pos + len(junk) :]
    try:
        chain, vote = decode_vote_sign_bytes(data)
    except SignBytesError:
        return
    assert vote_sign_bytes(chain, vote) == data
