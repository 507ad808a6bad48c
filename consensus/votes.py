"""Vote tallies for one height: thresholds emitted once, bounded memory, equivocation evidence.

``VoteKeeper(height, valset, max_round)`` accepts votes of its height only, from members of the set,
for rounds ``0 <= r <= max_round`` (the core raises ``max_round`` as it moves on).  A validator's power
counts once per (round, type) towards "+2/3 of any kind".  Its second, different vote yields
``DuplicateVoteEvidence`` (once) and is kept and counted *for its value* (the paper's message log holds
both messages; quorum intersection still holds since two +2/3 sets share > 1/3 power, hence a correct
validator).  This lets a node that saw the other half of an equivocation still decide from a commit.
Further votes of that validator in that (round, type) are dropped, so memory is bounded by
``(max_round + 1) * 2 * 2 * len(valset)`` votes.

``add`` returns the thresholds crossed by this vote, each exactly once per (round, type[, value]):
``Threshold(kind, round, vote_type, value_id)`` with kind ANY (+2/3 of any kind), VALUE (+2/3 for one
value, value_id None = nil) and SKIP (f+1 power sent some message in the round, L55).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from consensus.types import Address, DuplicateVoteEvidence, ValueId, Vote, VoteType
from consensus.validators import ValidatorSet


class ThresholdKind(IntEnum):
    ANY = 0
    VALUE = 1
    SKIP = 2


@dataclass(frozen=True, slots=True)
class Threshold:
    kind: ThresholdKind
    round: int
    vote_type: VoteType | None = None
    value_id: ValueId | None = None


@dataclass(slots=True)
class Tally:
    """Votes of one (height, round, type)."""

    votes: dict[Address, Vote] = field(default_factory=dict)  # first vote of each validator
    conflicting: dict[Address, Vote] = field(default_factory=dict)  # its second, different vote
    power_by_value: dict[ValueId | None, int] = field(default_factory=dict)
    power: int = 0
    any_emitted: bool = False
    value_emitted: set[ValueId | None] = field(default_factory=set)

    def power_for(self, value_id: ValueId | None) -> int:
        return self.power_by_value.get(value_id, 0)

    def vote_for(self, address: Address, value_id: ValueId | None) -> Vote | None:
        """The vote of ``address`` for ``value_id`` (first or conflicting), if any."""
        for v in (self.votes.get(address), self.conflicting.get(address)):
            if v is not None and v.value_id == value_id:
                return v
        return None


@dataclass(frozen=True, slots=True)
class AddResult:
    added: bool
    thresholds: tuple[Threshold, ...] = ()
    evidence: DuplicateVoteEvidence | None = None


_REJECTED = AddResult(False)


class VoteKeeper:
    """All votes of one height (see module docstring)."""

    def __init__(self, height: int, valset: ValidatorSet, max_round: int) -> None:
        self.height = height
        self.valset = valset
        self.max_round = max_round
        self._tallies: dict[tuple[int, VoteType], Tally] = {}
        self._senders: dict[int, set[Address]] = {}
        self._sender_power: dict[int, int] = {}
        self._skip_emitted: set[int] = set()

    def tally(self, round_: int, vote_type: VoteType) -> Tally | None:
        return self._tallies.get((round_, vote_type))

    def power_for(self, round_: int, vote_type: VoteType, value_id: ValueId | None) -> int:
        t = self._tallies.get((round_, vote_type))
        return 0 if t is None else t.power_for(value_id)

    def rounds(self) -> list[int]:
        return sorted({r for (r, _) in self._tallies})

    def vote_count(self) -> int:
        return sum(len(t.votes) + len(t.conflicting) for t in self._tallies.values())

    def note_sender(self, round_: int, address: Address) -> Threshold | None:
        """Record that ``address`` sent some message (vote or proposal) in ``round_``; may emit SKIP."""
        power = self.valset.power_of(address)
        if power == 0 or not 0 <= round_ <= self.max_round:
            return None
        senders = self._senders.setdefault(round_, set())
        if address in senders:
            return None
        senders.add(address)
        total = self._sender_power.get(round_, 0) + power
        self._sender_power[round_] = total
        if round_ not in self._skip_emitted and self.valset.has_one_third(total):
            self._skip_emitted.add(round_)
            return Threshold(ThresholdKind.SKIP, round_)
        return None

    def add(self, vote: Vote) -> AddResult:
        if vote.height != self.height or not 0 <= vote.round <= self.max_round:
            return _REJECTED
        power = self.valset.power_of(vote.validator)
        if power == 0:
            return _REJECTED
        key = (vote.round, vote.type)
        t = self._tallies.get(key)
        if t is None:
            t = self._tallies[key] = Tally()
        prior = t.votes.get(vote.validator)
        evidence = None
        out: list[Threshold] = []
        if prior is not None:
            if prior.value_id == vote.value_id or vote.validator in t.conflicting:
                return _REJECTED
            t.conflicting[vote.validator] = vote
            evidence = DuplicateVoteEvidence(prior, vote)
        else:
            t.votes[vote.validator] = vote
            t.power += power
            skip = self.note_sender(vote.round, vote.validator)
            if skip is not None:
                out.append(skip)
        t.power_by_value[vote.value_id] = t.power_by_value.get(vote.value_id, 0) + power
        if not t.any_emitted and self.valset.has_two_thirds(t.power):
            t.any_emitted = True
            out.append(Threshold(ThresholdKind.ANY, vote.round, vote.type))
        v = vote.value_id
        if v not in t.value_emitted and self.valset.has_two_thirds(t.power_by_value[v]):
            t.value_emitted.add(v)
            out.append(Threshold(ThresholdKind.VALUE, vote.round, vote.type, v))
        return AddResult(True, tuple(out), evidence)
