"""Commit verification (every signature, > 2/3 power, a verdict never an exception) and BFT time."""

from __future__ import annotations

import dataclasses

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from consensus.bft_time import block_time_ms, median_time_ms, weighted_median
from consensus.commit import commit_vote, make_commit, verify_commit
from consensus.sign_bytes import vote_sign_bytes
from consensus.types import BlockIDFlag, Commit, CommitSig, Vote, VoteType
from consensus.validators import Validator, ValidatorSet
from consensus.votes import VoteKeeper

CHAIN = "egp-test"
KEYS = [SigningKey(bytes([i]) * 32) for i in range(1, 5)]
V = b"\x42" * 32


def ed25519_verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(pub).verify(msg, sig)
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


def _addr(k: SigningKey) -> bytes:
    import hashlib

    return hashlib.sha256(bytes(k.verify_key)).digest()[:20]


VALS = ValidatorSet(Validator(_addr(k), bytes(k.verify_key), p) for k, p in zip(KEYS, (1, 1, 1, 2), strict=True))
KEY_OF = {_addr(k): k for k in KEYS}


def signed_precommit(addr: bytes, value: bytes | None, ts: int, height: int = 3, round_: int = 1) -> Vote:
    v = Vote(VoteType.PRECOMMIT, height, round_, value, addr, ts)
    return dataclasses.replace(v, signature=KEY_OF[addr].sign(vote_sign_bytes(CHAIN, v)).signature)


def build(votes: dict[int, bytes | None]) -> Commit:
    keeper = VoteKeeper(3, VALS, 5)
    for i, value in votes.items():
        keeper.add(signed_precommit(VALS.validators[i].address, value, 1000 + i))
    tally = keeper.tally(1, VoteType.PRECOMMIT)
    assert tally is not None
    return make_commit(VALS, 3, 1, V, tally)


def test_valid_commit() -> None:
    commit = build({0: V, 1: None, 3: V})  # power 1 + 2 = 3 of 5 > 2/3? 9 > 10 no
    assert not verify_commit(CHAIN, VALS, 3, V, commit, ed25519_verify)
    commit = build({0: V, 2: V, 3: V})  # 4 of 5
    verdict = verify_commit(CHAIN, VALS, 3, V, commit, ed25519_verify)
    assert verdict.ok and verdict.commit_power == 4
    assert [s.flag for s in commit.signatures] == [BlockIDFlag.COMMIT, BlockIDFlag.ABSENT] + [BlockIDFlag.COMMIT] * 2


def test_nil_signatures_are_checked_too() -> None:
    commit = build({0: V, 1: None, 2: V, 3: V})
    assert verify_commit(CHAIN, VALS, 3, V, commit, ed25519_verify)
    sigs = list(commit.signatures)
    sigs[1] = dataclasses.replace(sigs[1], signature=b"\x00" * 64)
    bad = dataclasses.replace(commit, signatures=tuple(sigs))
    verdict = verify_commit(CHAIN, VALS, 3, V, bad, ed25519_verify)
    assert not verdict and "invalid signature 1" in verdict.reason


def test_votes_for_another_value_are_absent() -> None:
    commit = build({0: V, 1: b"\x01" * 32, 2: V, 3: V})
    assert commit.signatures[1].flag == BlockIDFlag.ABSENT
    assert verify_commit(CHAIN, VALS, 3, V, commit, ed25519_verify)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: dataclasses.replace(c, height=4), "height"),
        (lambda c: dataclasses.replace(c, value_id=b"\x01" * 32), "another value"),
        (lambda c: dataclasses.replace(c, round=2), "invalid signature"),
        (lambda c: dataclasses.replace(c, signatures=c.signatures[:3]), "signatures for"),
        (lambda c: dataclasses.replace(c, signatures=c.signatures[::-1]), "not from validator"),
        (lambda c: dataclasses.replace(c, signatures=(None,) * 4), "malformed"),
        (lambda c: dataclasses.replace(c, signatures=(CommitSig(BlockIDFlag.ABSENT, b""),) * 4), "insufficient"),
        (lambda c: None, "not a commit"),
        (lambda c: dataclasses.replace(c, signatures="abcd"), "signatures for"),
    ],
)
def test_bad_commits_get_a_verdict(mutate: object, reason: str) -> None:
    commit = build({0: V, 2: V, 3: V})
    bad = mutate(commit)  # type: ignore[operator]
    verdict = verify_commit(CHAIN, VALS, 3, V, bad, ed25519_verify)
    assert not verdict.ok and reason in verdict.reason, verdict.reason


def test_other_chain_fails_and_raising_verifier_is_false() -> None:
    commit = build({0: V, 2: V, 3: V})
    assert not verify_commit("egp-other", VALS, 3, V, commit, ed25519_verify)

    def boom(pub: bytes, msg: bytes, sig: bytes) -> bool:
        raise ValueError("bad key")

    assert not verify_commit(CHAIN, VALS, 3, V, commit, boom)


def test_commit_vote_rebuilds_the_signed_precommit() -> None:
    commit = build({0: V, 1: None, 2: V})
    assert commit_vote(commit, commit.signatures[1]).value_id is None
    assert commit_vote(commit, commit.signatures[0]).value_id == V


def test_weighted_median() -> None:
    assert weighted_median([(10, 1), (20, 1), (30, 1)]) == 20
    assert weighted_median([(10, 1), (20, 1), (30, 5)]) == 30
    assert weighted_median([(10, 3), (20, 1), (30, 1)]) == 10
    with pytest.raises(ValueError):
        weighted_median([])


def test_bft_time_is_weighted_and_strictly_increasing() -> None:
    commit = build({0: V, 1: None, 2: V, 3: V})  # times 1000, 1001, 1002, 1003 with powers 1, 1, 1, 2
    assert median_time_ms(commit, VALS) == 1002
    assert block_time_ms(commit, VALS, prev_time_ms=500) == 1002
    assert block_time_ms(commit, VALS, prev_time_ms=5000) == 5001


def test_message_signature_helpers() -> None:
    from consensus.commit import verify_proposal_signature, verify_vote_signature
    from consensus.sign_bytes import proposal_sign_bytes
    from consensus.types import Proposal

    addr = VALS.validators[0].address
    vote = signed_precommit(addr, V, 5)
    assert verify_vote_signature(CHAIN, VALS, vote, ed25519_verify)
    assert not verify_vote_signature("other", VALS, vote, ed25519_verify)
    assert not verify_vote_signature(CHAIN, VALS, dataclasses.replace(vote, round=2), ed25519_verify)
    assert not verify_vote_signature(CHAIN, VALS, dataclasses.replace(vote, validator=b"\x00" * 20), ed25519_verify)
    assert not verify_vote_signature(CHAIN, VALS, dataclasses.replace(vote, value_id=b"short"), ed25519_verify)
    prop = Proposal(3, 0, V, -1, addr, 7)
    prop = dataclasses.replace(prop, signature=KEY_OF[addr].sign(proposal_sign_bytes(CHAIN, prop)).signature)
    assert verify_proposal_signature(CHAIN, VALS, prop, ed25519_verify)
    assert not verify_proposal_signature(CHAIN, VALS, dataclasses.replace(prop, pol_round=0), ed25519_verify)
