"""Duplicate-vote evidence rules (node/evidence.py): real signatures, real validator sets and chain states;
the history of past heights is a small in-memory table (the node's is StateStore + block store, exercised by
the RPC and e2e tests)."""

from __future__ import annotations

import base64
from dataclasses import replace
from itertools import accumulate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from consensus.validators import Validator, ValidatorSet
from node.blockrules import check_block
from node.convert import valset_from_info
from node.evidence import (
    BAD_SIGNATURE,
    EvidencePool,
    evidence_reason,
    oldest_unexpired_height,
    parse_rpc_evidence,
)
from node.genesis import ConsensusParams, Genesis, GenesisValidator
from node.messages import EvidenceMsg, VoteMsg
from node.rpc.encode import rfc3339_nano
from node.statestore import ChainState, state_from_genesis
from state.chain import Block, evidence_hash
from state.crypto import PrivateKey, sha256
from tests.node.chainkit import Chain

CHAIN = "egp-ev"
T0 = 1_767_225_600_000
KEYS = [PrivateKey.from_seed(sha256(b"ev%d" % i)) for i in range(3)]
OUTSIDER = PrivateKey.from_seed(sha256(b"outsider"))


class Table:
    """Past validator sets, block times by height and committed evidence (the node's block store keeps the
    hash of every item its blocks carried: tests below and tests/node/test_evidence_restart.py)."""

    def __init__(self, vs: ValidatorSet) -> None:
        self.vs = vs
        self.times: dict[int, int] = {}
        self.committed: dict[bytes, int] = {}

    def validators_at(self, height: int) -> ValidatorSet | None:
        return self.vs if height >= 1 else None

    def block_time_ms(self, height: int) -> int | None:
        return self.times.get(height)

    def committed_height(self, item_hash: bytes) -> int | None:
        return self.committed.get(item_hash)


def state_at(last_height: int, time_ms: int = T0, **params: int) -> ChainState:
    g = Genesis(CHAIN, T0 * 1_000_000, tuple(GenesisValidator(k.public_key.raw, 10, f"v{i}")
                                                for i, k in enumerate(KEYS)),
                consensus_params=ConsensusParams(**params))  # type: ignore[arg-type]
    return replace(state_from_genesis(g), last_block_height=last_height, last_block_time_ms=time_ms)


def vote(key: PrivateKey, height: int, value: bytes | None, t: int = T0, rnd: int = 0,
         vtype: VoteType = VoteType.PREVOTE) -> VoteMsg:
    v = Vote(vtype, height, rnd, value, key.address, t)
    return VoteMsg.of(replace(v, signature=key.sign(vote_sign_bytes(CHAIN, v))))


def double(key: PrivateKey = KEYS[0], height: int = 3, t: int = T0) -> EvidenceMsg:
    return EvidenceMsg(vote(key, height, b"\x01" * 32, t), vote(key, height, b"\x02" * 32, t))


def table(state: ChainState) -> Table:
    return Table(valset_from_info(state.validators))


def test_a_well_formed_double_vote_is_valid() -> None:
    s = state_at(10)
    assert evidence_reason(CHAIN, s, double().encode(), table(s)) is None
    nil = EvidenceMsg(vote(KEYS[1], 4, None), vote(KEYS[1], 4, b"\x03" * 32))  # nil vs a block also conflicts
    assert evidence_reason(CHAIN, s, nil.encode(), table(s)) is None


def test_invalid_evidence_is_refused_with_a_reason() -> None:
    s = state_at(10)
    h = table(s)
    same = EvidenceMsg(vote(KEYS[0], 3, b"\x01" * 32, T0), vote(KEYS[0], 3, b"\x01" * 32, T0 + 1))
    assert "same block" in (evidence_reason(CHAIN, s, same.encode(), h) or "")
    assert "future" in (evidence_reason(CHAIN, s, double(height=12).encode(), h) or "")
    assert "not in the validator set" in (evidence_reason(CHAIN, s, double(OUTSIDER).encode(), h) or "")
    forged = EvidenceMsg(vote(KEYS[0], 3, b"\x01" * 32), replace(vote(KEYS[0], 3, b"\x02" * 32), signature=b"\0" * 64))
    assert evidence_reason(CHAIN, s, forged.encode(), h) == BAD_SIGNATURE
    other_chain = EvidenceMsg(vote(KEYS[0], 3, b"\x01" * 32), vote(KEYS[0], 3, b"\x02" * 32))
    assert evidence_reason("egp-other", s, other_chain.encode(), h) == BAD_SIGNATURE
    assert evidence_reason(CHAIN, s, b"\x05garbage", h) is not None
    assert evidence_reason(CHAIN, s, vote(KEYS[0], 3, None).encode(), h) == "not evidence"


def test_validator_set_of_the_evidence_height_is_used() -> None:
    s = state_at(10)
    h = table(s)
    h.vs = ValidatorSet.from_genesis([Validator(k.address, k.public_key.raw, 10) for k in KEYS[1:]])
    # KEYS[0] is in today's set but was not a validator at height 3
    assert "not in the validator set of height 3" in (evidence_reason(CHAIN, s, double().encode(), h) or "")


@given(blocks=st.integers(0, 30), age_s=st.integers(0, 30))
def test_expired_only_when_both_ages_are_exceeded(blocks: int, age_s: int) -> None:
    s = state_at(3 + blocks, T0 + age_s * 1000, evidence_max_age_num_blocks=10,
                 evidence_max_age_duration_ns=10 * 10**9)
    h = table(s)
    h.times[3] = T0
    reason = evidence_reason(CHAIN, s, double().encode(), h)
    assert (reason is not None) == (blocks > 10 and age_s > 10)
    assert reason is None or "too old" in reason


def test_pool_keeps_one_copy_and_never_readds_committed_evidence() -> None:
    s = state_at(10)
    pool = EvidencePool(CHAIN, table(s))
    pool.table = pool.history  # type: ignore[attr-defined]
    ev = double()
    key, reason, added = pool.add(s, ev)
    assert reason is None and added
    swapped = EvidenceMsg(ev.vote_b, ev.vote_a)
    assert pool.add(s, swapped) == (key, None, False)  # the same pair in the other order is the same item
    assert pool.for_proposal(s, 16) == [pool.pending[key]]
    raw = pool.pending[key]
    pool.table.committed[sha256(raw)] = 9  # type: ignore[attr-defined]  # the block store saved block 9 with it
    pool.committed_block([raw])
    assert pool.pending == {} and pool.add(s, ev)[1] == "evidence was already committed"
    assert pool.add(s, swapped)[1] == "evidence was already committed"
    _, reason, added = pool.add(s, double(OUTSIDER))
    assert reason is not None and not added and pool.pending == {}


def test_pool_drops_what_became_invalid_before_proposing() -> None:
    s = state_at(10, evidence_max_age_num_blocks=5, evidence_max_age_duration_ns=1)
    h = table(s)
    h.times[3] = T0
    pool = EvidencePool(CHAIN, h)
    pool.add(s, double(height=8))
    later = replace(s, last_block_height=20, last_block_time_ms=T0 + 60_000)
    assert pool.for_proposal(later, 16) == [] and pool.pending == {}


def _cometbft_vote(v: VoteMsg) -> dict[str, object]:
    return {"type": v.type, "height": str(v.height), "round": v.round,
            "block_id": {"hash": v.value_id.hex().upper() if v.value_id else "", "parts": {"total": 0, "hash": ""}},
            "timestamp": rfc3339_nano(v.timestamp_ms * 1_000_000), "validator_address": v.validator.hex().upper(),
            "validator_index": 0, "signature": base64.b64encode(v.signature).decode()}


def test_rpc_evidence_in_both_json_forms_parses_to_the_same_item() -> None:
    ev = double(t=T0 + 123)
    comet = {"type": "tendermint/DuplicateVoteEvidence",
             "value": {"vote_a": _cometbft_vote(ev.vote_a), "vote_b": _cometbft_vote(ev.vote_b),
                       "total_voting_power": "30", "validator_power": "10", "timestamp": rfc3339_nano(T0 * 10**6)}}
    assert parse_rpc_evidence(comet) == ev
    assert parse_rpc_evidence({"type": "egp/Evidence", "value": base64.b64encode(ev.encode()).decode()}) == ev


@pytest.mark.parametrize("bad", [
    {"type": "x"},
    {"type": "tendermint/DuplicateVoteEvidence", "value": {}},
    {"type": "tendermint/DuplicateVoteEvidence", "value": {"vote_a": 1, "vote_b": 2}},
    {"type": "egp/Evidence", "value": "!!"},
    {"type": "egp/Evidence", "value": base64.b64encode(b"\x03abc").decode()},
])
def test_malformed_rpc_evidence_is_a_clear_error(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="evidence"):
        parse_rpc_evidence(bad)


def test_rpc_evidence_timestamps_must_be_rfc3339_milliseconds() -> None:
    ev = double()
    va = _cometbft_vote(ev.vote_a)
    for ts in ("yesterday", "2026-01-01T00:00:00.0000001Z"):
        bad = {"type": "tendermint/DuplicateVoteEvidence",
               "value": {"vote_a": dict(va, timestamp=ts), "vote_b": _cometbft_vote(ev.vote_b)}}
        with pytest.raises(ValueError, match="malformed evidence"):
            parse_rpc_evidence(bad)


def test_committed_evidence_is_refused_in_either_vote_order_by_the_block_rules() -> None:
    """node/blockrules.py check_block applies the pool's rule: an item a stored block carried (in either
    vote order) is refused, and so is one pair of votes twice in a block, in the two orders."""
    c = Chain.start(4)
    c.grow(3, txs_per_block=0)
    signer = next(iter(c.signers.values()))

    def signed(value: bytes) -> VoteMsg:
        v = Vote(VoteType.PREVOTE, 2, 0, value, signer.address, c.state.last_block_time_ms)
        return VoteMsg.of(replace(v, signature=signer.sign(vote_sign_bytes(c.state.chain_id, v))))

    ev = EvidenceMsg(signed(b"\x01" * 32), signed(b"\x02" * 32))
    swapped = EvidenceMsg(ev.vote_b, ev.vote_a)
    hist = Table(valset_from_info(c.state.validators))
    hist.times[2] = c.state.last_block_time_ms
    for items, want in (([ev.encode()], None), ([swapped.encode()], None),
                        ([ev.encode(), swapped.encode()], "the same evidence twice")):
        assert check_block(c.state.chain_id, c.state, with_evidence(c, items), hist) == want
    hist.committed[sha256(swapped.encode())] = 3
    for item in (ev, swapped):
        block = with_evidence(c, [item.encode()])
        assert check_block(c.state.chain_id, c.state, block, hist) == "invalid evidence: evidence was already committed"


def with_evidence(c: Chain, items: list[bytes]) -> Block:
    block = c.next_block()
    return replace(block, evidence=tuple(items),
                   header=replace(block.header, evidence_hash=evidence_hash(tuple(items))))


@given(times=st.lists(st.integers(0, 5_000), min_size=1, max_size=40), base=st.integers(1, 40),
       max_blocks=st.integers(1, 30), max_s=st.integers(0, 30))
def test_oldest_unexpired_height_keeps_every_height_whose_evidence_may_be_valid(
        times: list[int], base: int, max_blocks: int, max_s: int) -> None:
    """node/evidence.py oldest_unexpired_height (what a pruning node keeps): every height below it is expired
    by both ages under evidence_reason's rule, so no node can accept evidence of it."""
    block_times = [T0 + t for t in accumulate(times)]  # heights 1.., times never decrease
    last = len(block_times)
    s = state_at(last, block_times[-1], evidence_max_age_num_blocks=max_blocks,
                 evidence_max_age_duration_ns=max_s * 10**9)
    base = min(base, last)

    def time_ms(h: int) -> int | None:
        return block_times[h - 1] if base <= h <= last else None

    floor = oldest_unexpired_height(s, time_ms, base)
    for h in range(base, min(floor, last + 1)):
        assert last - h > max_blocks and (s.last_block_time_ms - block_times[h - 1]) * 10**6 > max_s * 10**9
    if base <= floor <= last:  # and it is the first height that is not: the window is not wider than needed
        assert last - floor <= max_blocks or (s.last_block_time_ms - block_times[floor - 1]) * 10**6 <= max_s * 10**9
