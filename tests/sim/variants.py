"""Deliberately broken cores (test-only; production code cannot reach them).

Each must be caught by the simulator's checks: the tests test the tester.
"""

from __future__ import annotations

from consensus.machine import ConsensusCore
from consensus.types import Action, Commit, SignVote, Step, Timeout, ValueId, Vote, VoteType


class IgnoreLock(ConsensusCore):
    """L22/L28 without the lock condition: prevote any valid proposal."""

    def _rule_lock_allows(self, value: ValueId, pol_round: int) -> bool:
        return True


class PrecommitQuorumFPlus1(ConsensusCore):
    """f+1 precommits instead of 2f+1 (L47, L49)."""

    def _rule_precommit_quorum(self, power: int) -> bool:
        assert self.valset is not None
        return self.valset.has_one_third(power)


class NoStaleTimeoutGuard(ConsensusCore):
    """L57/L61/L65 act on any timeout of their kind, whatever its height, round and our step."""

    def _rule_timeout_current(self, t: Timeout, step: Step | None) -> bool:
        return True


class DecideWithoutPrecommits(ConsensusCore):
    """Decide on the proposal plus 2f+1 *prevotes* (the lock), without waiting for 2f+1 precommits."""

    def _rule_decision_ready(self, round_: int, value: ValueId) -> bool:
        return self._two_thirds(self._power(round_, VoteType.PREVOTE, value))


class SkipCommitAtTwoThirds(ConsensusCore):
    """skip_timeout_commit without waiting for every precommit: the commit timeout ends at the decision
    (LastCommits would shrink to 2/3 systematically)."""

    def _rule_skip_commit_timeout(self, commit: Commit) -> bool:
        return self.params.timeouts.skip_timeout_commit


class PrecommitDecidedUnguarded(ConsensusCore):
    """The precommit at the decision without its guards: signed for the decision round whatever round we are
    in and whatever we precommitted there already (a second precommit of a round after a nil one)."""

    def _rule_precommit_decided(self, round_: int, value: ValueId, out: list[Action]) -> None:
        if self.address is not None:
            out.append(SignVote(Vote(VoteType.PRECOMMIT, self.height, round_, value, self.address)))


VARIANTS: dict[str, type[ConsensusCore]] = {
    "ignore_lock": IgnoreLock,
    "precommit_f_plus_1": PrecommitQuorumFPlus1,
    "no_stale_timeout_guard": NoStaleTimeoutGuard,
    "decide_without_precommits": DecideWithoutPrecommits,
    "skip_commit_at_two_thirds": SkipCommitAtTwoThirds,
    "precommit_decided_unguarded": PrecommitDecidedUnguarded,
}
