"""Ports: what the action executor (``node/executor.py``) needs from its host.

The same executor runs under asyncio in the real node and under a virtual clock in the simulator
(``tests/sim``); only these ports differ.  Every port method is **synchronous and must not block**: an
asyncio host schedules work (``loop.call_later``, queue puts, tasks) and returns at once, then calls
``Executor.handle(event)`` later from the event loop.  No port may call back into the executor
re-entrantly *and expect the result synchronously*; re-entrant calls are queued (FIFO) and processed
before the outer call returns.

Messages handed to ports are the core's frozen dataclasses (``consensus.types.Vote`` / ``Proposal``).
Sign bytes: ``consensus.sign_bytes.vote_sign_bytes(chain_id, vote)`` / ``proposal_sign_bytes(...)``.
"""

from __future__ import annotations

from typing import Protocol

from consensus.types import Commit, DuplicateVoteEvidence, Proposal, Timeout, ValueId, Vote
from consensus.validators import ValidatorSet


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall (or virtual) time in Unix milliseconds; used to stamp own votes and proposals."""
        ...


class Signer(Protocol):
    """Signs with the validator key, behind a double-sign guard.

    Return the message with ``signature`` filled (sign bytes from ``consensus.sign_bytes`` with the
    chain id) or ``None`` when the guard refuses (e.g. it already signed a different vote for that
    height/round/type, or a lower height/round/step than its persisted last-signed state).  The guard
    must persist its last-signed state *before* returning the signature.  Re-signing the very same
    vote (same value, height, round, type) may return the earlier signature.
    """

    def sign_vote(self, vote: Vote) -> Vote | None: ...

    def sign_proposal(self, proposal: Proposal) -> Proposal | None: ...


class Transport(Protocol):
    """Gossip to the other validators.  Fire and forget; delivery is best effort (gossip retries)."""

    def broadcast_proposal(self, proposal: Proposal) -> None:
        """Send the signed proposal (the node attaches the block whose hash is ``proposal.value_id``)."""
        ...

    def broadcast_vote(self, vote: Vote) -> None: ...


class Timers(Protocol):
    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        """After ``delay_ms``, call ``Executor.handle(TimeoutFired(timeout))``.

        Never cancel: the core ignores stale timeouts itself (paper L57-L67 guards).
        """
        ...


class ValueSource(Protocol):
    def request_value(self, height: int, round_: int) -> ValueId | None:
        """Build a block to propose at (height, round) (mempool reap + PrepareProposal).

        Return its 32-byte id now, or ``None`` and later call ``Executor.handle(ValueReady(height,
        round_, value_id))``.  The block must be kept so that it can be gossiped with the proposal.
        """
        ...


class DecisionSink(Protocol):
    def decide(self, height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        """``value_id`` is decided at ``height``: save block + commit, execute it (FinalizeBlock/Commit).

        The block is known (a decision needs the proposal, which needs the block).  ``commit`` has one
        ``CommitSig`` per validator in set order and verifies with ``consensus.commit.verify_commit``.
        """
        ...

    def validator_set(self, height: int) -> ValidatorSet:
        """The validator set of ``height`` (see ``consensus.validators.ValidatorPipeline``).

        Called when the commit timeout after the decision at ``height - 1`` elapsed, just before the
        executor starts ``height``.
        """
        ...


class EvidenceSink(Protocol):
    def report(self, evidence: DuplicateVoteEvidence) -> None:
        """A validator signed two different votes for one (height, round, type): keep it for a block."""
        ...
