"""The consensus core's position as RPC views (`consensus_state`, `dump_consensus_state`).

An operator whose chain stalls asks "which height, round and step is each node at, and whose votes are
missing?". This module reads the core (read-only, on the loop that drives it) and the peers' last status
messages and answers with node/rpc/services.py's views; the RPC formats them as CometBFT does.
"""

from __future__ import annotations

from consensus.machine import ConsensusCore
from consensus.types import Step, VoteType
from consensus.validators import ValidatorSet
from consensus.votes import Tally
from node.gossip import Gossip
from node.p2p import P2P
from node.rpc import services as sv

# CometBFT's RoundStepType numbers (consensus/types/round_state.go)
STEP_NEW_HEIGHT, STEP_PROPOSE, STEP_PREVOTE, STEP_PRECOMMIT, STEP_COMMIT = 1, 3, 4, 6, 8
_STEPS = {Step.PROPOSE: STEP_PROPOSE, Step.PREVOTE: STEP_PREVOTE, Step.PRECOMMIT: STEP_PRECOMMIT,
          Step.DECIDED: STEP_COMMIT}


def round_state(core: ConsensusCore, *, in_consensus: bool, next_height: int, next_valset: ValidatorSet | None,
                round_started_ms: int | None) -> sv.RoundStateView:
    """Where the core is. `next_height` is the height the node commits next, `next_valset` its validator set.
    Outside consensus (block sync, start-up) that height's NewHeight step, with no votes; between a commit and
    the next height's start (the core decided `next_height - 1`) NewHeight too, as CometBFT, its start time
    the decided round's."""
    vs = core.valset
    started = None if round_started_ms is None else round_started_ms * 1_000_000
    if not in_consensus or vs is None or core.height != next_height:
        waiting = in_consensus and vs is not None and core.height == next_height - 1
        proposer = next_valset.index_of(next_valset.proposer) if next_valset is not None else -1
        return sv.RoundStateView(next_height, 0, STEP_NEW_HEIGHT, started if waiting else None, None, None, -1,
                                 None, -1, _validators(next_valset), proposer, ())
    r = max(core.round, 0)
    proposed = core.proposed_values(r)
    keeper = core.keeper
    rounds = sorted(set(keeper.rounds()) | {r}) if keeper is not None else []
    votes = tuple(_round_votes(vs, rr, keeper.tally(rr, VoteType.PREVOTE), keeper.tally(rr, VoteType.PRECOMMIT))
                  for rr in rounds if keeper is not None)
    return sv.RoundStateView(
        height=core.height, round=r, step=_STEPS.get(core.step, STEP_NEW_HEIGHT), start_time_ns=started,
        proposal_block_hash=proposed[0] if proposed else None,
        locked_block_hash=core.locked_value, locked_round=core.locked_round,
        valid_block_hash=core.valid_value, valid_round=core.valid_round,
        validators=_validators(vs), proposer_index=vs.index_of(core.proposer(r)), votes=votes)


def peer_rounds(gossip: Gossip, p2p: P2P) -> list[sv.PeerRoundView]:
    out = []
    for p in p2p.peers():
        st = gossip.peers.get(p.node_id)
        status = st.status if st is not None else None
        addr = f"{p.node_id}@{p.node_info.listen_addr.removeprefix('tcp://')}"
        out.append(sv.PeerRoundView(p.node_id, addr, status.height if status else None,
                                    status.round if status else None, status.step if status else None))
    return sorted(out, key=lambda v: v.node_id)


def _validators(vs: ValidatorSet | None) -> tuple[sv.ValidatorView, ...]:
    if vs is None:
        return ()
    return tuple(sv.ValidatorView(v.address, v.pub_key, v.power, v.proposer_priority) for v in vs.validators)


def _round_votes(vs: ValidatorSet, round_: int, prevotes: Tally | None, precommits: Tally | None) -> sv.RoundVotesView:
    return sv.RoundVotesView(round_, _slots(vs, prevotes), _slots(vs, precommits), vs.total_power,
                             prevotes.power if prevotes else 0, precommits.power if precommits else 0)


def _slots(vs: ValidatorSet, tally: Tally | None) -> tuple[sv.VoteSlotView, ...]:
    slots = []
    for i, v in enumerate(vs.validators):
        vote = tally.votes.get(v.address) if tally is not None else None
        view = None if vote is None else sv.VoteView(int(vote.type), vote.height, vote.round, vote.value_id,
                                                      vote.timestamp_ms, vote.signature)
        slots.append(sv.VoteSlotView(i, v.address, view))
    return tuple(slots)
