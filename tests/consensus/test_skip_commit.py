"""The COMMIT step: late precommits after the decision, and ``skip_timeout_commit`` (CometBFT's option).

Validators 0..3 (power 1 each); the node under test is validator 3 (see helpers.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from consensus.machine import ConsensusCore
from consensus.types import (
    BlockIDFlag,
    Decide,
    Proposal,
    ProposalReceived,
    ReportEvidence,
    ScheduleTimeout,
    SignVote,
    StartNextHeight,
    Step,
    Timeout,
    TimeoutKind,
    Vote,
    VoteReceived,
    VoteType,
)
from node.privval import FilePV
from state.crypto import PrivateKey, save_priv_validator_key, sha256
from tests.consensus.helpers import (
    ADDR,
    ME,
    PARAMS,
    SKIP,
    VS,
    A,
    B,
    H,
    feed,
    my_precommit,
    pc,
    prop,
    pv,
    run_table,
    started_core,
    timeout,
)

COMMIT = TimeoutKind.COMMIT


def _core(skip: bool) -> ConsensusCore:
    return started_core(SKIP if skip else PARAMS)



def _to_precommit(core: ConsensusCore) -> None:
    """Proposal A and a polka: the node precommits A (its own precommit is logged)."""
    feed(core, prop(0, A), pv(0, 0, A), pv(1, 0, A))
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
    out = feed(core, pc(0, 0, A), pc(1, 0, A))
    assert isinstance(out[0], Decide)
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert feed(core, pc(2, 0, A)) == []  # the late precommit is logged, nothing is scheduled
    assert _flags(core) == ["COMMIT"] * 4  # ... and it is in the decided commit
    assert feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]


def test_all_precommits_at_the_decision_skip_the_wait() -> None:
    """The proposal comes last: at the decision all four precommits are in -> COMMIT timeout at 0 ms."""
    core = _core(skip=True)
    out = feed(core, pv(0, 0, A), pv(1, 0, A), pv(2, 0, A), pc(0, 0, A), pc(1, 0, A), pc(2, 0, None))
    assert not [a for a in out if isinstance(a, Decide)]
    out = feed(core, prop(0, A))  # prevote, precommit (ours, the fourth), decide
    decides = [a for a in out if isinstance(a, Decide)]
    flags = [s.flag for s in decides[0].commit.signatures] if len(decides) == 1 else []
    assert flags == [BlockIDFlag.COMMIT, BlockIDFlag.COMMIT, BlockIDFlag.NIL, BlockIDFlag.COMMIT]
    # the full-length timeout too: a shell may hold the early one (an idle node keeps timeout_commit)
    t = Timeout(COMMIT, H, 0)
    assert _commit_timeouts(out) == [ScheduleTimeout(t, 1000), ScheduleTimeout(t, 0)]
    assert core.lines_hit.get("skip_commit") == 1
    assert feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]


def test_a_late_precommit_completing_the_commit_ends_the_wait() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    out = feed(core, pc(0, 0, A), pc(1, 0, A))  # 3 of 4: decided, the fourth may still come
    assert isinstance(out[0], Decide) and _flags(core) == ["COMMIT", "COMMIT", "ABSENT", "COMMIT"]
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert feed(core, pv(2, 0, A)) == []  # a late prevote changes nothing
    assert feed(core, pc(2, 0, A)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert _flags(core) == ["COMMIT"] * 4
    assert feed(core, pc(2, 0, A)) == []  # once
    assert feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]
    assert feed(core, timeout(COMMIT, 0)) == []  # the original (1 s) timeout: StartNextHeight only once
    core.start_height(H + 1, VS)
    assert feed(core, timeout(COMMIT, 0)) == []  # ... and stale in the new height
    assert core.decided_commit() is None  # the new height has not decided


def test_a_late_nil_precommit_also_completes_it() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    feed(core, pc(0, 0, A), pc(1, 0, A))
    assert feed(core, pc(2, 0, None)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert _flags(core) == ["COMMIT", "COMMIT", "NIL", "COMMIT"]


def test_a_precommit_for_another_value_or_round_does_not_complete_it() -> None:
    """Only precommits the commit can carry count (another value is recorded ABSENT, as CometBFT)."""
    core = _core(skip=True)
    _to_precommit(core)
    feed(core, pc(0, 0, A), pc(1, 0, A))
    assert feed(core, pc(2, 1, A)) == []  # round 1: not the decision round
    assert feed(core, pc(2, 0, B)) == []  # another value (a Byzantine precommit)
    assert _flags(core) == ["COMMIT", "COMMIT", "ABSENT", "COMMIT"]
    assert feed(core, timeout(COMMIT, 0)) == [StartNextHeight(H + 1)]  # the full wait


def test_a_silent_validator_keeps_the_full_wait() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    out = feed(core, pc(0, 0, A), pc(1, 0, A))
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert "skip_commit" not in core.lines_hit


def test_deciding_before_voting_signs_our_precommit_first() -> None:
    """Three others' precommits before the proposal: we decide at once (L49 comes before L22 in the mux), but
    sign our precommit for the decided value first (``decide_precommit``), so the commit becomes full and the
    early start happens (before, our precommit was never sent and every validator waited the full 1 s)."""
    core = _core(skip=True)
    feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    out = core.handle(prop(0, A))
    assert out[0] == my_precommit(0, A)  # ahead of Decide: a shell may suspend at Decide (the node commits)
    assert isinstance(out[1], Decide) and out[2:] == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert core.step is Step.DECIDED and core.lines_hit["decide_precommit"] == 1
    # our precommit comes back from the executor: the commit is full, the wait ends
    assert core.handle(VoteReceived(my_precommit(0, A).vote)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert _flags(core) == ["COMMIT"] * 4


def test_deciding_after_prevoting_also_precommits() -> None:
    """Prevoted (no polka seen), then 2f+1 precommits for the proposal: the same precommit before the decision."""
    core = _core(skip=True)
    feed(core, prop(0, A), pv(0, 0, A))
    assert core.step is Step.PREVOTE
    out = feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert out[0] == my_precommit(0, A) and isinstance(out[1], Decide)
    t = Timeout(COMMIT, H, 0)
    assert _commit_timeouts(out) == [ScheduleTimeout(t, 1000), ScheduleTimeout(t, 0)]
    assert _flags(core) == ["COMMIT"] * 4


def test_no_second_precommit_after_a_nil_one() -> None:
    """Precommitted nil in the decision round (L61): that precommit stands, nothing more is signed (and the
    nil precommit counts for the early start: the commit is full)."""
    core = _core(skip=True)
    feed(core, prop(0, A), pv(0, 0, A), pv(1, 0, None), timeout(TimeoutKind.PREVOTE, 0))
    assert core.step is Step.PRECOMMIT
    out = feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert not [a for a in out if isinstance(a, SignVote)] and "decide_precommit" not in core.lines_hit
    assert _flags(core) == ["COMMIT", "COMMIT", "COMMIT", "NIL"]
    assert _commit_timeouts(out)[-1] == ScheduleTimeout(Timeout(COMMIT, H, 0), 0)


def test_no_precommit_for_a_decision_of_an_earlier_round() -> None:
    """Deciding round 0 from round 1 (we left round 0 without precommitting): signing at round 0 now would go
    back in (height, round, step), which the signer refuses; nothing is signed, the full wait applies."""
    core = _core(skip=True)
    feed(core, pc(0, 0, A), pc(1, 0, A))
    feed(core, pv(0, 1, None), pc(1, 1, None))  # f+1 messages of round 1: round skip (L55)
    feed(core, timeout(TimeoutKind.PROPOSE, 1))  # we prevote nil in round 1 (L57)
    assert (core.round, core.step) == (1, Step.PREVOTE)
    out = feed(core, pc(2, 0, A), prop(0, A))  # round 0's precommits, then its proposal: decide round 0
    assert isinstance(out[0], Decide) and not [a for a in out if isinstance(a, SignVote)]
    assert _flags(core) == ["COMMIT", "COMMIT", "COMMIT", "ABSENT"]
    assert _commit_timeouts(out) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]


def test_late_equivocation_is_still_reported() -> None:
    core = _core(skip=True)
    _to_precommit(core)
    feed(core, pc(0, 0, A), pc(1, 0, A))
    assert feed(core, pc(2, 0, A)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    out = feed(core, pc(2, 0, None))
    assert len(out) == 1 and isinstance(out[0], ReportEvidence)
    assert _flags(core) == ["COMMIT"] * 4


def test_decided_commit_before_the_decision_is_none() -> None:
    core = _core(skip=True)
    assert core.decided_commit() is None
    run_table(core, [])
    _to_precommit(core)
    assert core.decided_commit() is None


def test_the_signer_accepts_the_precommit_at_the_decision(tmp_path: Path) -> None:
    """node/privval.py's rule ((height, round, step) never goes back; one message per step) takes the new
    precommit as it is: after the previous height's precommit, after our prevote of the round, after our
    own proposal of the round (we propose, the others' precommits and our proposal's echo cross)."""
    key_path = tmp_path / "priv_validator_key.json"
    save_priv_validator_key(key_path, PrivateKey.from_seed(sha256(b"bank")))
    pv = FilePV.load(key_path, tmp_path / "priv_validator_state.json", "egp-test")
    assert pv.sign_vote(Vote(VoteType.PRECOMMIT, H + 99, 2, A, b"", 1)) is not None  # an earlier height
    for prevoted in (False, True):
        h = H + 100 + int(prevoted)
        core = ConsensusCore(ADDR[ME], SKIP)
        core.start_height(h, VS)
        ours = [replace(pc(i, 0, A).vote, height=h) for i in range(3)]
        if prevoted:
            assert pv.sign_vote(Vote(VoteType.PREVOTE, h, 0, A, b"", 2)) is not None
        for v in ours:
            core.handle(VoteReceived(v))
        out = core.handle(ProposalReceived(Proposal(h, 0, A, -1, ADDR[0]), True))
        signs = [a.vote for a in out if isinstance(a, SignVote)]
        assert [(v.type, v.height, v.round, v.value_id) for v in signs] == [(VoteType.PRECOMMIT, h, 0, A)]
        mine = replace(signs[0], validator=b"", timestamp_ms=3)  # the node's shell signs with its key
        assert pv.sign_vote(mine) is not None, pv.last_refusal
        assert pv.sign_vote(replace(mine, value_id=None)) is None  # and it is the only one of its round
    # after our own proposal of the round (no prevote yet): proposal, then the precommit of the same round
    h = H + 102
    assert pv.sign_proposal(Proposal(h, 1, A, -1, b"", 3)) is not None
    assert pv.sign_vote(Vote(VoteType.PRECOMMIT, h, 1, A, b"", 4)) is not None, pv.last_refusal
