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
  ``CommitReceived(height, round, value_id, valid)``  the value of a checked commit whose precommits were
                                         fed as votes first (block sync at the current height; L49 only)
Actions:
  ``RequestValue(height, round)``, ``SignProposal(proposal)``, ``SignVote(vote)``,
  ``ScheduleTimeout(timeout, delay_ms)``, ``Decide(height, round, value_id, commit)``,
  ``StartNextHeight(height)`` (the commit timeout elapsed), ``ReportEvidence(evidence)``.

How a node drives the core (through ``node.executor.Executor``; ports in ``node/ports.py``)
----------------------------------------------------------------------------------------
1. Keep a ``ValidatorPipeline`` in state (``ValidatorPipeline.genesis(initial_height, validators)`` at
   genesis; persisted with the priorities).  ``executor.start_height(h, pipeline.current)``.
2. Inbound vote: ``commit.verify_vote_signature(chain_id, valset, vote, verify)`` then
   ``executor.handle(VoteReceived(vote))``.  Inbound proposal: verify its signature
   (``verify_proposal_signature``), have the block whose hash is ``proposal.value_id``, run the app's
   ProcessProposal, then ``executor.handle(ProposalReceived(proposal, valid))``.  The core itself drops
   other heights, rounds beyond ``round_p + params.round_window``, non-members and wrong proposers;
   a node should buffer (bounded) messages of ``h + 1`` and replay them after ``start_height(h + 1)``.
3. ``DecisionSink.decide(h, r, value_id, commit)``: store block + commit, FinalizeBlock/Commit, then
   ``pipeline = pipeline.advance(validator_updates)``.  After ``timeout_commit`` the core emits
   ``StartNextHeight(h + 1)`` and the executor calls ``validator_set(h + 1)`` (= ``pipeline.current``).
4. Block sync: verify with ``commit.verify_commit``, apply, then ``executor.start_height`` directly.  A block
   of the height the core is at goes through the core instead: each precommit of its commit as
   ``VoteReceived``, then ``CommitReceived``; the core decides it (L49) and precommits it if it had not.
5. Header time of block h+1: ``bft_time.block_time_ms(commit_of_h, valset_of_h, time_of_h)``.
Sign bytes: ``sign_bytes.vote_sign_bytes(chain_id, vote)`` / ``proposal_sign_bytes(chain_id, proposal)``.

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
