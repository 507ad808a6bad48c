"""Commits: building one from a precommit tally, and verifying one (block sync, light clients, wallet).

``verify_commit(chain_id, valset, height, value_id, commit, verify_sig)`` checks the shape (height,
value, one ``CommitSig`` per validator in set order), **every** signature (COMMIT and NIL flags), and that
the COMMIT-flag power is more than 2/3 of the set.  It returns a ``Verdict`` and never raises on bad input.
``verify_sig(pub_key, message, signature) -> bool`` is injected (Ed25519 from ``state.crypto`` in the node).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consensus.sign_bytes import SignBytesError, proposal_sign_bytes, vote_sign_bytes
from consensus.types import (
    VALUE_ID_LEN,
    BlockIDFlag,
    Commit,
    CommitSig,
    Proposal,
    ValueId,
    Vote,
    VoteType,
)
from consensus.validators import ValidatorSet
from consensus.votes import Tally

VerifySig = Callable[[bytes, bytes, bytes], bool]

__all__ = [
    "BlockIDFlag",
    "Commit",
    "CommitSig",
    "Verdict",
    "commit_vote",
    "make_commit",
    "verify_commit",
    "verify_proposal_signature",
    "verify_vote_signature",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = "ok"
    commit_power: int = 0

    def __bool__(self) -> bool:
        return self.ok


def make_commit(valset: ValidatorSet, height: int, round_: int, value_id: ValueId, tally: Tally) -> Commit:
    """The commit for ``value_id`` from the precommits of (height, round), in validator-set order.

    Precommits for another value are recorded ABSENT (as CometBFT's ``MakeExtendedCommit``).
    """
    sigs: list[CommitSig] = []
    for v in valset.validators:
        vote = tally.vote_for(v.address, value_id)
        if vote is not None:
            sigs.append(CommitSig(BlockIDFlag.COMMIT, v.address, vote.timestamp_ms, vote.signature))
            continue
        vote = tally.vote_for(v.address, None)
        if vote is not None:
            sigs.append(CommitSig(BlockIDFlag.NIL, v.address, vote.timestamp_ms, vote.signature))
        else:
            sigs.append(CommitSig(BlockIDFlag.ABSENT, b""))
    return Commit(height, round_, value_id, tuple(sigs))


def commit_vote(commit: Commit, sig: CommitSig) -> Vote:
    """The precommit that ``sig`` signed (to rebuild its sign bytes)."""
    value = commit.value_id if sig.flag == BlockIDFlag.COMMIT else None
    return Vote(VoteType.PRECOMMIT, commit.height, commit.round, value, sig.validator, sig.timestamp_ms, sig.signature)


def verify_vote_signature(chain_id: str, valset: ValidatorSet, vote: Vote, verify_sig: VerifySig) -> bool:
    """True when ``vote`` is signed by a member of ``valset`` (the shell's check before ``VoteReceived``)."""
    val = valset.get(vote.validator)
    if val is None:
        return False
    try:
        return bool(verify_sig(val.pub_key, vote_sign_bytes(chain_id, vote), vote.signature))
    except (SignBytesError, ValueError, TypeError):
        return False


def verify_proposal_signature(chain_id: str, valset: ValidatorSet, proposal: Proposal, verify_sig: VerifySig) -> bool:
    """True when ``proposal`` is signed by its (member) proposer; the core checks it is ``proposer(h, r)``."""
    val = valset.get(proposal.proposer)
    if val is None:
        return False
    try:
        return bool(verify_sig(val.pub_key, proposal_sign_bytes(chain_id, proposal), proposal.signature))
    except (SignBytesError, ValueError, TypeError):
        return False


def _shape_error(valset: ValidatorSet, height: int, value_id: ValueId, commit: object) -> str | None:
    if not isinstance(commit, Commit):
        return "not a commit"
    if commit.height != height:
        return f"commit height {commit.height} != {height}"
    if not isinstance(value_id, bytes) or len(value_id) != VALUE_ID_LEN or commit.value_id != value_id:
        return "commit is for another value"
    if not isinstance(commit.round, int) or commit.round < 0:
        return "bad round"
    if not isinstance(commit.signatures, tuple) or len(commit.signatures) != len(valset):
        return f"commit has {len(commit.signatures)} signatures for {len(valset)} validators"
    return None


def verify_commit(
    chain_id: str,
    valset: ValidatorSet,
    height: int,
    value_id: ValueId,
    commit: Commit,
    verify_sig: VerifySig,
) -> Verdict:
    """See the module docstring.  Never raises on malformed input (a raising ``verify_sig`` counts as false)."""
    try:
        err = _shape_error(valset, height, value_id, commit)
        if err is not None:
            return Verdict(False, err)
        power = 0
        for i, (val, sig) in enumerate(zip(valset.validators, commit.signatures, strict=True)):
            if not isinstance(sig, CommitSig):
                return Verdict(False, f"signature {i} malformed")
            if sig.flag == BlockIDFlag.ABSENT:
                continue
            if sig.flag not in (BlockIDFlag.COMMIT, BlockIDFlag.NIL):
                return Verdict(False, f"signature {i} has bad flag")
            if sig.validator != val.address:
                return Verdict(False, f"signature {i} is not from validator {val.address.hex()}")
            try:
                msg = vote_sign_bytes(chain_id, commit_vote(commit, sig))
                good = bool(verify_sig(val.pub_key, msg, sig.signature))
            except (SignBytesError, ValueError, TypeError):
                good = False
            if not good:
                return Verdict(False, f"invalid signature {i} ({val.address.hex()})")
            if sig.flag == BlockIDFlag.COMMIT:
                power += val.power
        if not valset.has_two_thirds(power):
            return Verdict(False, f"insufficient power {power}/{valset.total_power}", power)
        return Verdict(True, "ok", power)
    except Exception as e:  # defensive: a verdict, never an exception, on hostile input
        return Verdict(False, f"malformed commit: {type(e).__name__}")
