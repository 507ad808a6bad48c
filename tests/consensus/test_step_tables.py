"""Step tables for the round machine, named after CometBFT's consensus/state_test.go cases.

Each row: an event, the exact actions the core must return, the state it must be in afterwards.
Validators 0..3 (power 1 each) propose rounds 0..3; the node under test is validator 3.
The paper's lock rules apply (no unlock on a nil polka; a lock moves only through L28's POL or L36).
"""

from __future__ import annotations

from consensus.machine import ConsensusCore
from consensus.types import (
    Action,
    Decide,
    Proposal,
    RequestValue,
    SignProposal,
    StartNextHeight,
    Step,
    TimeoutKind,
)
from tests.consensus.helpers import (
    ADDR,
    ME,
    VS,
    A,
    B,
    H,
    Row,
    my_precommit,
    my_prevote,
    new_core,
    pc,
    prop,
    pv,
    run_table,
    sched,
    timeout,
)

PROPOSE, PREVOTE, PRECOMMIT = TimeoutKind.PROPOSE, TimeoutKind.PREVOTE, TimeoutKind.PRECOMMIT


def _start() -> tuple[ConsensusCore, list[Action]]:
    core = new_core()
    return core, core.start_height(H, VS)


def test_start_round_non_proposer_schedules_propose_timeout() -> None:  # L11, L21
    core, actions = _start()
    assert actions == [sched(PROPOSE, 0)]
    assert (core.round, core.step) == (0, Step.PROPOSE)


def test_full_round_nil() -> None:
    """No proposal: prevote nil on timeout (L57), precommit nil on a nil polka (L44), next round (L65)."""
    core, _ = _start()
    run_table(
        core,
        [
            Row("propose timeout", timeout(PROPOSE, 0), [my_prevote(0, None)], {"step": Step.PREVOTE}),
            Row("nil prevote 0", pv(0, 0, None), []),
            Row(
                "nil polka: L34 timeout, then L44 precommit nil",
                pv(1, 0, None),
                [sched(PREVOTE, 0), my_precommit(0, None)],
                {"step": Step.PRECOMMIT, "locked_round": -1},
            ),
            Row("precommit 0", pc(0, 0, None), []),
            Row("2f+1 precommits: L47", pc(1, 0, None), [sched(PRECOMMIT, 0)]),
            Row("stale prevote timeout ignored (L61 guard)", timeout(PREVOTE, 0), []),
            Row("precommit timeout: L65 -> round 1", timeout(PRECOMMIT, 0), [sched(PROPOSE, 1)], {"round": 1}),
            Row(
                "stale propose timeout of round 0 ignored (L57 guard)", timeout(PROPOSE, 0), [], {"step": Step.PROPOSE}
            ),
        ],
    )


def test_bad_proposal() -> None:
    """An invalid proposal gets a nil prevote (L26), and it is never locked or decided."""
    core, _ = _start()
    run_table(
        core,
        [
            Row("invalid proposal", prop(0, A, valid=False), [my_prevote(0, None)], {"step": Step.PREVOTE}),
            Row("prevote A", pv(0, 0, A), []),
            Row("2f+1 prevotes of any kind: L34", pv(1, 0, A), [sched(PREVOTE, 0)]),
            Row("polka for A, but A is invalid: no lock (L36 needs valid(v))", pv(2, 0, A), [], {"locked_round": -1}),
            Row("prevote timeout: L61", timeout(PREVOTE, 0), [my_precommit(0, None)], {"valid_value": None}),
            Row("precommit A", pc(0, 0, A), []),
            Row("2f+1 precommits of any kind: L47", pc(1, 0, A), [sched(PRECOMMIT, 0)]),
            Row("2f+1 precommits for A, but A is invalid: no decision (L49)", pc(2, 0, A), []),
        ],
    )
    assert core.decision is None


def _lock_a_in_round_0(core: ConsensusCore) -> None:
    run_table(
        core,
        [
            Row("proposal A", prop(0, A), [my_prevote(0, A)], {"step": Step.PREVOTE}),
            Row("prevote A", pv(0, 0, A), []),
            Row(
                "polka A: L34, L36 lock + precommit",
                pv(1, 0, A),
                [sched(PREVOTE, 0), my_precommit(0, A)],
                {"locked_value": A, "locked_round": 0, "valid_value": A, "valid_round": 0},
            ),
            Row("precommit nil", pc(0, 0, None), []),
            Row("2f+1 precommits, no decision", pc(1, 0, None), [sched(PRECOMMIT, 0)]),
            Row("next round", timeout(PRECOMMIT, 0), [sched(PROPOSE, 1)], {"round": 1, "locked_value": A}),
        ],
    )


def test_lock_pol_relock() -> None:
    """Locked on A in round 0; a polka for B in round 1 re-locks on B through L36."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("proposal B, no POL: locked -> prevote nil (L22, L26)", prop(1, B), [my_prevote(1, None)]),
            Row("prevote B", pv(0, 1, B), []),
            Row("2f+1 prevotes of any kind: L34", pv(1, 1, B), [sched(PREVOTE, 1)]),
            Row(
                "polka for B with the proposal: L36 re-locks on B and precommits B",
                pv(2, 1, B),
                [my_precommit(1, B)],
                {"locked_value": B, "locked_round": 1, "valid_value": B, "valid_round": 1},
            ),
        ],
    )


def test_lock_pol_relock_proposal_last() -> None:
    """As lock_pol_relock, but the polka for B arrives before the proposal: one event does L22, L34, L36."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("prevote B", pv(0, 1, B), []),
            Row("prevote B", pv(1, 1, B), []),
            Row("prevote B: polka, still waiting for the proposal", pv(2, 1, B), []),
            Row(
                "proposal B: prevote nil (locked, L26), then L34 + L36 relock and precommit B",
                prop(1, B),
                [my_prevote(1, None), sched(PREVOTE, 1), my_precommit(1, B)],
                {"locked_value": B, "locked_round": 1, "valid_value": B, "valid_round": 1},
            ),
        ],
    )


def test_nil_polka_does_not_unlock() -> None:
    """Unlike CometBFT v0.38, a polka for nil leaves the lock in place (paper rules)."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("propose timeout: L57", timeout(PROPOSE, 1), [my_prevote(1, None)]),
            Row("nil prevote", pv(0, 1, None), []),
            Row(
                "nil polka: L34, L44 precommit nil, still locked",
                pv(1, 1, None),
                [sched(PREVOTE, 1), my_precommit(1, None)],
                {"locked_value": A, "locked_round": 0},
            ),
        ],
    )


def test_lock_pol_unlock() -> None:
    """Locked on A; only a proposal carrying a POL from a round >= the lock round moves us (L28, L30)."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("propose timeout: L57", timeout(PROPOSE, 1), [my_prevote(1, None)]),
            Row("prevote B r1", pv(0, 1, B), []),
            Row("precommit nil r1", pc(0, 1, None), []),
            Row("precommit nil r1", pc(1, 1, None), []),
            Row("2f+1 precommits r1: L47", pc(2, 1, None), [sched(PRECOMMIT, 1)]),
            Row("round 2", timeout(PRECOMMIT, 1), [sched(PROPOSE, 2)], {"round": 2, "locked_value": A}),
            Row("late prevote B r1", pv(1, 1, B), []),
            Row("late prevote B r1: we now hold a polka for B in round 1", pv(2, 1, B), []),
            Row(
                "proposal B with POL round 1 >= locked round 0: prevote B (L28, L30)",
                prop(2, B, vr=1),
                [my_prevote(2, B)],
                {"step": Step.PREVOTE, "locked_value": A, "locked_round": 0},
            ),
        ],
    )


def test_lock_pol_safety_1() -> None:
    """Locked on A; a proposal for B without a POL, even with everyone else prevoting B, gets nil."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("prevote B", pv(0, 1, B), []),
            Row("prevote B", pv(1, 1, B), []),
            Row(
                "proposal B, vr=-1: locked on A -> nil (L22, L26); 3 prevotes -> L34",
                prop(1, B),
                [my_prevote(1, None), sched(PREVOTE, 1)],
            ),
        ],
    )
    assert core.locked_value == A and core.locked_round == 0


def test_lock_pol_safety_2() -> None:
    """A POL older than our lock does not unlock: locked on B in round 1, proposal A with vr=0 -> nil (L32)."""
    core, _ = _start()
    _lock_a_in_round_0(core)
    run_table(
        core,
        [
            Row("prevote B r1", pv(0, 1, B), []),
            Row("prevote B r1", pv(1, 1, B), []),
            Row("prevote B r1: polka", pv(2, 1, B), []),
            Row("proposal B r1: relock B at round 1", prop(1, B), None, {"locked_value": B, "locked_round": 1}),
            Row("precommit nil", pc(0, 1, None), []),
            Row("2f+1 precommits", pc(1, 1, None), [sched(PRECOMMIT, 1)]),
            Row("round 2", timeout(PRECOMMIT, 1), [sched(PROPOSE, 2)]),
            Row(
                "proposal A with POL round 0 < locked round 1: prevote nil (L28, L32)",
                prop(2, A, vr=0),
                [my_prevote(2, None)],
                {"locked_value": B, "locked_round": 1},
            ),
        ],
    )
    assert core.lines_hit.get("L32") == 1


def test_halt_1() -> None:
    """Decision in an earlier round (L49): round-0 precommits completing while in round 1 decide A."""
    core, _ = _start()
    run_table(
        core,
        [
            Row("proposal A", prop(0, A), [my_prevote(0, A)]),
            Row("prevote A", pv(0, 0, A), []),
            Row("polka: L34, L36", pv(1, 0, A), [sched(PREVOTE, 0), my_precommit(0, A)], {"locked_value": A}),
            Row("precommit A", pc(0, 0, A), []),
            Row("precommit nil: 2f+1 of any kind, L47", pc(1, 0, None), [sched(PRECOMMIT, 0)]),
            Row("round 1", timeout(PRECOMMIT, 0), [sched(PROPOSE, 1)], {"round": 1}),
            Row(
                "the missing round-0 precommit for A: decide A in round 0 (L49, L51)",
                pc(2, 0, A),
                None,
                {"decision": A, "step": Step.DECIDED},
            ),
            Row("after the decision votes are ignored", pv(0, 1, B), []),
            Row("a stale round timeout is ignored", timeout(PROPOSE, 1), []),
            Row("commit timeout: start the next height", timeout(TimeoutKind.COMMIT, 0), [StartNextHeight(H + 1)]),
        ],
    )


def test_late_proposal_decides_and_precommits() -> None:
    """2f+1 precommits for A before A's proposal: L49 decides at once, and our precommit for A is signed first
    (``decide_precommit``: the paper would never send it; see the machine's docstring for why it is safe)."""
    core, _ = _start()
    run_table(
        core,
        [
            Row("precommit A", pc(0, 0, A), []),
            Row("precommit A", pc(1, 0, A), []),
            Row("2f+1 precommits without the proposal: L47 only", pc(2, 0, A), [sched(PRECOMMIT, 0)]),
            Row(
                "the proposal: our precommit for A, then the decision (L49, L51) and the commit wait",
                prop(0, A),
                None,
                {"decision": A, "step": Step.DECIDED, "locked_round": -1},
            ),
        ],
    )
    assert core.lines_hit["decide_precommit"] == 1 and "L22" not in core.lines_hit  # no prevote was signed
    out = core.handle(prop(0, B))  # nothing more is signed at this height
    assert out == []


def test_decide_emits_commit_in_set_order() -> None:
    core, _ = _start()
    run_table(core, [Row("proposal A", prop(0, A), [my_prevote(0, A)])])
    core.handle(pv(0, 0, A))
    core.handle(pv(1, 0, A))
    core.handle(pc(0, 0, A))
    core.handle(pc(ME, 0, A))
    out = core.handle(pc(1, 0, None))
    assert not [a for a in out if isinstance(a, Decide)]
    out = core.handle(pc(2, 0, A))
    decide = out[0]
    assert isinstance(decide, Decide) and decide.value_id == A and decide.round == 0
    assert [s.flag.name for s in decide.commit.signatures] == ["COMMIT", "NIL", "COMMIT", "COMMIT"]
    assert [s.validator for s in decide.commit.signatures] == ADDR


def test_proposer_gets_value_then_proposes() -> None:  # L14, L17, L19
    from consensus.types import ValueReady
    from tests.consensus.helpers import VS

    core = new_core()
    core.start_height(H, VS)
    out = []
    for i in (0, 1):
        out += core.handle(pv(i, 3, None))
    assert out[-1:] == [RequestValue(H, 3)]
    assert (core.round, core.step) == (3, Step.PROPOSE)
    assert core.handle(ValueReady(H, 2, A)) == []  # stale answer
    assert core.handle(ValueReady(H, 3, A)) == [SignProposal(Proposal(H, 3, A, -1, ADDR[ME]))]


def test_proposer_reproposes_valid_value() -> None:  # L15
    from tests.consensus.helpers import VS

    core = new_core()
    core.start_height(H, VS)
    core.valid_value, core.valid_round = B, 1
    for i in (0, 1):
        out = core.handle(pv(i, 3, None))
    assert out == [SignProposal(Proposal(H, 3, B, 1, ADDR[ME]))]


def test_round_skip_needs_f_plus_1() -> None:  # L55
    core, _ = _start()
    assert core.handle(pv(0, 5, None)) == []
    assert core.round == 0
    assert core.handle(pc(1, 5, None)) == [sched(PROPOSE, 5)]
    assert core.round == 5


def test_far_future_rounds_and_other_heights_are_dropped() -> None:
    core, _ = _start()
    from consensus.types import Vote, VoteReceived, VoteType

    c = core
    for r in range(100, 10_000):
        c.handle(VoteReceived(Vote(VoteType.PREVOTE, H, r, A, ADDR[0])))
        c.handle(VoteReceived(Vote(VoteType.PREVOTE, H + 1, r, A, ADDR[0])))
    assert c.keeper is not None and c.keeper.vote_count() == 0
    assert c.handle(prop(0, A, vr=0)) == []  # vr must be < round


def test_observer_never_signs() -> None:
    from consensus.machine import ConsensusCore
    from consensus.types import SignVote
    from tests.consensus.helpers import PARAMS, VS

    core = ConsensusCore(b"\x01" * 20, PARAMS)
    core.start_height(H, VS)
    out = core.handle(prop(0, A)) + core.handle(timeout(PROPOSE, 0))
    assert not [a for a in out if isinstance(a, SignVote)]
    for i in (0, 1, 2):
        core.handle(pv(i, 0, A))
    for i in (0, 1):
        core.handle(pc(i, 0, A))
    out = core.handle(pc(2, 0, A))
    assert isinstance(out[0], Decide)
