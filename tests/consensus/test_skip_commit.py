"""The COMMIT step: late precommits after the decision, and ``skip_timeout_commit`` (CometBFT's option).

Validators 0..3 (power 1 each); the node under test is validator 3 (see helpers.py).
"""

from __future__ import annotations

from dataclasses import replace

from consensus.machine import ConsensusCore
from consensus.types import (
    BlockIDFlag,
    ConsensusParams,
    Decide,
    ReportEvidence,
    ScheduleTimeout,
    StartNextHeight,
    Step,
    Timeout,
    TimeoutKind,
)
from tests.consensus.helpers import (
    ADDR,
    ME,
    PARAMS,
    VS,
    A,
    B,
    H,
    handle_with_own_votes,
    pc,
    prop,
    pv,
    run_table,
    timeout,
)

COMMIT = TimeoutKind.COMMIT
SKIP = ConsensusParams(replace(PARAMS.timeouts, skip_timeout_commit=True))


def _core(skip: bool) -> ConsensusCore:
    core = ConsensusCore(ADDR[ME], SKIP if skip else PARAMS)
    core.start_height(H, VS)
    return core


def _feed(core: ConsensusCore, *events: object) -> list[object]:
    """Feed events, feeding our own signed votes back as the executor does; all actions in order."""
    out: list[object] = []
    for ev in events:
        out += handle_with_own_votes(core, ev)
    return out


def _to_precommit(core: ConsensusCore) -> None:
    """Proposal A and a polka: the node precommits A (its own precommit is logged)."""
    _feed(core, prop(0, A), pv(0, 0, A), pv(1, 0, A))
    assert core.step is Step.PRECOMMIT


def _commit_timeouts(actions: list[object]) -> list[ScheduleTimeout]:
    return [a for a in actions if isinstance(a, ScheduleTimeout) and a.timeout.kind is COMMIT]


def _flags(core: ConsensusCore) -> list[str]:
    c = core.decided_commit()
    assert c is not None
    return [s.flag.name for s in c.signatures]


def test_without_the_option_the_full_commit_timeout_is_waited() -> None:
    core = _core(skip=False)
    _to_precommit(core)
    out = _feed(core, pc(0, 0, A), pc(1, 0, A))
    assert isinstance(out[0], Decide)
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert _feed(core, pc(2, 0, A)) == []  # the late precommit is logged, nothing is scheduled
    assert _flags(core) == ["COMMIT"] * 4  # ... and it is in the decided commit
    assert _feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]


def test_all_precommits_at_the_decision_skip_the_wait() -> None:
    """The proposal comes last: at the decision all four precommits are in -> COMMIT timeout at 0 ms."""
    core = _core(skip=True)
    out = _feed(core, pv(0, 0, A), pv(1, 0, A), pv(2, 0, A), pc(0, 0, A), pc(1, 0, A), pc(2, 0, None))
    assert not [a for a in out if isinstance(a, Decide)]
    out = _feed(core, prop(0, A))  # prevote, precommit (ours, the fourth), decide
    decides = [a for a in out if isinstance(a, Decide)]
    flags = [s.flag for s in decides[0].commit.signatures] if len(decides) == 1 else []
    assert flags == [BlockIDFlag.COMMIT, BlockIDFlag.COMMIT, BlockIDFlag.NIL, BlockIDFlag.COMMIT]
    # the full-length timeout too: a shell may hold the early one (an idle node keeps timeout_commit)
    t = Timeout(COMMIT, H, 0)
    assert _commit_timeouts(out) == [ScheduleTimeout(t, 1000), ScheduleTimeout(t, 0)]
    assert core.lines_hit.get("skip_commit") == 1
    assert _feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]


def test_a_late_precommit_completing_the_commit_ends_the_wait() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    out = _feed(core, pc(0, 0, A), pc(1, 0, A))  # 3 of 4: decided, the fourth may still come
    assert isinstance(out[0], Decide) and _flags(core) == ["COMMIT", "COMMIT", "ABSENT", "COMMIT"]
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert _feed(core, pv(2, 0, A)) == []  # a late prevote changes nothing
    assert _feed(core, pc(2, 0, A)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert _flags(core) == ["COMMIT"] * 4
    assert _feed(core, pc(2, 0, A)) == []  # once
    assert _feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]
    assert _feed(core, timeout(COMMIT, 0)) == []  # the original (1 s) timeout: StartNextHeight only once
    core.start_height(H + 1, VS)
    assert _feed(core, timeout(COMMIT, 0)) == []  # ... and stale in the new height
    assert core.decided_commit() is None  # the new height has not decided


def test_a_late_nil_precommit_also_completes_it() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    _feed(core, pc(0, 0, A), pc(1, 0, A))
    assert _feed(core, pc(2, 0, None)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert _flags(core) == ["COMMIT", "COMMIT", "NIL", "COMMIT"]


def test_a_precommit_for_another_value_or_round_does_not_complete_it() -> None:
    """Only precommits the commit can carry count (another value is recorded ABSENT, as CometBFT)."""
    core = _core(skip=True)
    _to_precommit(core)
    _feed(core, pc(0, 0, A), pc(1, 0, A))
    assert _feed(core, pc(2, 1, A)) == []  # round 1: not the decision round
    assert _feed(core, pc(2, 0, B)) == []  # another value (a Byzantine precommit)
    assert _flags(core) == ["COMMIT", "COMMIT", "ABSENT", "COMMIT"]
    assert _feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]  # the full wait


def test_a_silent_validator_keeps_the_full_wait() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    out = _feed(core, pc(0, 0, A), pc(1, 0, A))
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert "skip_commit" not in core.lines_hit


def test_deciding_before_voting_leaves_our_own_precommit_out() -> None:
    """Three others' precommits before the proposal: we decide at once and never precommit ourselves, so
    the commit cannot become full and the full wait applies (as in CometBFT)."""
    core = _core(skip=True)
    _feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    out = _feed(core, prop(0, A))
    assert isinstance(out[0], Decide) and _flags(core) == ["COMMIT", "COMMIT", "COMMIT", "ABSENT"]
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]


def test_late_equivocation_is_still_reported() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    _feed(core, pc(0, 0, A), pc(1, 0, A))
    assert _feed(core, pc(2, 0, A)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    out = _feed(core, pc(2, 0, None))
    assert len(out) == 1 and isinstance(out[0], ReportEvidence)
    assert _flags(core) == ["COMMIT"] * 4


def test_decided_commit_before_the_decision_is_none() -> None:
    core = _core(skip=True)
    assert core.decided_commit() is None
    run_table(core, [])
    _to_precommit(core)
    assert core.decided_commit() is None
