"""`consensus_state` and `dump_consensus_state`: where consensus is, for an operator whose chain stalls.

Shapes follow CometBFT 0.38 (votes as its `Vote{...}` strings, vote sets as `BA{...}` bit arrays, steps as
its RoundStepType numbers); what we do not keep (the proposal block itself, peers' vote bit arrays) is left
out, as docs/rpc.md says. Both are reads of the node's memory: no parameters, never an error.
"""

from __future__ import annotations

from typing import Any

from node.rpc import encode
from node.rpc.registry import Ctx, method
from node.rpc.services import RoundStateView, RoundVotesView, VoteSlotView

JSON = dict[str, Any]
_TYPE_NAMES = {1: "Prevote", 2: "Precommit"}


@method("consensus_state")
async def consensus_state(ctx: Ctx) -> JSON:
    rs = ctx.services.round_state()
    return {"round_state": {
        "height/round/step": f"{rs.height}/{rs.round}/{rs.step}",
        "start_time": encode.rfc3339_nano(rs.start_time_ns),
        "proposal_block_hash": _hash(rs.proposal_block_hash),
        "locked_block_hash": _hash(rs.locked_block_hash),
        "valid_block_hash": _hash(rs.valid_block_hash),
        "height_vote_set": [_round_votes(v) for v in rs.votes],
        "proposer": _proposer(rs),
    }}


@method("dump_consensus_state")
async def dump_consensus_state(ctx: Ctx) -> JSON:
    rs = ctx.services.round_state()
    proposer = rs.validators[rs.proposer_index] if 0 <= rs.proposer_index < len(rs.validators) else None
    return {
        "round_state": {
            "height": str(rs.height),
            "round": rs.round,
            "step": rs.step,
            "start_time": encode.rfc3339_nano(rs.start_time_ns),
            "validators": {"validators": [encode.validator(v) for v in rs.validators],
                           "proposer": None if proposer is None else encode.validator(proposer)},
            "proposal_block_hash": _hash(rs.proposal_block_hash),
            "locked_round": rs.locked_round,
            "locked_block_hash": _hash(rs.locked_block_hash),
            "valid_round": rs.valid_round,
            "valid_block_hash": _hash(rs.valid_block_hash),
            "votes": [_round_votes(v) for v in rs.votes],
        },
        "peers": [{"node_address": p.address,
                   "peer_state": {"round_state": {"height": "" if p.height is None else str(p.height),
                                                  "round": p.round, "step": p.step}}}
                  for p in ctx.services.peer_round_states()],
    }


def _hash(h: bytes | None) -> str:
    return "" if h is None else encode.hex_upper(h)


def _proposer(rs: RoundStateView) -> JSON:
    if not 0 <= rs.proposer_index < len(rs.validators):
        return {"address": "", "index": -1}
    return {"address": encode.hex_upper(rs.validators[rs.proposer_index].address), "index": rs.proposer_index}


def _round_votes(v: RoundVotesView) -> JSON:
    return {
        "round": v.round,
        "prevotes": [vote_string(s) for s in v.prevotes],
        "prevotes_bit_array": bit_array(v.prevotes, v.prevote_power, v.total_power),
        "precommits": [vote_string(s) for s in v.precommits],
        "precommits_bit_array": bit_array(v.precommits, v.precommit_power, v.total_power),
    }


def vote_string(s: VoteSlotView) -> str:
    """CometBFT's `Vote.String()`: index, address / hash / signature fingerprints (first 6 bytes), time."""
    v = s.vote
    if v is None:
        return "nil-Vote"
    block = (v.block_hash or b"")[:6].ljust(6, b"\x00")
    return (f"Vote{{{s.index}:{s.address[:6].hex().upper()} {v.height}/{v.round:02d}/{v.type}"
            f"({_TYPE_NAMES.get(v.type, '?')}) {block.hex().upper()} {v.signature[:6].hex().upper()} "
            f"@ {encode.rfc3339_nano(v.timestamp_ms * 1_000_000)}}}")


def bit_array(slots: tuple[VoteSlotView, ...], power: int, total: int) -> str:
    """CometBFT's `BA{n:x_x} power/total = ratio`, the ratio to two decimals by integer arithmetic."""
    bits = "".join("_" if s.vote is None else "x" for s in slots)
    hundredths = (power * 100 + total // 2) // total if total > 0 else 0
    return f"BA{{{len(slots)}:{bits}}} {power}/{total} = {hundredths // 100}.{hundredths % 100:02d}"
