"""Converters between the chain records (`state.chain`) and the consensus core's types (`consensus.types`).

Why a separate module: `state/` may not import `consensus/` (and the core is stdlib-only), yet block sync, the
executor's decisions and the wallet's verifier must agree on one commit. The core votes on a 32-byte value id,
which is the block hash (`Header.hash()`); the chain's `BlockID` adds the part-set header, derived from the
block. A consensus `Commit` becomes a chain `Commit` given that `BlockID`, and back, losslessly.

`verify_block_commit` is the one commit check for block sync, catch-up and certificates: the chain commit must
name `block_id` exactly, and then `consensus.commit.verify_commit` checks every signature (Ed25519 from
`state.crypto`) and +2/3 of the power.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus.bft_time import block_time_ms
from consensus.commit import Verdict, verify_commit
from consensus.types import BlockIDFlag
from consensus.types import Commit as CCommit
from consensus.types import CommitSig as CCommitSig
from consensus.validators import Validator, ValidatorSet
from consensus.validators import ValidatorUpdate as CValidatorUpdate
from state import chain
from state.crypto import address, verify


def commit_to_consensus(commit: chain.Commit) -> CCommit:
    sigs = tuple(
        CCommitSig(BlockIDFlag(s.flag), s.validator_address, s.timestamp_ms, s.signature) for s in commit.signatures
    )
    return CCommit(commit.height, commit.round, commit.block_id.hash, sigs)


def commit_from_consensus(commit: CCommit, block_id: chain.BlockID) -> chain.Commit:
    """The chain record of a core commit for the block whose id is `block_id` (hash = the commit's value id)."""
    if commit.value_id != block_id.hash:
        raise ValueError("the commit is for another block")
    sigs: list[chain.CommitSig] = []
    for s in commit.signatures:
        if s.flag == BlockIDFlag.ABSENT:
            sigs.append(chain.CommitSig.absent())
        else:
            sigs.append(chain.CommitSig(int(s.flag), s.validator, s.timestamp_ms, s.signature))
    return chain.Commit(commit.height, commit.round, block_id, tuple(sigs))


def valset_to_info(vs: ValidatorSet) -> chain.ValidatorSetInfo:
    vals = tuple(chain.ValidatorInfo(v.address, v.pub_key, v.power, v.proposer_priority) for v in vs.validators)
    return chain.ValidatorSetInfo(vals, vs.proposer)


def valset_from_info(info: chain.ValidatorSetInfo) -> ValidatorSet:
    vals = [Validator(v.address, v.pub_key, v.power, v.proposer_priority) for v in info.validators]
    return ValidatorSet(vals, info.proposer)


def valset_hash(vs: ValidatorSet) -> bytes:
    return chain.validators_hash([(v.pub_key, v.power) for v in vs.validators])


def updates_to_consensus(updates: Sequence[chain.ValidatorUpdate]) -> list[CValidatorUpdate]:
    return [CValidatorUpdate(u.pub_key, u.power, address(u.pub_key)) for u in updates]


def verify_block_commit(
    chain_id: str, valset: ValidatorSet, block_id: chain.BlockID, height: int, commit: chain.Commit
) -> Verdict:
    """Does `commit` prove block `block_id` at `height` with +2/3 of `valset`? Never raises on bad input."""
    if not isinstance(commit, chain.Commit):
        return Verdict(False, "not a commit")
    if commit.block_id != block_id:
        return Verdict(False, "commit is for another block id")
    return verify_commit(chain_id, valset, height, block_id.hash, commit_to_consensus(commit), verify)


def expected_block_time_ms(last_commit: chain.Commit, last_valset: ValidatorSet, prev_time_ms: int) -> int:
    """BFT time of the block carrying `last_commit`: weighted median of its timestamps, after the previous time."""
    return block_time_ms(commit_to_consensus(last_commit), last_valset, prev_time_ms)


def check_block_time(block: chain.Block, last_valset: ValidatorSet | None, prev_time_ms: int) -> str | None:
    """The BFT-time rule for non-initial blocks (`chain.validate_block` checks the initial block's time)."""
    if last_valset is None or block.last_commit.height == 0:
        return None
    try:
        want = expected_block_time_ms(block.last_commit, last_valset, prev_time_ms)
    except (ValueError, TypeError) as exc:
        return f"cannot compute BFT time: {exc}"
    if block.header.time_ms != want:
        return f"time {block.header.time_ms} is not the BFT time {want} of the last commit"
    return None
