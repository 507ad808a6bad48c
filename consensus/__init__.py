"""egp-chain consensus core: Tendermint as in Buchman, Kwon, Milosevic, arXiv:1807.04938, Algorithm 1.

Theory of operation
-------------------
The core is pure: ``ConsensusCore.handle(event) -> list[Action]``.  It reads no clock, randomness, network
or disk; it imports only the standard library.  The shell (``node/executor.py``) executes the actions in
order against ports and feeds results back as events.

Per height the shell calls ``core.start_height(height, valset)`` with the validator set *of that height*
(``ValidatorPipeline`` tracks the H+2 rule: updates returned by the application at H apply at H+2).

Events (``consensus.types``):
  ``ProposalReceived(proposal, valid)``  signature checked by the shell; ``valid`` = the app's verdict
  ``VoteReceived(vote)``                 signature checked by the shell (own votes come back too)
  ``TimeoutFired(timeout)``              a timeout previously scheduled by ``ScheduleTimeout``
  ``ValueReady(height, round, value_id)`` answer to ``RequestValue``
Actions:
  ``RequestValue(height, round)``, ``SignProposal(proposal)``, ``SignVote(vote)``,
  ``ScheduleTimeout(timeout, delay_ms)``, ``Decide(height, round, value_id, commit)``,
  ``StartNextHeight(height)`` (the commit timeout elapsed), ``ReportEvidence(evidence)``.

Modules: ``types`` (messages, events, actions, params), ``validators`` (sets, thresholds, proposer
selection, H+2 pipeline), ``votes`` (tallies, evidence), ``machine`` (the upon-rules, labelled by paper
line), ``sign_bytes`` (canonical chain-id-bound bytes), ``commit`` (build/verify commits -> ``Verdict``),
``bft_time`` (weighted median block time).
"""

from consensus.machine import PAPER_LINES, ConsensusCore
from consensus.types import ConsensusParams, TimeoutParams
from consensus.validators import Validator, ValidatorPipeline, ValidatorSet, ValidatorUpdate

__all__ = [
    "PAPER_LINES",
    "ConsensusCore",
    "ConsensusParams",
    "TimeoutParams",
    "Validator",
    "ValidatorPipeline",
    "ValidatorSet",
    "ValidatorUpdate",
]
