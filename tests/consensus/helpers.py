"""Fixtures for the step tables: four validators of power 1, sorted by address; the node under test is
validator 3, which proposes in round 3 (proposers of rounds 0, 1, 2 are validators 0, 1, 2)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from consensus.machine import ConsensusCore
from consensus.types import (
    Action,
    ConsensusParams,
    Event,
    Proposal,
    ProposalReceived,
    ScheduleTimeout,
    SignVote,
    Timeout,
    TimeoutKind,
    TimeoutParams,
    Vote,
    VoteReceived,
    VoteType,
)
from consensus.validators import Validator, ValidatorSet

PARAMS = ConsensusParams(TimeoutParams(3000, 500, 1000, 500, 1000, 500, 1000))
A = b"\xaa" * 32
B = b"\xbb" * 32
C = b"\xcc" * 32
H = 1


def addr(i: int) -> bytes:
    return hashlib.sha256(b"val%d" % i).digest()[:20]


VS = ValidatorSet.from_genesis(Validator(addr(i), bytes([i]) * 32, 1) for i in range(4))
ADDR = [v.address for v in VS.validators]
ME = 3


def new_core() -> ConsensusCore:
    core = ConsensusCore(ADDR[ME], PARAMS)
    assert [VS.proposer_at(r) for r in range(4)] == ADDR
    return core


SKIP = ConsensusParams(replace(PARAMS.timeouts, skip_timeout_commit=True))  # PARAMS with skip_timeout_commit


def started_core(params: ConsensusParams = PARAMS) -> ConsensusCore:
    """Our core (validator ME) at height H of VS."""
    core = ConsensusCore(ADDR[ME], params)
    core.start_height(H, VS)
    return core


def prop(r: int, v: bytes, vr: int = -1, valid: bool = True) -> ProposalReceived:
    return ProposalReceived(Proposal(H, r, v, vr, ADDR[r % 4]), valid)


def pv(i: int, r: int, v: bytes | None) -> VoteReceived:
    return VoteReceived(Vote(VoteType.PREVOTE, H, r, v, ADDR[i]))


def pc(i: int, r: int, v: bytes | None) -> VoteReceived:
    return VoteReceived(Vote(VoteType.PRECOMMIT, H, r, v, ADDR[i]))


def timeout(kind: TimeoutKind, r: int, h: int = H) -> Any:
    from consensus.types import TimeoutFired

    return TimeoutFired(Timeout(kind, h, r))


def my_prevote(r: int, v: bytes | None) -> SignVote:
    return SignVote(Vote(VoteType.PREVOTE, H, r, v, ADDR[ME]))


def my_precommit(r: int, v: bytes | None) -> SignVote:
    return SignVote(Vote(VoteType.PRECOMMIT, H, r, v, ADDR[ME]))


def sched(kind: TimeoutKind, r: int) -> ScheduleTimeout:
    return ScheduleTimeout(Timeout(kind, H, r), PARAMS.timeouts.duration_ms(kind, r))


@dataclass
class Row:
    """One step: the event, the exact actions expected, and the expected (partial) state after it."""

    desc: str
    event: Event
    actions: list[Action] | None = None  # None: don't care
    state: dict[str, Any] = field(default_factory=dict)


def handle_with_own_votes(core: ConsensusCore, event: Any) -> list[Any]:
    """`core.handle(event)`, our own signed votes fed back as the executor does (FIFO); every action in order."""
    got = core.handle(event)
    j = 0
    while j < len(got):
        a = got[j]
        if isinstance(a, SignVote):
            got.extend(core.handle(VoteReceived(a.vote)))
        j += 1
    return got


def feed(core: ConsensusCore, *events: object) -> list[object]:
    """`handle_with_own_votes` for each event in turn; all actions in order."""
    out: list[object] = []
    for ev in events:
        out += handle_with_own_votes(core, ev)
    return out


def run_table(core: ConsensusCore, rows: list[Row]) -> None:
    for i, row in enumerate(rows):
        got = handle_with_own_votes(core, row.event)
        where = f"row {i} ({row.desc})"
        if row.actions is not None:
            assert got == row.actions, f"{where}: actions {got}"
        for k, v in row.state.items():
            assert getattr(core, k) == v, f"{where}: {k} = {getattr(core, k)!r}, expected {v!r}"
