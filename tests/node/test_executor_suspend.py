"""node/executor.py suspend/resume: what the node's threaded commit relies on.

A decision port that suspends the executor (as `Node.decide` does while the block commits in a worker thread)
must see nothing after it run until `resume()`: neither the rest of the decision's action list nor the events
fed meanwhile. After `resume()` the port calls are exactly those, in the order, of an executor never
suspended.
"""

from __future__ import annotations

from typing import Any

from consensus.types import (
    Commit,
    Proposal,
    ProposalReceived,
    Timeout,
    TimeoutFired,
    TimeoutKind,
    ValueId,
    Vote,
    VoteReceived,
    VoteType,
)
from tests.consensus.helpers import ADDR, VS, A
from tests.consensus.test_executor import make


def _events() -> list[Any]:
    evs: list[Any] = [ProposalReceived(Proposal(1, 0, A, -1, ADDR[0]), True)]
    evs += [VoteReceived(Vote(VoteType.PREVOTE, 1, 0, A, ADDR[i])) for i in (0, 1)]
    evs += [VoteReceived(Vote(VoteType.PRECOMMIT, 1, 0, A, ADDR[i])) for i in (0, 1)]
    # arrive while the decided block commits: a late precommit and the commit timeout
    evs += [VoteReceived(Vote(VoteType.PRECOMMIT, 1, 0, A, ADDR[2])), TimeoutFired(Timeout(TimeoutKind.COMMIT, 1, 0))]
    return evs


def test_a_suspending_decision_holds_the_rest_until_resume_in_the_unsuspended_order() -> None:
    plain, plain_ports = make(3)
    plain.start_height(1, VS)
    for ev in _events():
        plain.handle(ev)

    ex, ports = make(3)
    decide = ports.decide

    def suspending_decide(height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        decide(height, round_, value_id, commit)
        ex.suspend()

    ports.decide = suspending_decide  # type: ignore[method-assign]
    ex.start_height(1, VS)
    for ev in _events():
        ex.handle(ev)
    at_decide = next(i for i, e in enumerate(ports.log) if e[0] == "decide")
    assert ex.suspended and len(ports.log) == at_decide + 1  # nothing ran after the decision
    assert ex.core.height == 1
    ex.resume()
    assert not ex.suspended
    assert ports.log == plain_ports.log  # the same calls, in the same order, as without the suspension
    assert ex.core.height == 2 and ("validator_set", 2) in ports.log


def test_resume_without_suspend_and_handle_after_resume_behave_as_before() -> None:
    ex, ports = make(3)
    ex.resume()  # nothing held: a no-op
    ex.start_height(1, VS)
    n = len(ports.log)
    ex.suspend()
    ex.handle(ProposalReceived(Proposal(1, 0, A, -1, ADDR[0]), True))
    assert len(ports.log) == n  # queued
    ex.resume()
    assert ("sign_vote", VoteType.PREVOTE, 0, A, 1000) in ports.log[n:]
