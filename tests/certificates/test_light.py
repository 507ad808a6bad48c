"""state/light.py on a real chain with several validator changes: hops found by bisection, each verified by the
previous set; ordering, anchors after the hops, absent signers at a change, and total behaviour on garbage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.certificate_build import BuildError, find_changes
from state.certificate_json import parse_anchor
from state.chain import CommitSig
from state.light import (
    LightCommit,
    LightValidator,
    Reason,
    SignedHeader,
    TrustAnchor,
    check_signed_header,
    valset_hash,
    verify_chain,
)
from tests.certificates.harness import CHAIN_ID, MiniChain, key


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> MiniChain:
    """Genesis 4 validators; +key(70) at power 10; later key(0) removed (power 0); then 3 quiet blocks."""
    chain = MiniChain(Path(tmp_path_factory.mktemp("churn")) / "db")
    chain.blocks(2)
    chain.change_validator(key(70), 10)
    chain.blocks(4)
    chain.change_validator(chain.validator_keys[0], 0)
    chain.blocks(4)
    return chain


def anchor_of(chain: MiniChain) -> TrustAnchor:
    return parse_anchor(chain.genesis_doc())


def target(chain: MiniChain, h: int) -> SignedHeader:
    return SignedHeader(chain.header(h), chain.commit(h))


def test_bisection_finds_each_change_and_the_chain_verifies(churn: MiniChain) -> None:
    anchor = anchor_of(churn)
    top = churn.height
    changes = find_changes(churn, 1, valset_hash(anchor.validators), top)
    assert len(changes) == 2
    sets = [len(c.next_validators) for c in changes]
    assert sets == [5, 4]
    for c in changes:  # each hop is the last header of the old set
        h = c.signed.header
        assert churn.header(h.height + 1).validators_hash == h.next_validators_hash != h.validators_hash
    v = verify_chain(anchor, changes, target(churn, top))
    assert v.ok, v.reason
    assert key(70).address in {a for a, _ in v.signers}
    assert churn.validator_keys[0].address not in {a for a, _ in v.signers}


def test_every_height_verifies_with_the_changes_below_it(churn: MiniChain) -> None:
    anchor = anchor_of(churn)
    for h in range(1, churn.height + 1):
        changes = find_changes(churn, 1, valset_hash(anchor.validators), h)
        v = verify_chain(anchor, changes, target(churn, h))
        assert v.ok, (h, v.reason)


def test_hops_out_of_order_are_refused(churn: MiniChain) -> None:
    anchor = anchor_of(churn)
    changes = find_changes(churn, 1, valset_hash(anchor.validators), churn.height)
    v = verify_chain(anchor, list(reversed(changes)), target(churn, churn.height))
    assert not v.ok and v.code in (Reason.CHANGE_UNSIGNED, Reason.NOT_MONOTONIC)
    # a hop above the target
    v = verify_chain(anchor, changes[:1], target(churn, changes[0].signed.header.height))
    assert not v.ok and v.code == Reason.NOT_MONOTONIC


def test_anchor_after_the_first_change_skips_it(churn: MiniChain) -> None:
    anchor = anchor_of(churn)
    changes = find_changes(churn, 1, valset_hash(anchor.validators), churn.height)
    h = changes[0].signed.header.height + 1
    later = replace(anchor, height=h, time_ms=churn.header(h).time_ms, validators=churn.validators(h))
    assert verify_chain(later, changes, target(churn, churn.height)).ok
    assert verify_chain(later, changes[1:], target(churn, churn.height)).ok


def test_a_change_signed_by_too_little_of_the_previous_set_is_refused(tmp_path: Path) -> None:
    chain = MiniChain(tmp_path / "db")
    chain.blocks(1)
    chain.absent = {chain.validator_keys[0].address, chain.validator_keys[1].address}
    chain.change_validator(key(80), 10)  # approved at H: header H + 1 names the new set as next
    chain.block()  # header H + 1, the hop, signed by only half of the power
    chain.absent = set()
    chain.blocks(4)
    anchor = anchor_of(chain)
    changes = find_changes(chain, 1, valset_hash(anchor.validators), chain.height)
    v = verify_chain(anchor, changes, target(chain, chain.height))
    assert not v.ok and v.code == Reason.CHANGE_UNSIGNED and "20 of 40" in v.reason


def test_builder_refuses_a_genesis_of_another_set(churn: MiniChain) -> None:
    with pytest.raises(BuildError, match="not signed by the trusted validator set"):
        find_changes(churn, 1, bytes(32), churn.height)


def test_check_signed_header_counts_nil_votes_as_not_signing(churn: MiniChain) -> None:
    h = 3
    sh = target(churn, h)
    sigs = list(sh.commit.signatures)
    sigs[0] = CommitSig.absent()
    v = check_signed_header(CHAIN_ID, churn.validators(h), replace(sh, commit=LightCommit(0, tuple(sigs))), "h")
    assert v.ok and v.signed_power == 30


@settings(max_examples=150, deadline=None)
@given(height=st.integers(min_value=-5, max_value=50), rnd=st.integers(min_value=-3, max_value=3),
       flags=st.lists(st.integers(min_value=0, max_value=5), max_size=6),
       power=st.integers(min_value=-2, max_value=2**62))
def test_never_raises_on_hostile_input(churn: MiniChain, height: int, rnd: int, flags: list[int],
                                       power: int) -> None:
    anchor = anchor_of(churn)
    h = churn.header(min(max(height, 1), churn.height))
    sigs = tuple(CommitSig.absent() if f == 1 else CommitSig.__new__(CommitSig) for f in flags)
    commit = LightCommit.__new__(LightCommit)
    object.__setattr__(commit, "round", rnd)
    object.__setattr__(commit, "signatures", sigs)
    bad_val = LightValidator.__new__(LightValidator)
    object.__setattr__(bad_val, "pub_key", b"\x01" * 32)
    object.__setattr__(bad_val, "power", power)
    for a in (anchor, replace(anchor, validators=(bad_val,)), replace(anchor, validators=())):
        v = verify_chain(a, [], SignedHeader(h, commit))
        assert not v.ok


def test_signed_header_from_the_block_store_records(churn: MiniChain) -> None:
    from state.chain import BlockID, Commit, PartSetHeader

    h = churn.header(5)
    lc = churn.commit(5)
    block_id = BlockID(h.hash(), PartSetHeader(1, bytes(32)))
    sh = SignedHeader.from_chain(h, Commit(5, lc.round, block_id, lc.signatures))
    assert sh == target(churn, 5)
    with pytest.raises(ValueError, match="not for header"):
        SignedHeader.from_chain(churn.header(4), Commit(5, lc.round, block_id, lc.signatures))
