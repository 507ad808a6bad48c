"""Run one scenario: build the nodes, drive the virtual clock, check the invariants after every event.

``run_seed(seed, core_cls=ConsensusCore) -> Result``.  One ``random.Random(seed)`` draws the scenario and
every later choice (network, Byzantine behaviour, gossip jitter), so a seed is a complete replay.

Checked after every event (a violation stops the run):
  agreement    no two correct nodes decide different values at a height;
  validity     a decided value was proposed at that height, is valid, and its commit verifies
               (``verify_commit``: every signature, > 2/3 power) against that height's validator set;
  no double    no correct node signs two different votes for one (height, round, type);
  monotonic    each correct node decides heights 1, 2, 3, ... in order;
  full commit  a correct node that ended the COMMIT step early (skip_timeout_commit, odd seeds) holds a
               precommit of every validator of the decision round.
Liveness: at GST the run computes a deadline worth ``ROUNDS_BUDGET`` rounds per height (from the highest
round any correct node reached); every correct node must decide ``target_height`` before it.  A height
that a correct node runs entirely after GST must take it through at most ``len(valset) + 1`` rounds.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from consensus.commit import verify_commit
from consensus.machine import ConsensusCore
from consensus.types import BlockIDFlag, Commit, ConsensusParams, Proposal, TimeoutParams, Vote
from consensus.validators import Validator, ValidatorPipeline, ValidatorUpdate
from tests.sim.harness import CHAIN_ID, GOSSIP_MS, SimNode, is_valid_value, verify_sig
from tests.sim.network import Clock, Network
from tests.sim.scenario import Scenario, make_scenario

PARAMS = ConsensusParams(
    TimeoutParams(
        propose_ms=200,
        propose_delta_ms=100,
        prevote_ms=100,
        prevote_delta_ms=50,
        precommit_ms=100,
        precommit_delta_ms=50,
        commit_ms=50,
    )
)
SKIP_PARAMS = ConsensusParams(replace(PARAMS.timeouts, skip_timeout_commit=True))
ROUNDS_BUDGET = 8
ABSENT = BlockIDFlag.ABSENT


class LingeringCore(ConsensusCore):
    """A Byzantine node's core that never decides ``linger_height``: it keeps voting and proposing there."""

    linger_height = 0

    def _rule_decision_ready(self, round_: int, value: bytes) -> bool:
        return self.height != self.linger_height and super()._rule_decision_ready(round_, value)


class Violation(Exception):
    pass


@dataclass
class Result:
    seed: int
    scenario: Scenario
    violation: str | None
    trace_hash: str
    lines_hit: Counter[str] = field(default_factory=Counter)
    events: int = 0
    decided_heights: int = 0
    end_ms: int = 0
    # with skip_timeout_commit: COMMIT steps of correct nodes that ended (the next height started), and those
    # of them that waited the full ``commit`` timeout because the decision round never held every precommit
    commit_steps: int = 0
    full_waits: int = 0

    @property
    def ok(self) -> bool:
        return self.violation is None

    def replay_command(self, variant: str | None = None) -> str:
        extra = f" --variant {variant}" if variant else ""
        return f".venv/bin/python -m tests.sim.replay --seed {self.seed}{extra}"


def key_of(i: int) -> tuple[bytes, bytes]:
    pub = hashlib.sha256(f"sim-validator-{i}".encode()).digest()
    return hashlib.sha256(pub).digest()[:20], pub


class Simulation:
    def __init__(
        self, seed: int, core_cls: type[ConsensusCore] = ConsensusCore, scenario: Scenario | None = None
    ) -> None:
        self.rng = random.Random(seed)
        # a given scenario (a dedicated test's) replaces the drawn one; the seed still drives the rest
        self.scenario = sc = scenario if scenario is not None else make_scenario(seed, self.rng)
        self.clock = Clock()
        self.net = Network(self.clock, self.rng, sc.net)
        self.net.deliver = self._deliver
        self._trace = hashlib.sha256()
        self.decisions: dict[int, bytes] = {}
        self.proposed: dict[int, set[bytes]] = {}
        self.violation: str | None = None
        self.deadline: int | None = None
        self._cut: tuple[int, int] | None = None  # (node, until_ms)
        self.commit_steps = 0
        self.full_waits: list[tuple[int, int]] = []  # (node, height) whose COMMIT step took the full timeout
        keys = [key_of(i) for i in range(sc.n + 1)]
        self.pub_keys = {a: p for a, p in keys}
        genesis = [Validator(keys[i][0], keys[i][1], sc.powers[i]) for i in range(sc.n)]
        pipeline = ValidatorPipeline.genesis(1, genesis)
        self.nodes: list[SimNode] = []
        for i in range(sc.n):
            self.nodes.append(self._node(i, keys[i], sc.role(i), core_cls, pipeline))
        twin_of = next((i for i, r in sc.roles if r == "twin"), None)
        if twin_of is not None:
            self.nodes.append(self._node(sc.n, keys[twin_of], "twin", core_cls, pipeline))
        elif sc.set_change:
            self.nodes.append(self._node(sc.n, keys[sc.n], None, core_cls, pipeline))
        self._updates = self._plan_updates(keys, twin_of)

    def _node(
        self, i: int, key: tuple[bytes, bytes], role: str | None, cls: type[ConsensusCore], pl: ValidatorPipeline
    ) -> SimNode:
        if role is not None:
            cls = ConsensusCore  # broken variants are for correct nodes only
        params = SKIP_PARAMS if self.scenario.skip_commit else PARAMS
        if self.scenario.commit_ms > 0:
            params = ConsensusParams(replace(params.timeouts, commit_ms=self.scenario.commit_ms))
        core = cls(key[0], params)
        if role == "equivocator" and self.scenario.cut_on_decide is not None:
            core = LingeringCore(key[0], params)  # the adversary stays in the attacked height
            core.linger_height = self.scenario.cut_on_decide
        return SimNode(self, i, key[0], key[1], role, core, pl)

    def _plan_updates(self, keys: list[tuple[bytes, bytes]], twin_of: int | None) -> list[ValidatorUpdate]:
        sc = self.scenario
        if not sc.set_change:
            return []
        ups: list[ValidatorUpdate] = []
        correct = [i for i in range(sc.n) if sc.role(i) is None]
        i = self.rng.choice(correct)
        ups.append(ValidatorUpdate(keys[i][1], sc.powers[i] + self.rng.randint(1, 3), keys[i][0]))
        if twin_of is None:  # the spare node joins as a validator
            ups.append(ValidatorUpdate(keys[sc.n][1], self.rng.randint(1, 3), keys[sc.n][0]))
        return sorted(ups, key=lambda u: u.address)

    def updates_at(self, height: int) -> list[ValidatorUpdate]:
        return self._updates if height == 1 else []

    # --- network glue ----------------------------------------------------------------------------
    def peers(self, src: int) -> list[int]:
        return [n.idx for n in self.nodes if n.idx != src]

    def send(self, src: int, dst: int, msg: Any) -> None:
        self.net.send(src, dst, msg)

    def broadcast(self, src: int, msg: Any) -> None:
        for dst in self.peers(src):
            self.net.send(src, dst, msg)

    def _deliver(self, dst: int, src: int, msg: Any) -> None:
        if isinstance(msg, Vote):
            tag = f"v{int(msg.type)}.{msg.height}.{msg.round}.{(msg.value_id or b'').hex()[:8]}"
        elif isinstance(msg, Proposal):
            tag = f"p{msg.height}.{msg.round}.{msg.value_id.hex()[:8]}"
        else:
            tag = repr(msg)[:24]
        if self._cut is not None and self.clock.now < self._cut[1] and self._cut[0] in (src, dst):
            return
        self._trace.update(f"{self.clock.now}|{src}>{dst}|{tag};".encode())
        self.nodes[dst].receive(src, msg)

    # --- checks ------------------------------------------------------------------------------------
    def fail(self, msg: str) -> None:
        if self.violation is None:
            self.violation = f"t={self.clock.now}ms: {msg}"
        raise Violation(msg)

    def note_proposed(self, height: int, value: bytes) -> None:
        self.proposed.setdefault(height, set()).add(value)

    def on_double_sign(self, node: SimNode, a: Vote, b: Vote) -> None:
        if node.correct:
            self.fail(f"node {node.idx} signed two votes for {(a.height, a.round, a.type.name)}")

    def on_decide(self, node: SimNode, height: int, round_: int, value: bytes, commit: Commit) -> None:
        self._trace.update(f"D{node.idx}.{height}.{round_}.{value.hex()[:8]};".encode())
        cut = self.scenario.cut_on_decide
        if cut == height and node.correct and self._cut is None and self.clock.now < self.scenario.net.gst_ms:
            self._cut = (node.idx, self.scenario.net.gst_ms)
        if not node.correct:
            return
        if len(node.decided) != height or node.decided[-1][0] != height:
            self.fail(f"node {node.idx} decided height {height} out of order ({node.decided[:-1]})")
        first = self.decisions.setdefault(height, value)
        if first != value:
            self.fail(f"agreement: height {height}: {first.hex()[:8]} vs {value.hex()[:8]} (node {node.idx})")
        if value not in self.proposed.get(height, set()) or not is_valid_value(value):
            self.fail(f"validity: node {node.idx} decided unproposed or invalid {value.hex()[:8]}")
        vs = node.pipeline.current
        verdict = verify_commit(CHAIN_ID, vs, height, value, commit, verify_sig)
        if not verdict:
            self.fail(f"node {node.idx} decided height {height} with a bad commit: {verdict.reason}")
        started = node.core.lines_hit.get("L11", 0)  # StartRound calls so far
        lived = started - node.rounds_before
        if node.last_decision_ms >= self.scenario.net.gst_ms and lived > len(vs) + 1:
            self.fail(f"liveness: node {node.idx} went through {lived} rounds at height {height} after GST")
        node.rounds_before, node.last_decision_ms = started, self.clock.now

    def on_next_height(self, node: SimNode, height: int) -> None:
        """A node's COMMIT step ended: skip_timeout_commit may end it early only with every precommit in."""
        if not node.correct:
            return
        self.commit_steps += 1
        if not node.core.commit_skipped:
            if self.scenario.skip_commit:
                self.full_waits.append((node.idx, height - 1))
            return
        commit = node.core.decided_commit()
        vs = node.core.valset
        assert commit is not None and vs is not None
        power = sum(v.power for v, s in zip(vs.validators, commit.signatures, strict=True) if s.flag != ABSENT)
        if power != vs.total_power:
            self.fail(f"node {node.idx} skipped the commit timeout of height {height - 1} with {power}/"
                      f"{vs.total_power} of the precommits")

    def correct_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes if n.correct]

    def _at_gst(self) -> None:
        r0 = max(n.core.round for n in self.correct_nodes())
        t = PARAMS.timeouts
        per_round = sum(
            t.propose_ms + t.prevote_ms + t.precommit_ms
            + r * (t.propose_delta_ms + t.prevote_delta_ms + t.precommit_delta_ms)
            + 6 * self.scenario.net.delta_ms + 2 * GOSSIP_MS
            for r in range(r0, r0 + ROUNDS_BUDGET)
        )  # fmt: skip
        self.deadline = self.clock.now + self.scenario.target_height * per_round

    def _starter(self, node: SimNode) -> Callable[[], None]:
        valset = node.pipeline.current
        return lambda: node.executor.start_height(1, valset)

    def _gossiper(self, node: SimNode) -> Callable[[], None]:
        def tick() -> None:
            node.gossip()
            self.clock.at(self.clock.now + GOSSIP_MS + self.rng.randint(0, 50), tick)

        return tick

    def _done(self) -> bool:
        target = self.scenario.target_height
        return all(len(n.decided) >= target for n in self.correct_nodes())

    def run(self) -> Result:
        for n in self.nodes:
            self.clock.at(self.rng.randint(0, 20), self._starter(n))
            self.clock.at(self.rng.randint(0, GOSSIP_MS), self._gossiper(n))
        self.clock.at(self.scenario.net.gst_ms, self._at_gst)
        events = 0
        try:
            while self.clock.step():
                events += 1
                if self.deadline is not None and self._done():
                    break
                if self.deadline is not None and self.clock.now > self.deadline:
                    lag = {n.idx: len(n.decided) for n in self.correct_nodes()}
                    self.fail(f"liveness: decided heights {lag} < {self.scenario.target_height} by deadline")
        except Violation:
            pass
        lines: Counter[str] = Counter()
        for n in self.nodes:
            lines.update(n.core.lines_hit)
        return Result(
            seed=self.scenario.seed,
            scenario=self.scenario,
            violation=self.violation,
            trace_hash=self._trace.hexdigest(),
            lines_hit=lines,
            events=sum(n.executor.events_handled for n in self.nodes),
            decided_heights=min((len(n.decided) for n in self.correct_nodes()), default=0),
            end_ms=self.clock.now,
            commit_steps=self.commit_steps,
            full_waits=len(self.full_waits),
        )


def run_seed(seed: int, core_cls: type[ConsensusCore] = ConsensusCore) -> Result:
    return Simulation(seed, core_cls).run()


def run_scenario(scenario: Scenario, core_cls: type[ConsensusCore] = ConsensusCore) -> Result:
    """Run a given (not drawn) scenario; ``scenario.seed`` seeds the network and everything else."""
    return Simulation(scenario.seed, core_cls, scenario).run()
