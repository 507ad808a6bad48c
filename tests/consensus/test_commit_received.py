"""``CommitReceived``: a value known from a checked commit stands in for the proposal in L49, nowhere else.

The node feeds it when block sync hands it the block of the height its core is at (node/node.py
``apply_synced_block``): the commit's precommits first, as ordinary votes, then the value.  The core decides
it (label ``decide_commit``) and, when it had not precommitted in that round yet, signs its precommit first
(``decide_precommit``), so the others' commit wait can end early.  Validators 0..3 (power 1 each); the node
under test is validator 3 (see helpers.py).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.machine import ConsensusCore
from consensus.types import (
    CommitReceived,
    Decide,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    Timeout,
    TimeoutKind,
    VoteReceived,
    VoteType,
)
from tests.consensus.helpers import (
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
    started_core,
    timeout,
)

COMMIT = TimeoutKind.COMMIT


def _core() -> ConsensusCore:
    return started_core(SKIP)



def cr(r: int, v: bytes, valid: bool = True, h: int = H) -> CommitReceived:
    return CommitReceived(h, r, v, valid)


def test_a_synced_commit_without_its_proposal_is_decided_and_precommitted() -> None:
    """Three others' precommits for A (a peer's stored commit), then A itself: our precommit, then Decide;
    once our precommit is back the commit holds every validator and the wait ends at once."""
    core = _core()
    feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert core.step is Step.PROPOSE and core.decision is None  # no proposal: L49 cannot fire
    out = core.handle(cr(0, A))
    assert out[0] == my_precommit(0, A)
    assert isinstance(out[1], Decide) and (out[1].round, out[1].value_id) == (0, A)
    assert out[2:] == [ScheduleTimeout(Timeout(COMMIT, H, 0), 1000)]
    assert core.handle(VoteReceived(my_precommit(0, A).vote)) == [ScheduleTimeout(Timeout(COMMIT, H, 0), 0)]
    assert core.lines_hit["decide_commit"] == 1 and core.lines_hit["decide_precommit"] == 1
    assert "L49" not in core.lines_hit and "L22" not in core.lines_hit  # no prevote, no proposal involved
    assert core.locked_round == -1 and core.valid_value is None


def test_the_value_first_then_the_precommits() -> None:
    """The value alone changes nothing; the precommit completing 2f+1 decides (rules run after every vote)."""
    core = _core()
    assert core.handle(cr(0, A)) == []
    feed(core, pc(0, 0, A), pc(1, 0, A))
    assert core.decision is None
    out = core.handle(pc(2, 0, A))
    assert out[0] == my_precommit(0, A) and isinstance(out[1], Decide)


def test_no_quorum_no_decision_and_nothing_else_moves() -> None:
    """A value with a polka but only f+1 precommits: no decision, and no prevote or precommit from it (L22,
    L28 and L36 read proposals only); the core behaves as if the event had not come."""
    core, twin = _core(), _core()
    events = (pv(0, 0, A), pv(1, 0, A), pv(2, 0, A), pc(0, 0, A), pc(1, 0, A))
    feed(core, *events)
    feed(twin, *events)
    assert core.handle(cr(0, A)) == []
    for c in (core, twin):
        assert (c.step, c.decision, c.locked_round, c.valid_round) == (Step.PROPOSE, None, -1, -1)
    # a proposal then comes: both behave alike (prevote A, precommit A at L36, decide at L49 with ours)
    assert feed(core, prop(0, A)) == feed(twin, prop(0, A))


def test_an_invalid_value_is_not_decided() -> None:
    core = _core()
    feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert core.handle(cr(0, A, valid=False)) == []
    assert core.decision is None and not [a for a in feed(core, cr(0, A)) if isinstance(a, Decide)]  # logged once


def test_other_heights_rounds_beyond_the_window_and_bad_ids_are_dropped() -> None:
    core = _core()
    feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert core.handle(cr(0, A, h=H + 1)) == []
    assert core.handle(cr(PARAMS.round_window + 1, A)) == []
    assert core.handle(cr(0, A[:31])) == []
    assert core.decision is None


def test_a_commit_of_an_earlier_round_is_decided_without_a_precommit() -> None:
    """We left round 0 (round skip) before its precommits reached us: deciding it needs no vote of ours, and
    signing one at round 0 now would go back in (height, round, step): nothing is signed."""
    core = _core()
    feed(core, pv(0, 1, None), pc(1, 1, None))  # f+1 messages of round 1: round skip (L55)
    feed(core, timeout(TimeoutKind.PROPOSE, 1))  # we prevote nil in round 1 (L57)
    assert (core.round, core.step) == (1, Step.PREVOTE)
    out = feed(core, pc(0, 0, B), pc(1, 0, B), pc(2, 0, B), cr(0, B))
    assert [type(a) for a in out if not isinstance(a, ScheduleTimeout)] == [Decide]
    assert core.decision == B and "decide_precommit" not in core.lines_hit


def test_a_proposal_for_the_same_value_still_decides_first_through_l49() -> None:
    """With the proposal already logged the precommits decide through L49 as always; the value that follows
    is dropped (the core is decided)."""
    core = _core()
    feed(core, prop(0, A))
    out = feed(core, pc(0, 0, A), pc(1, 0, A), pc(2, 0, A))
    assert [a for a in out if isinstance(a, Decide)] and core.lines_hit["L49"] == 1
    assert core.handle(cr(0, A)) == [] and "decide_commit" not in core.lines_hit


_EVENTS = st.sampled_from(
    [prop(r, v) for r in (0, 1) for v in (A, B)]
    + [pv(i, r, v) for i in range(3) for r in (0, 1) for v in (A, B, None)]
    + [pc(i, r, v) for i in range(3) for r in (0, 1) for v in (A, B, None)]
    + [timeout(k, r) for k in (TimeoutKind.PROPOSE, TimeoutKind.PREVOTE, TimeoutKind.PRECOMMIT) for r in (0, 1)]
)


@settings(max_examples=300, deadline=None)
@given(prefix=st.lists(_EVENTS, max_size=14), r=st.sampled_from((0, 1)), v=st.sampled_from((A, B)))
def test_a_commit_value_only_ever_decides(prefix: list[object], r: int, v: bytes) -> None:
    """Whatever came before: ``CommitReceived`` emits nothing, or (our precommit for v at round_p, only when we
    had not precommitted there) + Decide(v) + COMMIT timeouts; locks, valid value and round never move, and
    it decides exactly when 2f+1 precommits for v at r are logged."""
    core = _core()
    feed(core, *prefix)
    if core.step is Step.DECIDED:
        assert core.handle(cr(r, v)) == []
        return
    before = (core.round, core.step, core.locked_value, core.locked_round, core.valid_value, core.valid_round)
    assert core.keeper is not None
    quorum = VS.has_two_thirds(core.keeper.power_for(r, VoteType.PRECOMMIT, v))
    out = core.handle(cr(r, v))
    if not quorum:
        assert out == [] and core.decision is None
        assert before == (core.round, core.step, core.locked_value, core.locked_round, core.valid_value,
                          core.valid_round)
        return
    signs = [a for a in out if isinstance(a, SignVote)]
    decides = [a for a in out if isinstance(a, Decide)]
    assert len(decides) == 1 and (decides[0].round, decides[0].value_id) == (r, v)
    assert not [a for a in out if isinstance(a, SignProposal)]
    if signs:
        assert signs == [my_precommit(r, v)] and out[0] == signs[0]
        assert r == before[0] and before[1] < Step.PRECOMMIT
    else:
        assert r != before[0] or before[1] >= Step.PRECOMMIT
    assert before[2:] == (core.locked_value, core.locked_round, core.valid_value, core.valid_round)
