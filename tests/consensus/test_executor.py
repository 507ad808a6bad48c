"""node/executor.py against recording ports: the order of port calls and the feedback loop."""

from __future__ import annotations

import dataclasses
from typing import Any

from consensus.machine import ConsensusCore
from consensus.types import (
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    ProposalReceived,
    Timeout,
    TimeoutFired,
    TimeoutKind,
    ValueId,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)
from consensus.validators import ValidatorSet
from node.executor import Executor
from tests.consensus.helpers import ADDR, PARAMS, VS, A, B


class Ports:
    def __init__(self, value: ValueId | None = A, refuse: bool = False) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.value = value
        self.refuse = refuse
        self.now = 1_000

    def now_ms(self) -> int:
        return self.now

    def sign_vote(self, vote: Vote) -> Vote | None:
        self.log.append(("sign_vote", vote.type, vote.round, vote.value_id, vote.timestamp_ms))
        return None if self.refuse else dataclasses.replace(vote, signature=b"s")

    def sign_proposal(self, proposal: Proposal) -> Proposal | None:
        self.log.append(("sign_proposal", proposal.round, proposal.value_id, proposal.timestamp_ms))
        return None if self.refuse else dataclasses.replace(proposal, signature=b"s")

    def broadcast_vote(self, vote: Vote) -> None:
        self.log.append(("broadcast_vote", vote.type, vote.signature))

    def broadcast_proposal(self, proposal: Proposal) -> None:
        self.log.append(("broadcast_proposal", proposal.value_id))

    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        self.log.append(("schedule", timeout.kind, timeout.round, delay_ms))

    def request_value(self, height: int, round_: int) -> ValueId | None:
        self.log.append(("request_value", height, round_))
        return self.value

    def decide(self, height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        self.log.append(("decide", height, round_, value_id, len(commit.signatures)))

    def validator_set(self, height: int) -> ValidatorSet:
        self.log.append(("validator_set", height))
        return VS

    def report(self, evidence: DuplicateVoteEvidence) -> None:
        self.log.append(("evidence", evidence.vote_a.validator))


def make(me: int, **kw: Any) -> tuple[Executor, Ports]:
    ports = Ports(**kw)
    ex = Executor(
        ConsensusCore(ADDR[me], PARAMS),
        signer=ports,
        transport=ports,
        timers=ports,
        values=ports,
        decisions=ports,
        evidence=ports,
        clock=ports,
    )
    return ex, ports


def test_proposer_signs_broadcasts_and_feeds_back() -> None:
    ex, ports = make(0)
    ex.start_height(1, VS)
    assert ports.log == [
        ("request_value", 1, 0),
        ("sign_proposal", 0, A, 1000),  # stamped with the clock
        ("broadcast_proposal", A),
        # own proposal fed back (valid) -> L22 prevote
        ("sign_vote", VoteType.PREVOTE, 0, A, 1000),
        ("broadcast_vote", VoteType.PREVOTE, b"s"),
    ]
    assert ex.core.keeper is not None and ex.core.keeper.power_for(0, VoteType.PREVOTE, A) == 1


def test_late_value_and_refusing_signer() -> None:
    ex, ports = make(0, value=None, refuse=True)
    ex.start_height(1, VS)
    assert ports.log == [("request_value", 1, 0)]
    ex.handle(ValueReady(1, 0, B))
    assert ports.log[1:] == [("sign_proposal", 0, B, 1000)]  # refused: nothing broadcast or fed back
    assert ex.core.keeper is not None and ex.core.keeper.vote_count() == 0


def test_decision_then_next_height() -> None:
    ex, ports = make(3)
    ex.start_height(1, VS)
    ex.handle(ProposalReceived(Proposal(1, 0, A, -1, ADDR[0]), True))
    for i in (0, 1):
        ex.handle(VoteReceived(Vote(VoteType.PREVOTE, 1, 0, A, ADDR[i])))
    for i in (0, 1):
        ex.handle(VoteReceived(Vote(VoteType.PRECOMMIT, 1, 0, A, ADDR[i])))
    kinds = [e[0] for e in ports.log]
    assert kinds.count("decide") == 1
    assert ("decide", 1, 0, A, 4) in ports.log
    assert ports.log[-1] == ("schedule", TimeoutKind.COMMIT, 0, PARAMS.timeouts.commit_ms)
    ports.log.clear()
    ex.handle(TimeoutFired(Timeout(TimeoutKind.COMMIT, 1, 0)))
    assert ports.log[0] == ("validator_set", 2)
    assert ex.core.height == 2
    assert ex.events_handled > 0


def test_evidence_reported() -> None:
    ex, ports = make(3)
    ex.start_height(1, VS)
    ex.handle(VoteReceived(Vote(VoteType.PREVOTE, 1, 0, A, ADDR[1])))
    ex.handle(VoteReceived(Vote(VoteType.PREVOTE, 1, 0, B, ADDR[1])))
    assert ("evidence", ADDR[1]) in ports.log


def test_reentrant_handle_is_queued() -> None:
    ex, ports = make(3)
    ex.start_height(1, VS)
    seen: list[int] = []
    orig = ports.broadcast_vote

    def broadcast(vote: Vote) -> None:
        orig(vote)
        seen.append(len(ports.log))
        ex.handle(VoteReceived(Vote(VoteType.PREVOTE, 1, 0, None, ADDR[1])))  # re-entrant call

    ports.broadcast_vote = broadcast  # type: ignore[method-assign]
    ex.handle(TimeoutFired(Timeout(TimeoutKind.PROPOSE, 1, 0)))
    assert seen and ex.core.keeper is not None
    assert ex.core.keeper.power_for(0, VoteType.PREVOTE, None) == 2  # own nil + the queued one
