"""Simulated nodes: the real ``ConsensusCore`` behind the real ``node.executor.Executor``.

Each ``SimNode`` implements the executor's ports over the virtual clock and the seeded network.
Signatures are keyed hashes (``sha256(pub_key || sign_bytes)``) over the real canonical sign bytes: as
unforgeable inside the simulation as Ed25519 and much faster.  Byzantine behaviour lives in the shell
(transport, value source, extra messages); the core of every node is the same class.

Gossip: every ``GOSSIP_MS`` a node re-sends its own signed messages of its current height and a status
(its height); a peer that already decided that height answers with the decision certificate (the
proposal and the precommits of its commit), which the laggard's core decides from (L49).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from consensus.commit import commit_vote
from consensus.machine import ConsensusCore
from consensus.sign_bytes import proposal_sign_bytes, vote_sign_bytes
from consensus.types import (
    BlockIDFlag,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    ProposalReceived,
    Step,
    Timeout,
    TimeoutFired,
    ValueId,
    Vote,
    VoteReceived,
    VoteType,
)
from consensus.validators import ValidatorPipeline, ValidatorSet
from node.executor import Executor

if TYPE_CHECKING:
    from tests.sim.runner import Simulation

CHAIN_ID = "egp-sim"
GOSSIP_MS = 250
MAX_FUTURE = 1000  # next-height messages kept per node (``scenario.buffer_next``)


def sign(pub_key: bytes, msg: bytes) -> bytes:
    return hashlib.sha256(pub_key + msg).digest()


def verify_sig(pub_key: bytes, msg: bytes, sig: bytes) -> bool:
    return hashlib.sha256(pub_key + msg).digest() == sig


def is_valid_value(value_id: bytes) -> bool:
    """The application's validity predicate in the simulation."""
    return len(value_id) == 32 and value_id[0] != 0xFF


class SimNode:
    def __init__(
        self,
        sim: Simulation,
        idx: int,
        address: bytes | None,
        pub_key: bytes | None,
        role: str | None,
        core: ConsensusCore,
        pipeline: ValidatorPipeline,
    ) -> None:
        self.sim = sim
        self.idx = idx
        self.address = address
        self.pub_key = pub_key
        self.role = role
        self.correct = role is None
        self.core = core
        self.pipeline = pipeline
        self.rng: random.Random = sim.rng
        self.signed: dict[tuple[int, int, int], Vote] = {}
        self.own: list[Any] = []  # own signed messages of the current height
        self.proposals: dict[tuple[int, int, bytes], Proposal] = {}
        self.certs: dict[int, tuple[Proposal, list[Vote]]] = {}
        self.decided: list[tuple[int, bytes]] = []
        self.evidence = 0
        self.rounds_before = 0  # StartRound count at the previous decision (liveness in rounds)
        self.last_decision_ms = 0
        self.evil: dict[tuple[int, int], bytes] = {}  # equivocator: its other proposal per (h, r)
        self.future: list[tuple[int, Any]] = []  # messages of the next height (``scenario.buffer_next``)
        self.executor = Executor(
            core,
            signer=self,
            transport=self,
            timers=self,
            values=self,
            decisions=self,
            evidence=self,
            clock=sim.clock,
        )

    # --- ports -----------------------------------------------------------------------------------
    def sign_vote(self, vote: Vote) -> Vote | None:
        assert self.pub_key is not None
        key = (vote.height, vote.round, int(vote.type))
        prior = self.signed.get(key)
        if prior is not None and prior.value_id != vote.value_id:
            self.sim.on_double_sign(self, prior, vote)
        self.signed[key] = vote
        return replace(vote, signature=sign(self.pub_key, vote_sign_bytes(CHAIN_ID, vote)))

    def sign_proposal(self, proposal: Proposal) -> Proposal | None:
        assert self.pub_key is not None
        self.sim.note_proposed(proposal.height, proposal.value_id)
        return replace(proposal, signature=sign(self.pub_key, proposal_sign_bytes(CHAIN_ID, proposal)))

    def broadcast_vote(self, vote: Vote) -> None:
        self.own.append(vote)
        if self.role in ("double_voter", "equivocator"):
            self._double_vote(vote)
        elif self.role != "silent":
            self.sim.broadcast(self.idx, vote)

    def broadcast_proposal(self, proposal: Proposal) -> None:
        self.own.append(proposal)
        self.proposals[(proposal.height, proposal.round, proposal.value_id)] = proposal
        if self.role == "equivocator":
            self._equivocate(proposal)
        elif self.role != "silent":
            self.sim.broadcast(self.idx, proposal)

    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        self.sim.clock.at(self.sim.clock.now + delay_ms, lambda: self.executor.handle(TimeoutFired(timeout)))

    def request_value(self, height: int, round_: int) -> ValueId | None:
        v = bytearray(hashlib.sha256(f"{self.sim.scenario.seed}/{self.idx}/{height}/{round_}".encode()).digest())
        if v[0] == 0xFF:
            v[0] = 0
        if not self.correct and self.rng.random() < self.sim.scenario.invalid_rate:
            v[0] = 0xFF  # a Byzantine proposer proposes an invalid value
        return bytes(v)

    def decide(self, height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        prop = self.proposals.get((height, round_, value_id))
        assert prop is not None, "decided without the proposal"
        votes = [commit_vote(commit, s) for s in commit.signatures if s.flag == BlockIDFlag.COMMIT]
        self.certs[height] = (prop, votes)
        self.record_decision(height, round_, value_id, commit)

    def record_decision(self, height: int, round_: int, value_id: ValueId, commit: Commit) -> None:
        """What a decision leaves in the node (and tells the simulation), however the value was learnt."""
        self.decided.append((height, value_id))
        self.sim.on_decide(self, height, round_, value_id, commit)
        self.pipeline = self.pipeline.advance(self.sim.updates_at(height))
        self.own = []
        self.proposals = {k: p for k, p in self.proposals.items() if k[0] > height}

    def validator_set(self, height: int) -> ValidatorSet:
        assert self.pipeline.height == height, (self.pipeline.height, height)
        self.sim.on_next_height(self, height)
        if self.future:  # replayed once the core is at `height` (right after this event, as the node does)
            future, self.future = self.future, []
            self.sim.clock.at(self.sim.clock.now, lambda: self._replay(future))
        return self.pipeline.current

    def report(self, evidence: DuplicateVoteEvidence) -> None:
        self.evidence += 1

    # --- network side ------------------------------------------------------------------------------
    def receive(self, src: int, msg: Any) -> None:
        if (
            self.sim.scenario.buffer_next
            and isinstance(msg, (Vote, Proposal))
            and msg.height == self.core.height + 1
            and len(self.future) < MAX_FUTURE
        ):
            self.future.append((src, msg))
            return
        if isinstance(msg, Vote):
            pub = self.sim.pub_keys.get(msg.validator)
            if pub is None or (msg.value_id is not None and len(msg.value_id) != 32):
                return
            if not verify_sig(pub, vote_sign_bytes(CHAIN_ID, msg), msg.signature):
                return
            self.executor.handle(VoteReceived(msg))
        elif isinstance(msg, Proposal):
            late, late_ms = self.sim.scenario.late_proposals
            if late == self.idx and late_ms > 0:  # a slow validator: its proposal validation runs late
                self.sim.clock.at(self.sim.clock.now + late_ms, lambda: self._receive_proposal(msg))
            else:
                self._receive_proposal(msg)
        elif isinstance(msg, tuple) and msg and msg[0] == "status":
            cert = self.certs.get(msg[1])
            if cert is not None and self.role in (None, "twin"):  # other Byzantine roles never help
                prop, votes = cert
                self.sim.send(self.idx, src, prop)
                for v in votes:
                    self.sim.send(self.idx, src, v)
        # anything else is garbage: dropped by the shell

    def _replay(self, msgs: list[tuple[int, Any]]) -> None:
        for src, m in msgs:
            self.receive(src, m)

    def _receive_proposal(self, msg: Proposal) -> None:
        pub = self.sim.pub_keys.get(msg.proposer)
        if pub is None or len(msg.value_id) != 32:
            return
        if not verify_sig(pub, proposal_sign_bytes(CHAIN_ID, msg), msg.signature):
            return
        keeper = self.core.keeper
        if (
            msg.height == self.core.height
            and keeper is not None
            and 0 <= msg.round <= keeper.max_round
            and msg.proposer == self.core.proposer(msg.round)
        ):
            self.proposals.setdefault((msg.height, msg.round, msg.value_id), msg)
        self.executor.handle(ProposalReceived(msg, is_valid_value(msg.value_id)))

    def gossip(self) -> None:
        if self.role == "silent":
            return
        if self.role == "garbage":
            self._garbage()
        for m in self.own:
            if self.role == "equivocator" and isinstance(m, Proposal):
                continue
            if self.role in ("double_voter", "equivocator") and isinstance(m, Vote):
                continue
            self.sim.broadcast(self.idx, m)
        self._relay()
        self.sim.broadcast(self.idx, ("status", self.core.height))

    def _relay(self) -> None:
        """Relay the proof of the node's valid value (proposal + its polka) and the current proposals.

        The paper assumes gossip: what one correct process received, every correct process receives
        after GST.  Relaying the valid value's polka (as CometBFT gossips POL prevotes) is what matters
        for liveness (L28); decisions travel as certificates.
        """
        c, k = self.core, self.core.keeper
        if k is None:
            return
        if self.sim.clock.now >= self.sim.scenario.net.gst_ms and c.step is not Step.DECIDED:
            # after GST also relay the votes of the previous and current round, so that every correct
            # node sees what moved another one to its round (the paper's gossip assumption)
            for r in (c.round - 1, c.round):
                for vt in (VoteType.PREVOTE, VoteType.PRECOMMIT):
                    t = k.tally(r, vt)
                    if t is not None:
                        for v in [*t.votes.values(), *t.conflicting.values()]:
                            if v.validator != self.address:
                                self.sim.broadcast(self.idx, v)
        for (h, r, _), p in self.proposals.items():
            if h == c.height and r == c.round:
                self.sim.broadcast(self.idx, p)
        if c.valid_round >= 0 and c.valid_value is not None:
            vp = self.proposals.get((c.height, c.valid_round, c.valid_value))
            if vp is not None:
                self.sim.broadcast(self.idx, vp)
            t = k.tally(c.valid_round, VoteType.PREVOTE)
            if t is not None:
                for addr in list(t.votes):
                    pol = t.vote_for(addr, c.valid_value)
                    if pol is not None:
                        self.sim.broadcast(self.idx, pol)

    # --- Byzantine behaviour ----------------------------------------------------------------------
    def _other_value(self, v: bytes | None) -> bytes:
        w = bytearray(hashlib.sha256(b"evil" + (v or b"") + bytes([self.rng.randrange(256)])).digest())
        if self.rng.random() < 0.5:
            w[0] = 0xFF
        return bytes(w)

    def _stale_pol(self, proposal: Proposal) -> Proposal | None:
        """A proposal re-using the oldest polka this node saw (to push locked nodes into L32)."""
        k = self.core.keeper
        if k is None:
            return None
        for r in k.rounds():
            t = k.tally(r, VoteType.PREVOTE)
            if r >= proposal.round or t is None or r == proposal.pol_round:
                continue
            for v, power in sorted(t.power_by_value.items(), key=lambda kv: kv[0] or b""):
                if v is not None and k.valset.has_two_thirds(power):
                    return replace(proposal, value_id=v, pol_round=r, signature=b"")
        return None

    def _equivocate(self, proposal: Proposal) -> None:
        stale = self._stale_pol(proposal) if self.rng.random() < 0.5 else None
        # otherwise a fresh value (pol_round -1): only the lock (L23) keeps correct nodes off it
        fresh = self._other_value(proposal.value_id)
        other = stale or replace(proposal, value_id=fresh, pol_round=-1, signature=b"")
        self.evil[(other.height, other.round)] = other.value_id
        other = self.sign_proposal(other) or other
        pol: list[Vote] = []
        k = self.core.keeper
        t = k.tally(other.pol_round, VoteType.PREVOTE) if k is not None and other.pol_round >= 0 else None
        if t is not None:  # reveal the (possibly secret) polka behind the stale proposal
            pol = [v for a in list(t.votes) if (v := t.vote_for(a, other.value_id)) is not None]
        peers = self.sim.peers(self.idx)
        lucky = self.rng.choice(peers)
        split = self.rng.random() < 0.5
        if self.sim.scenario.cut_on_decide is not None:  # targeted attack: the fresh value to all
            lucky, split = -1, False
        for dst in peers:
            if (self.rng.random() < 0.5) if split else (dst == lucky):
                self.sim.send(self.idx, dst, proposal)
            else:
                self.sim.send(self.idx, dst, other)
                for v in pol:
                    self.sim.send(self.idx, dst, v)

    def _double_vote(self, vote: Vote) -> None:
        assert self.pub_key is not None
        evil = self.evil.get((vote.height, vote.round))
        if evil is not None and evil == vote.value_id:  # its own equivocating value: back it openly
            self.sim.broadcast(self.idx, vote)
            return
        if evil is not None:
            alt_value: bytes | None = evil  # back its own equivocating proposal
        elif vote.value_id is not None and self.rng.random() < 0.5:
            alt_value = None
        else:
            alt_value = self._other_value(None)
        alt = replace(vote, value_id=alt_value)
        alt = replace(alt, signature=sign(self.pub_key, vote_sign_bytes(CHAIN_ID, alt)))
        # split the peers at random, or show the real vote to one peer only (a polka only it sees),
        # or to nobody (kept for a stale proposal)
        peers = self.sim.peers(self.idx)
        mode = self.rng.randrange(3) if self.sim.scenario.cut_on_decide is None else 2
        lucky = self.rng.choice(peers)
        for dst in peers:
            real = self.rng.random() < 0.5 if mode == 0 else (mode == 1 and dst == lucky)
            self.sim.send(self.idx, dst, vote if real else alt)

    def _garbage(self) -> None:
        assert self.pub_key is not None and self.address is not None
        h, r = self.core.height, self.core.round
        junk: list[Any] = [
            ("junk", self.rng.randbytes(8)),
            Vote(VoteType.PREVOTE, h, r, self.rng.randbytes(32), self.address, 0, self.rng.randbytes(32)),
        ]
        for height, round_ in ((h + 1000, 0), (h, r + 10**6), (h, r + 5), (h + 1, r)):
            v = Vote(VoteType(self.rng.choice((1, 2))), height, round_, self._other_value(None), self.address)
            junk.append(replace(v, signature=sign(self.pub_key, vote_sign_bytes(CHAIN_ID, v))))
        p = Proposal(h, r + 3, self._other_value(None), self.rng.choice((-5, r + 7)), self.address)
        junk.append(replace(p, signature=sign(self.pub_key, proposal_sign_bytes(CHAIN_ID, p))))
        for m in junk:
            self.sim.broadcast(self.idx, m)
