"""The node's block sync at its current height, in the simulator: through the core, or beside it as before.

The base simulator's catch-up hands a laggard the decision certificate (proposal and precommits) as ordinary
messages.  The node does not: when a peer's status says it stored the height the node is at, block sync
fetches the block with the commit the peer stored (no proposal) and `Node.apply_synced_block` applies it
(node/node.py).  ``SyncingNode`` models that: a status is answered with ("block", h, r, v, precommits), and
the receiver either feeds the precommits as votes then ``CommitReceived`` to its core (``mode="core"``, the
node now, which then ends its COMMIT step at once: a peer is past that height; a core still in the COMMIT
step of h - 1 ends it first; where the core cannot take it, the block is committed beside it), or
commits it beside the core and starts h + 1 at once without a vote (``mode="beside"``, the node before).
A node committing beside its core never sends its precommit of h, so the others, waiting for every
precommit (``skip_timeout_commit``), wait the full ``commit`` (1 s here, as generated).  Counted: correct
nodes' COMMIT steps that ended only at the full timeout (``Result.full_waits``).  Scenarios: one validator
receiving proposals 60 ms late (task A's), one cut off for 2.5 s, and one whose block commits take 300 ms
(``commit_ms``: its executor suspended and its messages waiting meanwhile, as the node's commit worker does),
the case seen on the real network with a node paused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consensus.commit import commit_vote
from consensus.machine import ConsensusCore
from consensus.sign_bytes import vote_sign_bytes
from consensus.types import (
    BlockIDFlag,
    Commit,
    CommitReceived,
    CommitSig,
    Step,
    Timeout,
    TimeoutFired,
    TimeoutKind,
    ValueId,
    Vote,
    VoteType,
)
from consensus.validators import ValidatorPipeline, ValidatorSet
from tests.sim.harness import CHAIN_ID, SimNode, is_valid_value, verify_sig
from tests.sim.network import NetRules
from tests.sim.runner import Result, Simulation
from tests.sim.scenario import Scenario
from tests.sim.test_late_proposal import slow_validator


class SyncingNode(SimNode):
    """A SimNode whose catch-up is the node's block sync (see the module docstring)."""

    mode = "core"
    commit_ms = 0  # how long committing a block takes this node (its executor is suspended, messages wait)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.stored: dict[int, tuple[int, ValueId, list[Vote]]] = {}  # height -> the block store's commit
        self.synced = {"core": 0, "beside": 0, "step_ended": 0}
        self.ended_at_once: set[int] = set()  # heights whose COMMIT step the shell ended (not counted as waits)
        self.committing = False
        self.timer_epoch = 0  # bumped where the node cancels all its timers (a block committed beside the core)
        self.backlog: list[tuple[int, Any]] = []  # messages that came while committing (the node's after_commit)

    @property
    def state_height(self) -> int:
        """The node's ``state.height``: the height after the last committed block."""
        return len(self.decided) + 1

    def decide(self, height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        votes = [commit_vote(commit, s) for s in commit.signatures if s.flag == BlockIDFlag.COMMIT]
        self.stored[height] = (round_, value_id, votes)
        self.record_decision(height, round_, value_id, commit)
        if self.commit_ms > 0:  # the node's commit worker: the rest of the actions and every event wait for it
            self.executor.suspend()
            self._commit_for(self.commit_ms, None)

    def _commit_for(self, ms: int, then: Callable[[], None] | None) -> None:
        self.committing = True

        def done() -> None:
            self.committing = False
            if then is not None:
                then()
            if self.executor.suspended:
                self.executor.resume()
            backlog, self.backlog = self.backlog, []
            for src, m in backlog:
                self.receive(src, m)

        self.sim.clock.at(self.sim.clock.now + ms, done)

    def validator_set(self, height: int) -> ValidatorSet:
        steps, waits = self.sim.commit_steps, len(self.sim.full_waits)
        vs = super().validator_set(height)  # (the runner's checks of the COMMIT step run here)
        if height - 1 in self.ended_at_once:  # no wait at all: neither a COMMIT step nor a full wait
            self.sim.commit_steps = steps
            del self.sim.full_waits[waits:]
        return vs

    def gossip(self) -> None:
        super().gossip()  # (its status: the core's height)
        if self.role != "silent" and self.core.step is Step.DECIDED:  # in the COMMIT step: state.height is next
            self.sim.broadcast(self.idx, ("status", self.state_height))

    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        epoch = self.timer_epoch

        def fire() -> None:
            if self.timer_epoch == epoch:
                self.executor.handle(TimeoutFired(timeout))

        self.sim.clock.at(self.sim.clock.now + delay_ms, fire)

    def receive(self, src: int, msg: Any) -> None:
        if self.committing:
            self.backlog.append((src, msg))
            return
        if isinstance(msg, tuple) and msg and msg[0] == "status":
            got = self.stored.get(msg[1])
            if got is not None and self.role in (None, "twin"):  # a block sync request and its answer
                self.sim.send(self.idx, src, ("block", msg[1], *got))
            return
        if isinstance(msg, tuple) and msg and msg[0] == "block":
            self._on_block(src, *msg[1:])
            return
        super().receive(src, msg)

    def _on_block(self, src: int, height: int, round_: int, value: ValueId, votes: list[Vote]) -> None:
        """`Node.apply_synced_block`: the block of our state height with a commit that verifies."""
        if height != self.state_height or not is_valid_value(value):
            return
        vs = self.pipeline.current
        signed: dict[bytes, Vote] = {}
        for v in votes:
            val = vs.get(v.validator)
            if (val is not None and v.type is VoteType.PRECOMMIT and (v.height, v.round, v.value_id) ==
                    (height, round_, value) and verify_sig(val.pub_key, vote_sign_bytes(CHAIN_ID, v), v.signature)):
                signed[v.validator] = v
        if not vs.has_two_thirds(sum(vs.power_of(a) for a in signed)):
            return
        c = self.core
        if self.mode == "core" and c.height == height - 1 and c.step is Step.DECIDED:
            # still in the COMMIT step of h - 1: a peer is past h, the node ends that step now and starts h
            self.ended_at_once.add(height - 1)
            self.synced["step_ended"] += 1
            self.executor.handle(TimeoutFired(Timeout(TimeoutKind.COMMIT, height - 1, 0)))
        if self.mode == "core" and c.height == height and c.step is not Step.DECIDED:
            self.synced["core"] += 1
            for v in signed.values():
                self.receive(src, v)  # ordinary votes (signature checked again, as the shell does)
            self.executor.handle(CommitReceived(height, round_, value, True))
            if c.height == height and c.decision == value:  # a peer is past it: the COMMIT step ends at once
                self.ended_at_once.add(height)
                self.executor.handle(TimeoutFired(Timeout(TimeoutKind.COMMIT, height, round_)))
            return
        # beside the core: cancel every timer, commit, and start the next height at once (no COMMIT step, no vote)
        self.synced["beside"] += 1
        self.timer_epoch += 1
        sigs = tuple(CommitSig(BlockIDFlag.COMMIT, v.address, signed[v.address].timestamp_ms,
                               signed[v.address].signature) if v.address in signed
                     else CommitSig(BlockIDFlag.ABSENT, b"") for v in vs.validators)
        commit = Commit(height, round_, value, sigs)
        self.stored[height] = (round_, value, list(signed.values()))
        self.record_decision(height, round_, value, commit)
        if self.commit_ms > 0:  # (the node commits such a block on its loop: nothing else happens meanwhile)
            self._commit_for(self.commit_ms, lambda: self._start_next(height + 1))
        else:
            self._start_next(height + 1)

    def _start_next(self, height: int) -> None:
        future, self.future = self.future, []
        self.executor.start_height(height, self.pipeline.current)
        self._replay([(s, m) for s, m in future if getattr(m, "height", None) == height])


class SyncSimulation(Simulation):
    node_mode = "core"
    slow_commit: tuple[int, int] = (-1, 0)  # (node index, ms its block commits take)

    def _node(self, i: int, key: tuple[bytes, bytes], role: str | None, cls: type[ConsensusCore],
              pl: ValidatorPipeline) -> SimNode:
        base = super()._node(i, key, role, cls, pl)
        node = SyncingNode(self, i, key[0], key[1], role, base.core, pl)
        node.mode = self.node_mode
        if i == self.slow_commit[0]:
            node.commit_ms = self.slow_commit[1]
        return node


def run(scenario: Scenario | int, mode: str, slow_commit: tuple[int, int] = (-1, 0)) -> tuple[Result, dict[str, int]]:
    sim = SyncSimulation.__new__(SyncSimulation)
    sim.node_mode, sim.slow_commit = mode, slow_commit
    if isinstance(scenario, int):
        SyncSimulation.__init__(sim, scenario)
    else:
        SyncSimulation.__init__(sim, scenario.seed, ConsensusCore, scenario)
    res = sim.run()
    synced = {"core": 0, "beside": 0, "step_ended": 0}
    for n in sim.nodes:
        if isinstance(n, SyncingNode):
            for k, v in n.synced.items():
                synced[k] += v
    return res, synced


def partitioned(seed: int, *, n: int = 4, heights: int = 12, cut_ms: int = 2500) -> Scenario:
    """Validator ``seed % n`` cut off from the others for the first ``cut_ms`` (GST then); it catches up by
    block sync, one height per status, to the height the others are deciding."""
    lone = seed % n
    rest = tuple(i for i in range(n) if i != lone)
    net = NetRules(gst_ms=cut_ms, delta_ms=20, drop=0.0, duplicate=0.0, max_delay_ms=20,
                   partitions=((cut_ms, (rest, (lone,))),))
    return Scenario(seed=seed, n=n, powers=(1,) * n, roles=(), net=net, set_change=False, target_height=heights,
                    invalid_rate=0.0, skip_commit=True, buffer_next=True, commit_ms=1000)


def slow_committer(seed: int, *, n: int = 4, heights: int = 30) -> Scenario:
    """Correct validators, delays up to 20 ms; node ``seed % n`` takes ``SLOW_COMMIT_MS`` to commit a block
    (``run(..., slow_commit=...)``): the others decide the next height meanwhile, and their block reaches it
    while it is still committing, or in its COMMIT step, or deciding (a node that is slower than the rest)."""
    net = NetRules(gst_ms=0, delta_ms=20, drop=0.0, duplicate=0.0, max_delay_ms=20)
    return Scenario(seed=seed, n=n, powers=(1,) * n, roles=(), net=net, set_change=False, target_height=heights,
                    invalid_rate=0.0, skip_commit=True, buffer_next=True, commit_ms=1000)


SLOW_COMMIT_MS = 300


def _count(scenarios: list[Scenario], mode: str, slow: bool = False) -> tuple[int, int, dict[str, int]]:
    full = steps = 0
    synced = {"core": 0, "beside": 0, "step_ended": 0}
    for sc in scenarios:
        res, s = run(sc, mode, (sc.seed % sc.n, SLOW_COMMIT_MS) if slow else (-1, 0))
        assert res.ok, (sc.seed, res.violation)
        full, steps = full + res.full_waits, steps + res.commit_steps
        for k in synced:
            synced[k] += s[k]
    return full, steps, synced


SLOW = [slow_validator(seed, 60) for seed in range(6)]
CUT = [partitioned(seed) for seed in range(8)]


def test_a_slow_validator_synced_beside_its_core_stalled_the_others() -> None:
    """The reproduction: blocks applied beside the core leave the others without its precommit."""
    full, steps, synced = _count(SLOW, "beside")
    assert synced["beside"] > 0 and synced["core"] == 0
    assert full * 20 > steps, (full, steps, synced)  # measured: 66 of 675 (24 blocks synced beside)


def test_a_slow_validator_synced_through_its_core_precommits() -> None:
    before, _, synced_before = _count(SLOW, "beside")
    full, steps, synced = _count(SLOW, "core")
    assert synced["core"] > 0
    assert full * 100 <= steps and full * 4 < before, (full, before, steps, synced, synced_before)
    # measured: 3 of 681 (19 blocks synced through the core; the 3 are decisions of a round left, task A)


def test_a_partitioned_validator_catching_up_through_its_core_ends_the_stalls_sooner() -> None:
    before, steps_b, synced_b = _count(CUT, "beside")
    full, steps, synced = _count(CUT, "core")
    assert synced["core"] > 0 and synced_b["beside"] > 0
    assert full < before, (full, steps, before, steps_b)  # measured: 54 of 341 against 63 of 338
    # (most are the heights decided while the validator was cut off: without it no commit is ever full)


def test_drawn_scenarios_keep_every_check_with_block_sync_through_the_core() -> None:
    """Byzantine roles, partitions, drops, set changes: agreement, validity, no double sign, full commits at
    every early start, liveness, with the node's block sync feeding cores (and beside them where it must)."""
    used = 0
    for seed in range(200):
        res, synced = run(seed, "core")
        assert res.ok, (seed, res.violation, res.replay_command())
        used += synced["core"]
    assert used > 0


SLOW_COMMITTERS = [slow_committer(seed) for seed in range(6)]


def test_a_slow_committer_synced_beside_its_core_stalled_most_heights() -> None:
    """The real network's case (a node paused, or slower to commit than the rest): the others decide h while
    it commits h - 1, and block h reaches it in its COMMIT step of h - 1; beside the core, no precommit of h."""
    full, steps, synced = _count(SLOW_COMMITTERS, "beside", slow=True)
    assert full * 3 > steps, (full, steps, synced)  # measured: 238 of 537 (83 blocks synced beside)


def test_a_slow_committer_ends_its_commit_step_and_precommits_through_its_core() -> None:
    full, steps, synced = _count(SLOW_COMMITTERS, "core", slow=True)
    assert synced["step_ended"] > 0 and synced["beside"] == 0
    assert full * 50 <= steps, (full, steps, synced)  # measured: 5 of 532 (86 synced, 82 ending a COMMIT step)
