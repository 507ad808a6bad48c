"""Vocabulary of the consensus core: heights, rounds, steps, messages, timeouts, events and actions.

Everything here is a frozen dataclass or an enum; the core never mutates a message.  A value is
opaque to the core: it is identified by a 32-byte ``ValueId`` (the block hash); ``None`` means nil.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ValueId = bytes  # exactly 32 bytes
Address = bytes  # exactly 20 bytes
VALUE_ID_LEN = 32
ADDRESS_LEN = 20
NIL_ROUND = -1


class VoteType(IntEnum):
    """Signed message types, numbered as CometBFT's ``SignedMsgType``."""

    PREVOTE = 0x01
    PRECOMMIT = 0x02


PROPOSAL_TYPE = 0x20


class Step(IntEnum):
    """``step_p`` of the paper, plus DECIDED (between the decision and the next ``start_height``)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    DECIDED = 3


class TimeoutKind(IntEnum):
    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    COMMIT = 3  # between the decision at H and round 0 of H+1 (CometBFT's timeout_commit)


@dataclass(frozen=True, slots=True)
class Vote:
    type: VoteType
    height: int
    round: int
    value_id: ValueId | None  # None = nil
    validator: Address
    timestamp_ms: int = 0
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class Proposal:
    height: int
    round: int
    value_id: ValueId
    pol_round: int  # validRound of the proposer, -1 when none
    proposer: Address
    timestamp_ms: int = 0
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class Timeout:
    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class TimeoutParams:
    """Timeouts in milliseconds: ``timeout_X(r) = X_ms + r * X_delta_ms``; genesis-agreed.

    ``commit_ms`` is the wait between a decision and round 0 of the next height (CometBFT's
    ``timeout_commit``), which lets the late precommits in so the next block's LastCommit is complete.
    ``skip_timeout_commit`` (CometBFT's option of that name; in CometBFT v1 ``next_block_delay`` = 0)
    ends that wait as soon as the decision round holds a precommit (for the value or nil) of every
    validator: nothing is left to wait for.  With a validator down it changes nothing (the full
    ``commit_ms`` is waited), so LastCommits are never smaller than without it.
    ``next_block_delay_ms`` (CometBFT v1's ``next_block_delay``, which there replaces ``timeout_commit``):
    with ``skip_timeout_commit``, the next height starts no earlier than this after the decision round held
    every precommit, so that at low load a block carries a few txs instead of one or two.  The core does not
    read it (it schedules the early COMMIT timeout at 0 ms); the node's shell delays that timeout.  Above
    ``commit_ms`` it changes nothing: the full wait comes first.
    """

    propose_ms: int = 3000
    propose_delta_ms: int = 500
    prevote_ms: int = 1000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1000
    precommit_delta_ms: int = 500
    commit_ms: int = 1000
    skip_timeout_commit: bool = False
    next_block_delay_ms: int = 100

    def duration_ms(self, kind: TimeoutKind, round_: int) -> int:
        if kind is TimeoutKind.PROPOSE:
            return self.propose_ms + round_ * self.propose_delta_ms
        if kind is TimeoutKind.PREVOTE:
            return self.prevote_ms + round_ * self.prevote_delta_ms
        if kind is TimeoutKind.PRECOMMIT:
            return self.precommit_ms + round_ * self.precommit_delta_ms
        return self.commit_ms


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Consensus parameters carried by genesis.

    ``round_window``: votes/proposals for rounds above ``round_p + round_window`` are dropped
    (bounded memory against floods); the f+1 round skip (L55) still sees every round inside the window.
    """

    timeouts: TimeoutParams = TimeoutParams()
    round_window: int = 64


class BlockIDFlag(IntEnum):
    ABSENT = 1
    COMMIT = 2
    NIL = 3


@dataclass(frozen=True, slots=True)
class CommitSig:
    flag: BlockIDFlag
    validator: Address  # b"" when ABSENT
    timestamp_ms: int = 0
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class Commit:
    """The +2/3 precommits for ``value_id`` at (height, round), one ``CommitSig`` per validator in set order."""

    height: int
    round: int
    value_id: ValueId
    signatures: tuple[CommitSig, ...]


# ---------------------------------------------------------------------------------------------
# Events (input of ConsensusCore.handle)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal whose signature the shell has checked, with the shell's verdict ``valid(v)``."""

    proposal: Proposal
    valid: bool


@dataclass(frozen=True, slots=True)
class VoteReceived:
    """A vote whose signature the shell has checked (the node's own votes come back this way too)."""

    vote: Vote


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    timeout: Timeout


@dataclass(frozen=True, slots=True)
class ValueReady:
    """Answer to ``RequestValue(height, round)``: the id of a block the shell built (valid by construction)."""

    height: int
    round: int
    value_id: ValueId


@dataclass(frozen=True, slots=True)
class CommitReceived:
    """The shell holds the value ``value_id`` of (``height``, ``round``) without its proposal: a block that
    hashes to it, with a commit of that round whose signatures it checked (block sync's catch-up of the
    height the core is at), and the shell's verdict ``valid(v)``.  The commit's precommits are fed as
    ``VoteReceived`` *before* this event: the core counts only what its own vote log holds, and this event
    only stands in for the proposal in L49 (``ConsensusCore._l49``; the argument is in consensus/machine.py)."""

    height: int
    round: int
    value_id: ValueId
    valid: bool


Event = ProposalReceived | VoteReceived | TimeoutFired | ValueReady | CommitReceived


# ---------------------------------------------------------------------------------------------
# Actions (output of ConsensusCore.handle, to be executed in order)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestValue:
    """Build a value for (height, round); answer later with ``ValueReady`` (paper ``getValue()``)."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class SignProposal:
    """Sign, broadcast, and feed the signed proposal back as ``ProposalReceived(valid=True)``."""

    proposal: Proposal


@dataclass(frozen=True, slots=True)
class SignVote:
    """Sign, broadcast, and feed the signed vote back as ``VoteReceived``.

    ``vote.timestamp_ms`` is a floor; the executor raises it to its clock's ``now_ms()``.
    """

    vote: Vote


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    timeout: Timeout
    delay_ms: int


@dataclass(frozen=True, slots=True)
class Decide:
    """Value ``value_id`` is decided at ``height`` (in ``round``); ``commit`` holds the +2/3 precommits."""

    height: int
    round: int
    value_id: ValueId
    commit: Commit


@dataclass(frozen=True, slots=True)
class StartNextHeight:
    """The commit timeout after a decision at ``height - 1`` has elapsed: start ``height``."""

    height: int


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    """One validator signed two different votes for the same (height, round, type)."""

    vote_a: Vote
    vote_b: Vote


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    evidence: DuplicateVoteEvidence


Action = RequestValue | SignProposal | SignVote | ScheduleTimeout | Decide | StartNextHeight | ReportEvidence
