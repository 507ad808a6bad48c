"""Chain records and hashes: golden vectors, strict decoding, validate_block, commit conversion and verification."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.convert import (
    check_block_time,
    commit_from_consensus,
    commit_to_consensus,
    valset_from_info,
    valset_to_info,
    verify_block_commit,
)
from node.statestore import update_state
from state import chain
from state.chain import (
    BLOCK_PROTOCOL,
    FLAG_COMMIT,
    FLAG_NIL,
    Block,
    BlockID,
    Commit,
    CommitSig,
    Header,
    PartSetHeader,
    commit_hash,
    evidence_hash,
    results_hash,
    tx_hash,
    tx_proof,
    txs_hash,
    validate_block,
    validators_hash,
)
from state.codec import DecodeError
from state.crypto import PrivateKey, sha256
from tests.node.chainkit import Chain

GOLDEN_BID = BlockID(bytes(range(32)), PartSetHeader(1, bytes(range(32, 64))))


def golden_header() -> Header:
    return Header(
        BLOCK_PROTOCOL, 0, "egp-golden", 7, 1767225600123, GOLDEN_BID, b"\x01" * 32, txs_hash([b"a", b"b"]),
        b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, b"\x05" * 32, results_hash([(0, b""), (3, b"x")]),
        evidence_hash([]), b"\x06" * 20,
    )  # fmt: skip


def test_golden_hashes() -> None:
    h = golden_header()
    assert h.hash().hex() == "5db30383615897c157d612ba1d9c83924e9ee899a0b6c561f228cbf2a3edc6d8"
    assert txs_hash([b"a", b"b"]).hex() == "ad5ca6cddc0b27c6a83e332bf28011769236e6c6a1f786ebf7b5267b37a5bd22"
    assert results_hash([(0, b""), (3, b"x")]).hex() == (
        "9960ecd6b0b91178bb831163ed1244bb384bb35a2e1462e8cfe7ec223e22d567"
    )
    sigs = (
        CommitSig.absent(),
        CommitSig(FLAG_COMMIT, b"\x07" * 20, 5, b"\x08" * 64),
        CommitSig(FLAG_NIL, b"\x09" * 20, 6, b"\x0a" * 64),
    )
    assert commit_hash(sigs).hex() == "9d229389af05c71398306f054f77fa35c9f5cdd640a34c4173c8e51842f77107"
    pubs = [PrivateKey.from_seed(sha256(bytes([i]))).public_key.raw for i in range(3)]
    assert validators_hash([(k, 10) for k in pubs]).hex() == (
        "1be157b74e672bc321fb5853537b09bd3143648c9e9f63227481f5eb5d59e1f8"
    )
    assert evidence_hash([]) == hashlib.sha256(b"").digest()


def test_txs_hash_is_rfc6962_over_tx_hashes() -> None:
    """Recomputed by hand: leaf = H(0x00 ‖ H(tx)), inner = H(0x01 ‖ l ‖ r), as CometBFT's Txs.Hash."""
    h = hashlib.sha256
    leaves = [h(b"\x00" + h(tx).digest()).digest() for tx in (b"a", b"b")]
    assert txs_hash([b"a", b"b"]) == h(b"\x01" + leaves[0] + leaves[1]).digest()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([(0, b""), (0, b""), (0, b""), (108, b""), (401, b""), (0, b"x")])
                | st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=8)), max_size=70))
def test_results_hash_is_the_merkle_root_of_the_encoded_results(results: list[tuple[int, bytes]]) -> None:
    """`results_hash` hashes each distinct (code, data) once and takes repeated inner nodes from a memo: the
    root is `merkle_root` of the encoded pairs for any sizes (odd levels included) and mixes of repeats."""
    from state.codec import encode
    from state.merkle import merkle_root

    assert results_hash(results) == merkle_root([encode([c, d]) for c, d in results])
    runs = [(0, b"")] * 1000 + results + [(0, b"")] * 37
    assert results_hash(runs) == merkle_root([encode([c, d]) for c, d in runs])


def test_header_hash_changes_with_every_field() -> None:
    h = golden_header()
    seen = {h.hash()}
    changes: dict[str, Any] = {
        "version_app": 1, "chain_id": "other", "height": 8, "time_ms": 1, "last_block_id": BlockID.zero(),
        "last_commit_hash": b"\x11" * 32, "data_hash": b"\x11" * 32, "validators_hash": b"\x11" * 32,
        "next_validators_hash": b"\x11" * 32, "consensus_hash": b"\x11" * 32, "app_hash": b"\x11",
        "last_results_hash": b"\x11" * 32, "evidence_hash": b"\x11" * 32, "proposer_address": b"\x11" * 20,
        "version_block": 12,
    }  # fmt: skip
    for name, value in changes.items():
        seen.add(replace(h, **{name: value}).hash())
    assert len(seen) == len(changes) + 1


def test_tx_proof_verifies_against_data_hash() -> None:
    txs = [f"tx{i}".encode() for i in range(7)]
    root = txs_hash(txs)
    for i, tx in enumerate(txs):
        proof = tx_proof(txs, i)
        assert proof.verify(root, tx_hash(tx))
        assert not proof.verify(root, tx_hash(tx + b"!"))


# --------------------------------------------------------------------------- strict records

hashes = st.one_of(st.just(b""), st.binary(min_size=32, max_size=32))
block_ids = st.builds(BlockID, hashes, st.builds(PartSetHeader, st.integers(0, 60), hashes))
commit_sigs = st.one_of(
    st.just(CommitSig.absent()),
    st.builds(
        CommitSig,
        st.sampled_from([FLAG_COMMIT, FLAG_NIL]),
        st.binary(min_size=20, max_size=20),
        st.integers(0, 2**62),
        st.binary(min_size=64, max_size=64),
    ),
)
commits = st.builds(Commit, st.integers(0, 2**62), st.integers(0, 1000), block_ids, st.tuples(commit_sigs, commit_sigs))


@settings(max_examples=60, deadline=None)
@given(commits, st.lists(st.binary(max_size=40), max_size=5))
def test_block_round_trip(commit: Commit, txs: list[bytes]) -> None:
    h = replace(golden_header(), data_hash=txs_hash(txs), last_commit_hash=commit.hash())
    block = Block(h, tuple(txs), (), commit)
    again = Block.decode_block(block.encode())
    assert again == block
    assert again.hash() == block.hash()
    assert Commit.decode(commit.encode()) == commit


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_decode_error_only(data: bytes) -> None:
    for cls in (Block, Header, Commit, CommitSig, BlockID):
        with pytest.raises(DecodeError):
            cls.decode(data)


def test_mutated_encodings_raise_decode_error_only() -> None:
    c = Chain.start(4)
    c.grow(2)
    raw = c.blocks[1].encode()
    for i in range(0, len(raw), 7):
        bad = raw[:i] + bytes([raw[i] ^ 0x5A]) + raw[i + 1 :]
        with contextlib.suppress(DecodeError):
            Block.decode_block(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flag": 4},
        {"flag": 1, "validator_address": b"\x01" * 20},
        {"flag": 2, "validator_address": b"\x01" * 19},
        {"flag": 2, "signature": b"\x01" * 63},
    ],
)
def test_bad_commit_sig_is_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"flag": 2, "validator_address": b"\x01" * 20, "timestamp_ms": 1, "signature": b"s" * 64}
    base.update(kwargs)
    with pytest.raises(ValueError):
        CommitSig(**base)  # type: ignore[arg-type]
    encoded = [CommitSig.TAG, base["flag"], base["validator_address"], base["timestamp_ms"], base["signature"]]
    from state.codec import encode

    with pytest.raises(DecodeError):
        CommitSig.decode(encode(encoded))


# --------------------------------------------------------------------------- validate_block


@pytest.fixture(scope="module")
def grown() -> Chain:
    c = Chain.start(4)
    c.grow(3)
    return c


def test_valid_chain_passes(grown: Chain) -> None:
    for block, state in zip(grown.blocks, grown.states, strict=True):
        assert validate_block(block, state.block_context()) is None


HEADER_BREAKS = [
    ("version_block", 99, "block version"),
    ("version_app", 5, "app version"),
    ("chain_id", "evil-chain", "chain_id"),
    ("height", 9, "height"),
    ("last_block_id", BlockID(b"\x09" * 32, PartSetHeader(1, b"\x09" * 32)), "last_block_id"),
    ("app_hash", b"\x09" * 32, "app_hash"),
    ("last_results_hash", b"\x09" * 32, "last_results_hash"),
    ("validators_hash", b"\x09" * 32, "validators_hash"),
    ("next_validators_hash", b"\x09" * 32, "next_validators_hash"),
    ("consensus_hash", b"\x09" * 32, "consensus_hash"),
    ("proposer_address", b"\x09" * 20, "proposer"),
    ("time_ms", 0, "time"),
    ("data_hash", b"\x09" * 32, "data_hash"),
    ("evidence_hash", b"\x09" * 32, "evidence_hash"),
    ("last_commit_hash", b"\x09" * 32, "last_commit_hash"),
]


@pytest.mark.parametrize(("name", "value", "reason"), HEADER_BREAKS)
def test_validate_block_rejects_each_broken_header_field(grown: Chain, name: str, value: Any, reason: str) -> None:
    block, state = grown.blocks[2], grown.states[2]
    bad = replace(block, header=replace(block.header, **{name: value}))
    got = validate_block(bad, state.block_context())
    assert got is not None and reason in got


def test_validate_block_rejects_broken_bodies(grown: Chain) -> None:
    block, ctx = grown.blocks[2], grown.states[2].block_context()
    assert "data_hash" in (validate_block(replace(block, txs=(*block.txs, b"extra")), ctx) or "")
    assert "evidence_hash" in (validate_block(replace(block, evidence=(b"ev",)), ctx) or "")
    lc = block.last_commit
    swapped = replace(block, last_commit=replace(lc, signatures=lc.signatures[::-1]))
    assert "last_commit_hash" in (validate_block(swapped, ctx) or "")
    for broken, reason in [
        (replace(lc, height=lc.height - 1), "height"),
        (replace(lc, block_id=BlockID(b"\x01" * 32, lc.block_id.parts)), "another block"),
        (replace(lc, signatures=lc.signatures[:3]), "signatures"),
    ]:
        b2 = replace(block, last_commit=broken, header=replace(block.header, last_commit_hash=broken.hash()))
        got = validate_block(b2, ctx)
        assert got is not None and reason in got, got
    assert "max_bytes" in (validate_block(block, replace(ctx, max_bytes=100)) or "")
    evidence = (b"e" * 600, b"v" * 600)
    heavy = replace(block, evidence=evidence, header=replace(block.header, evidence_hash=evidence_hash(evidence)))
    assert validate_block(heavy, ctx) is None
    assert "evidence of 1200 bytes" in (validate_block(heavy, replace(ctx, max_evidence_bytes=1000)) or "")


def test_initial_block_rules(grown: Chain) -> None:
    block, ctx = grown.blocks[0], grown.states[0].block_context()
    later = replace(block, header=replace(block.header, time_ms=block.header.time_ms + 1))
    assert "genesis time" in (validate_block(later, ctx) or "")
    lc = grown.blocks[1].last_commit
    with_commit = replace(block, last_commit=lc, header=replace(block.header, last_commit_hash=lc.hash()))
    assert "empty last commit" in (validate_block(with_commit, ctx) or "")


# --------------------------------------------------------------------------- commits, time, state


def test_commit_conversion_round_trips(grown: Chain) -> None:
    for block, seen in zip(grown.blocks, grown.seen_commits, strict=True):
        assert commit_from_consensus(commit_to_consensus(seen), block.block_id()) == seen


def test_verify_block_commit(grown: Chain) -> None:
    block, seen, state = grown.blocks[1], grown.seen_commits[1], grown.states[1]
    vs = valset_from_info(state.validators)
    bid = block.block_id()
    assert verify_block_commit(state.chain_id, vs, bid, 2, seen)
    assert not verify_block_commit("other-chain", vs, bid, 2, seen)
    assert not verify_block_commit(state.chain_id, vs, grown.blocks[0].block_id(), 2, seen)
    swapped = replace(seen, signatures=(seen.signatures[1], seen.signatures[0], *seen.signatures[2:]))
    assert not verify_block_commit(state.chain_id, vs, bid, 2, swapped)
    two_absent = replace(seen, signatures=(CommitSig.absent(), CommitSig.absent(), *seen.signatures[2:]))
    verdict = verify_block_commit(state.chain_id, vs, bid, 2, two_absent)
    assert not verdict and "insufficient" in verdict.reason
    one_absent = replace(seen, signatures=(CommitSig.absent(), *seen.signatures[1:]))
    assert verify_block_commit(state.chain_id, vs, bid, 2, one_absent)


def test_bft_time_is_checked(grown: Chain) -> None:
    block, state = grown.blocks[2], grown.states[2]
    assert state.last_validators is not None
    last_vs = valset_from_info(state.last_validators)
    assert check_block_time(block, last_vs, state.last_block_time_ms) is None
    bad = replace(block, header=replace(block.header, time_ms=block.header.time_ms + 1))
    assert "BFT time" in (check_block_time(bad, last_vs, state.last_block_time_ms) or "")


def test_validator_updates_take_effect_two_heights_later() -> None:
    c = Chain.start(4)
    c.grow(1)
    newcomer = PrivateKey.from_seed(sha256(b"newcomer"))
    block = c.next_block((b"add validator",))
    bid = block.block_id()
    res = chain.FinalizeBlockResult((), (), (chain.ValidatorUpdate(newcomer.public_key.raw, 5),), b"", b"\x01" * 32)
    h = block.header.height
    after = update_state(c.state, bid, block.header, res)
    assert len(after.validators.validators) == 4
    assert len(after.next_validators.validators) == 5
    assert after.last_height_validators_changed == h + 2
    assert after.block_context().next_validators_hash != after.block_context().validators_hash
    assert valset_to_info(valset_from_info(after.next_validators)) == after.next_validators
    assert after.app_hash == b"\x01" * 32 and after.last_block_id == bid


def test_consensus_param_updates_change_the_consensus_hash() -> None:
    from node.genesis import ConsensusParams

    c = Chain.start(4)
    c.grow(1)
    block = c.next_block()
    new = ConsensusParams(timeout_commit_ms=5000)
    res = chain.FinalizeBlockResult((), (), (), new.encode(), b"\x02" * 32)
    after = update_state(c.state, block.block_id(), block.header, res)
    assert after.consensus_params == new and after.last_height_params_changed == block.header.height + 1
    assert after.block_context().consensus_hash == new.hash() != c.state.block_context().consensus_hash
    with pytest.raises(ValueError, match="does not follow"):
        update_state(after, block.block_id(), block.header, res)
