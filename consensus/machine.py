"""The round machine: Algorithm 1 of "The latest gossip on BFT consensus" (arXiv:1807.04938), line by line.

``ConsensusCore`` holds the state of process p at one height (``h_p, round_p, step_p, lockedValue_p,
lockedRound_p, validValue_p, validRound_p, decision``) and the message log of that height (a
``VoteKeeper`` and the proposals).  After every event it evaluates the paper's upon-rules until none
fires; each rule is one method named after its first line and each branch records its label in
``lines_hit`` (a test asserts the simulator reaches them all).

Mux (event -> rules)::

    ProposalReceived -> log -> L49 L55 L22 L28 L34 L36 L44 L47 (until quiescent); L49 deciding in round_p
                        before our precommit signs it first (decide_precommit, below)
    VoteReceived     -> log -> (same)            ; second different vote -> ReportEvidence
                        after the decision: log only (late precommits fill ``decided_commit``)
    CommitReceived   -> log the value as known at its round (for L49 only) -> (same rules); decide_commit
    TimeoutFired     -> L57 / L61 / L65 (with staleness guards), COMMIT -> StartNextHeight
    ValueReady       -> L19 (the proposer's getValue() answered)

The COMMIT step (between L51's decision and the next height's StartRound, L52-L54) is not in the paper:
it is CometBFT's ``timeout_commit``, the wait that lets the late precommits in so the next block's
LastCommit names every validator that voted.  With ``timeouts.skip_timeout_commit`` it ends as soon as
the decision round holds a precommit of every validator, as CometBFT's ``skip_timeout_commit`` does with
``LastCommit.HasAll()``: a 0 ms COMMIT timeout is scheduled next to the full one, so a shell may still
hold the early one (the node does while its mempool is empty) and the full one ends the wait anyway.
The decision is already final, so this touches no safety rule; a validator that never precommits keeps
the full wait, so LastCommits are as full as without the option.

Precommit at the decision (``_rule_precommit_decided``, label ``decide_precommit``; not in the paper).  The
mux evaluates L49 first, so a process whose proposal of round r arrives after 2f+1 precommits for it decides
at once and, by the paper, never precommits: its precommit is missing from every commit of r, and with
``skip_timeout_commit`` the others never hold every precommit and wait the full ``commit`` timeout (1 s on
the devnet, whenever one node is slower than the rest).  So when p decides v at r = round_p while step_p <
PRECOMMIT, it first emits ``SignVote(<PRECOMMIT, h_p, round_p, id(v)>)``, then ``Decide`` (in that order: a
shell may suspend at Decide while it commits the block, and the vote need not wait for it).  Nothing else
changes; the height ends there as before.  Why this is safe:

1. *No double sign.*  p signs votes only at (h_p, round_p), and every precommit it signs sets step_p =
   PRECOMMIT in the same step (L41, L46, L64); step_p < PRECOMMIT therefore means p signed no precommit at
   (h_p, round_p), and once DECIDED it signs nothing more at h_p.  The signer's rule (node/privval.py:
   (height, round, step) never goes back, one message per step) accepts it: (h, r, precommit) comes after
   our proposal or prevote of (h, r) and after everything of earlier rounds (tests/consensus).  A decision
   of a round p already left (r < round_p) gets no precommit: the signer would refuse it, and it is rare (p
   left r by L65 before the proposal came, ``precommit`` later than the others' precommits).
2. *A run of the paper's algorithm.*  2f+1 precommits for v at r include one of a correct process, which
   precommitted at L36 after receiving 2f+1 prevotes for v at r: that polka was sent.  Take the schedule that
   delivers it and the proposal to p before the 2f+1 precommits (the asynchronous network and the Byzantine
   senders may do so): p prevotes (L22/L28, maybe nil if locked), then L36 (which has no lock condition)
   makes it precommit v, then L49 decides v.  Our run differs only in what p receives and in p's round-r
   prevote, which may never have been sent (in any finite prefix, one still in flight).  So every finite
   prefix of a run with this rule is, for every other process, a prefix of a run of Algorithm 1, and p's
   decision is the same v; agreement and validity are properties of finite prefixes that the paper proves
   for every schedule and every Byzantine behaviour, so they hold unchanged.  Directly: a precommit moves no
   lock or valid value (those follow prevotes, L28/L36/L42); others read it only in L47 (a timeout), L49 (a
   decision on v, which agreement already forces) and L55 (a round skip, liveness only).
3. *Liveness* loses nothing: one more message, sent once.

Evaluating L22/L28/L36 before L49 (the other way to get that precommit: any order of enabled upon-rules is
the paper's) was not taken: it helps only when p already holds the round's polka (often it does not: the
precommits outrun the prevotes too), adds a prevote and its signature per occurrence, and reorders the mux.
The precommit is signed with or without ``skip_timeout_commit``: it also puts p in the next block's
LastCommit.  The simulator (tests/sim/test_late_proposal.py: one validator receiving proposals 60 ms late, 1 s
``commit``) counted 540 of 698 COMMIT steps ending only at the full timeout before, 4 after (decisions of a
round the node had left); with no late node 28 of 707 before (a proposal racing the precommits), 4 after.

A value known from a commit (``CommitReceived``, label ``decide_commit``; not in the paper).  A node that
falls a little behind gets its current height's block from a peer's block sync (node/node.py
``apply_synced_block``): the block and the commit the peer stored with it, 2f+1 signed precommits of round r
for id(v), often without the round's proposal (it went by while the node was busy with the previous height).
The shell feeds those precommits as ordinary ``VoteReceived`` (they are signed precommits of h_p; the vote log
counts them as any other), then ``CommitReceived(h_p, r, id(v), valid)``, which logs v as a value known at r.
That known value counts in L49 alone, in place of ``<PROPOSAL, h_p, r, v, *>`` from proposer(h_p, r): no other
rule reads it (L22/L28/L36 read only proposals), so it can make p decide and, through ``decide_precommit``,
precommit v at r, nothing else.  Before it, the node committed such a block beside the core: it never sent its
precommit, and the others, waiting for every precommit (``skip_timeout_commit``), waited the full ``commit``.
Why this is safe:

1. *Decision.*  L49 reads its proposal only to learn v: the paper's agreement rests on the 2f+1 precommits
   for id(v) at r (among them f+1 of correct processes, locked on v at r), which the core counts in its own
   log, each signature checked by the shell like any vote's.  The shell holds v itself (a block that hashes to
   id(v)) and its verdict valid(v) (check_block; a correct process that precommitted v found it valid, and
   validity is deterministic).  A decision by ``decide_commit`` is therefore a decision L49 would take in the
   schedule that delivers the proposal first, and that proposal exists: a correct process precommitted v at r
   at L36, upon ``<PROPOSAL, h_p, r, v, *>`` from proposer(h_p, r).
2. *The precommit.*  ``decide_precommit`` runs as for a proposal (r = round_p, step_p < PRECOMMIT), and its
   argument holds word for word: the schedule that delivers the proposal and the polka (both sent, as above)
   before the precommits makes p precommit v at L36 and decide at L49.
3. *Nothing else moves.*  No lock, valid value, prevote, proposal or round change follows from the event
   itself (the votes fed before it act as votes do: L47, L55, evidence).  A commit of a round outside the
   window (r > round_p + ``round_window``) is refused with its votes; the shell then commits the block beside
   the core as before (as it does when it is not in consensus or the core is not at that height).

The lock rules are the paper's (L22-L33): no CometBFT unlock-on-polka.  Round skip (L55) needs f+1 power of
messages of one higher round.  Hooks prefixed ``_rule_`` exist only so that tests can build broken variants.
"""

from __future__ import annotations

from consensus.commit import make_commit
from consensus.types import (
    NIL_ROUND,
    VALUE_ID_LEN,
    Action,
    Address,
    BlockIDFlag,
    Commit,
    CommitReceived,
    ConsensusParams,
    Decide,
    Event,
    Proposal,
    ProposalReceived,
    ReportEvidence,
    RequestValue,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    StartNextHeight,
    Step,
    Timeout,
    TimeoutFired,
    TimeoutKind,
    ValueId,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)
from consensus.validators import ValidatorSet
from consensus.votes import Tally, ThresholdKind, VoteKeeper

MAX_PROPOSALS_PER_ROUND = 4  # distinct values kept per round from an equivocating proposer
PAPER_LINES = (
    "L11", "L14", "L15", "L17", "L19", "L21", "L22", "L24", "L26", "L28", "L30", "L32", "L34",
    "L36", "L38", "L42", "L44", "L47", "L49", "L51", "L55", "L57", "L61", "L65",
)  # fmt: skip


class ConsensusCore:
    """Pure Tendermint core for one validator (or a non-voting observer when ``address`` is None)."""

    def __init__(self, address: Address | None, params: ConsensusParams | None = None) -> None:
        self.address = address
        self.params = params or ConsensusParams()
        self.lines_hit: dict[str, int] = {}
        self.height = 0
        self.round = NIL_ROUND
        self.step = Step.DECIDED
        self.decision: ValueId | None = None
        self.locked_value: ValueId | None = None
        self.locked_round = NIL_ROUND
        self.valid_value: ValueId | None = None
        self.valid_round = NIL_ROUND
        self.valset: ValidatorSet | None = None
        self.keeper: VoteKeeper | None = None
        self._proposals: dict[int, dict[ValueId, tuple[Proposal, bool]]] = {}
        self._committed: dict[int, dict[ValueId, bool]] = {}  # values known from a commit (CommitReceived)
        self._proposers: dict[int, Address] = {}
        self._skip_rounds: set[int] = set()
        self._done: set[tuple[str, int]] = set()  # "for the first time" guards: (line, round)
        self._awaiting_value: tuple[int, int] | None = None
        self._decision_round = NIL_ROUND

    # --- public API ----------------------------------------------------------------------------
    def start_height(self, height: int, valset: ValidatorSet) -> list[Action]:
        """Enter ``height`` with its validator set; resets the height state and starts round 0."""
        self.height, self.valset = height, valset
        self.decision = self.locked_value = self.valid_value = None
        self.locked_round = self.valid_round = NIL_ROUND
        self.keeper = VoteKeeper(height, valset, self.params.round_window)
        self._proposals, self._proposers, self._skip_rounds, self._done = {}, {}, set(), set()
        self._committed = {}
        self._awaiting_value = None
        self._decision_round = NIL_ROUND
        out: list[Action] = []
        self._start_round(0, out)
        self._run_rules(out)
        return out

    def handle(self, event: Event) -> list[Action]:
        out: list[Action] = []
        if self.keeper is None:
            return out
        if isinstance(event, TimeoutFired):
            self._on_timeout(event.timeout, out)
        elif self.step is Step.DECIDED:
            if isinstance(event, VoteReceived) and self._on_vote(event.vote, out):
                self._maybe_skip_commit_timeout(out)  # late precommits of the decision round
            return out
        elif isinstance(event, VoteReceived):
            if not self._on_vote(event.vote, out):
                return out
        elif isinstance(event, ProposalReceived):
            if not self._on_proposal(event.proposal, event.valid):
                return out
        elif isinstance(event, ValueReady):
            self._on_value_ready(event, out)
        elif isinstance(event, CommitReceived) and not self._on_commit_value(event):
            return out
        if self.step is not Step.DECIDED:
            self._run_rules(out)
        return out

    def decided_commit(self) -> Commit | None:
        """The commit of this height's decision with every precommit of its round logged so far (the late
        ones included), or None before the decision.  The shell reads it when the COMMIT step ends (right
        before ``start_height`` of the next height) to keep the fullest LastCommit."""
        if self.decision is None or self.keeper is None or self.valset is None:
            return None
        tally = self.keeper.tally(self._decision_round, VoteType.PRECOMMIT) or Tally()
        return make_commit(self.valset, self.height, self._decision_round, self.decision, tally)

    @property
    def commit_skipped(self) -> bool:
        """True once ``skip_timeout_commit`` scheduled this height's early (0 ms) COMMIT timeout; the full
        ``commit_ms`` one still fires later (StartNextHeight is emitted for the first that reaches the core)."""
        return self.decision is not None and ("skip_commit", self._decision_round) in self._done

    def proposed_values(self, round_: int) -> list[ValueId]:
        """The values proposed at ``round_`` of this height, in arrival order (read-only, for RPC views)."""
        return list(self._proposals.get(round_, {}))

    def proposer(self, round_: int) -> Address:
        """``proposer(h_p, round)``."""
        p = self._proposers.get(round_)
        if p is None:
            assert self.valset is not None
            p = self._proposers[round_] = self.valset.proposer_at(round_)
        return p

    # --- helpers ---------------------------------------------------------------------------------
    def _hit(self, line: str) -> None:
        self.lines_hit[line] = self.lines_hit.get(line, 0) + 1

    def _timeout(self, kind: TimeoutKind, out: list[Action]) -> None:
        delay = self.params.timeouts.duration_ms(kind, self.round)
        out.append(ScheduleTimeout(Timeout(kind, self.height, self.round), delay))

    def _vote(self, vote_type: VoteType, value: ValueId | None, out: list[Action]) -> None:
        if self.address is not None and self.valset is not None and self.valset.power_of(self.address) > 0:
            out.append(SignVote(Vote(vote_type, self.height, self.round, value, self.address)))

    def _power(self, round_: int, vote_type: VoteType, value: ValueId | None) -> int:
        assert self.keeper is not None
        return self.keeper.power_for(round_, vote_type, value)

    def _two_thirds(self, power: int) -> bool:
        assert self.valset is not None
        return self.valset.has_two_thirds(power)

    def _current_proposals(self) -> list[tuple[Proposal, bool]]:
        return list(self._proposals.get(self.round, {}).values())

    # --- StartRound (L11-L21) -----------------------------------------------------------------
    def _start_round(self, round_: int, out: list[Action]) -> None:
        self._hit("L11")
        self.round, self.step = round_, Step.PROPOSE
        assert self.keeper is not None
        self.keeper.max_round = round_ + self.params.round_window
        if self.address is not None and self.proposer(round_) == self.address:
            self._hit("L14")
            if self.valid_value is not None:  # L15
                self._hit("L15")
                self._propose(self.valid_value, out)
            else:  # L17: getValue(), answered by ValueReady
                self._hit("L17")
                self._awaiting_value = (self.height, round_)
                out.append(RequestValue(self.height, round_))
        else:  # L21
            self._hit("L21")
            self._timeout(TimeoutKind.PROPOSE, out)

    def _propose(self, value: ValueId, out: list[Action]) -> None:
        self._hit("L19")
        assert self.address is not None
        out.append(SignProposal(Proposal(self.height, self.round, value, self.valid_round, self.address)))

    def _on_value_ready(self, ev: ValueReady, out: list[Action]) -> None:
        if self._awaiting_value != (ev.height, ev.round) or (ev.height, ev.round) != (self.height, self.round):
            return
        self._awaiting_value = None
        if self.step is Step.PROPOSE and len(ev.value_id) == VALUE_ID_LEN:
            self._propose(self.valid_value if self.valid_value is not None else ev.value_id, out)

    # --- message log -----------------------------------------------------------------------------
    def _on_vote(self, vote: Vote, out: list[Action]) -> bool:
        if vote.value_id is not None and len(vote.value_id) != VALUE_ID_LEN:
            return False
        assert self.keeper is not None
        res = self.keeper.add(vote)
        if res.evidence is not None:
            out.append(ReportEvidence(res.evidence))
        for t in res.thresholds:
            if t.kind is ThresholdKind.SKIP:
                self._skip_rounds.add(t.round)
        return res.added

    def _on_proposal(self, p: Proposal, valid: bool) -> bool:
        assert self.keeper is not None
        if p.height != self.height or not 0 <= p.round <= self.keeper.max_round:
            return False
        if not NIL_ROUND <= p.pol_round < p.round or len(p.value_id) != VALUE_ID_LEN:
            return False
        if p.proposer != self.proposer(p.round):
            return False
        by_value = self._proposals.setdefault(p.round, {})
        if p.value_id in by_value or len(by_value) >= MAX_PROPOSALS_PER_ROUND:
            return False
        by_value[p.value_id] = (p, valid)
        t = self.keeper.note_sender(p.round, p.proposer)
        if t is not None:
            self._skip_rounds.add(t.round)
        return True

    def _on_commit_value(self, ev: CommitReceived) -> bool:
        """Log a value known from a commit at its round (read by L49 only); same bounds as a proposal's."""
        assert self.keeper is not None
        if ev.height != self.height or not 0 <= ev.round <= self.keeper.max_round:
            return False
        if len(ev.value_id) != VALUE_ID_LEN:
            return False
        by_value = self._committed.setdefault(ev.round, {})
        if ev.value_id in by_value or len(by_value) >= MAX_PROPOSALS_PER_ROUND:
            return False
        by_value[ev.value_id] = ev.valid
        return True

    # --- upon rules ----------------------------------------------------------------------------
    def _run_rules(self, out: list[Action]) -> None:
        rules = (self._l49, self._l55, self._l22, self._l28, self._l34, self._l36, self._l44, self._l47)
        fired = True
        while fired and self.step is not Step.DECIDED:
            fired = False
            for rule in rules:
                if rule(out):
                    fired = True
                    break

    def _rule_lock_allows(self, value: ValueId, pol_round: int) -> bool:
        """L23 (pol_round == -1) / L29: lockedRound_p = -1 (resp. <= vr) or lockedValue_p = v."""
        if pol_round == NIL_ROUND:
            return self.locked_round == NIL_ROUND or self.locked_value == value
        return self.locked_round <= pol_round or self.locked_value == value

    def _l22(self, out: list[Action]) -> bool:
        if self.step is not Step.PROPOSE:
            return False
        for p, valid in self._current_proposals():
            if p.pol_round == NIL_ROUND:  # L22: <PROPOSAL, h_p, round_p, v, -1> from proposer
                self._hit("L22")
                if valid and self._rule_lock_allows(p.value_id, NIL_ROUND):
                    self._hit("L24")
                    self._vote(VoteType.PREVOTE, p.value_id, out)
                else:
                    self._hit("L26")
                    self._vote(VoteType.PREVOTE, None, out)
                self.step = Step.PREVOTE  # L27
                return True
        return False

    def _l28(self, out: list[Action]) -> bool:
        if self.step is not Step.PROPOSE:
            return False
        for p, valid in self._current_proposals():
            vr = p.pol_round
            if 0 <= vr < self.round and self._two_thirds(self._power(vr, VoteType.PREVOTE, p.value_id)):
                self._hit("L28")
                if valid and self._rule_lock_allows(p.value_id, vr):
                    self._hit("L30")
                    self._vote(VoteType.PREVOTE, p.value_id, out)
                else:
                    self._hit("L32")
                    self._vote(VoteType.PREVOTE, None, out)
                self.step = Step.PREVOTE  # L33
                return True
        return False

    def _l34(self, out: list[Action]) -> bool:
        if self.step is not Step.PREVOTE or ("L34", self.round) in self._done:
            return False
        assert self.keeper is not None
        t = self.keeper.tally(self.round, VoteType.PREVOTE)
        if t is None or not self._two_thirds(t.power):
            return False
        self._hit("L34")
        self._done.add(("L34", self.round))
        self._timeout(TimeoutKind.PREVOTE, out)
        return True

    def _l36(self, out: list[Action]) -> bool:
        if self.step < Step.PREVOTE or ("L36", self.round) in self._done:
            return False
        for p, valid in self._current_proposals():
            if valid and self._two_thirds(self._power(self.round, VoteType.PREVOTE, p.value_id)):
                self._hit("L36")
                self._done.add(("L36", self.round))
                if self.step is Step.PREVOTE:
                    self._hit("L38")
                    self.locked_value, self.locked_round = p.value_id, self.round  # L38-L39
                    self._vote(VoteType.PRECOMMIT, p.value_id, out)  # L40
                    self.step = Step.PRECOMMIT  # L41
                self._hit("L42")
                self.valid_value, self.valid_round = p.value_id, self.round  # L42-L43
                return True
        return False

    def _l44(self, out: list[Action]) -> bool:
        if self.step is not Step.PREVOTE or not self._two_thirds(self._power(self.round, VoteType.PREVOTE, None)):
            return False
        self._hit("L44")
        self._vote(VoteType.PRECOMMIT, None, out)  # L45
        self.step = Step.PRECOMMIT  # L46
        return True

    def _l47(self, out: list[Action]) -> bool:
        if ("L47", self.round) in self._done:
            return False
        assert self.keeper is not None
        t = self.keeper.tally(self.round, VoteType.PRECOMMIT)
        if t is None or not self._rule_precommit_quorum(t.power):
            return False
        self._hit("L47")
        self._done.add(("L47", self.round))
        self._timeout(TimeoutKind.PRECOMMIT, out)
        return True

    def _rule_precommit_quorum(self, power: int) -> bool:
        """2f+1 precommits (L47, L49)."""
        return self._two_thirds(power)

    def _rule_decision_ready(self, round_: int, value: ValueId) -> bool:
        """L49: 2f+1 <PRECOMMIT, h_p, r, id(v)>."""
        return self._rule_precommit_quorum(self._power(round_, VoteType.PRECOMMIT, value))

    def _l49(self, out: list[Action]) -> bool:
        if self.decision is not None:
            return False
        for r in sorted(self._proposals.keys() | self._committed.keys()):
            for p, valid in self._proposals.get(r, {}).values():
                if self._rule_decision_ready(r, p.value_id):
                    self._hit("L49")
                    if not valid:
                        continue
                    self._hit("L51")
                    self._decide(r, p.value_id, out)
                    return True
            for value, valid in self._committed.get(r, {}).items():  # v known from a commit (module docstring)
                if valid and self._rule_decision_ready(r, value):
                    self._hit("decide_commit")
                    self._decide(r, value, out)
                    return True
        return False

    def _decide(self, round_: int, value: ValueId, out: list[Action]) -> None:
        assert self.keeper is not None and self.valset is not None
        # before Decide: a shell may suspend at Decide (the node commits the block first); this vote need not wait
        self._rule_precommit_decided(round_, value, out)
        self.decision, self._decision_round = value, round_  # L51; L52-L54 (next height) happen in start_height
        tally = self.keeper.tally(round_, VoteType.PRECOMMIT) or Tally()
        commit = make_commit(self.valset, self.height, round_, value, tally)
        out.append(Decide(self.height, round_, value, commit))
        self.step = Step.DECIDED
        delay = self.params.timeouts.duration_ms(TimeoutKind.COMMIT, round_)
        out.append(ScheduleTimeout(Timeout(TimeoutKind.COMMIT, self.height, round_), delay))
        # the full-length timeout is always scheduled: a shell may hold the early one (an idle node does)
        self._maybe_skip_commit_timeout(out)

    def _rule_precommit_decided(self, round_: int, value: ValueId, out: list[Action]) -> None:
        """Deciding (L51) in our current round before we precommitted in it (``step_p`` < PRECOMMIT: the
        proposal came after 2f+1 precommits for it): sign our precommit for the decided value first, so the
        decision round's commit can still become full (``skip_timeout_commit``).  Not in the paper; the safety
        argument is in the module docstring.  Never in another round, nor after a precommit of this one."""
        if round_ != self.round or self.step >= Step.PRECOMMIT:
            return
        self._hit("decide_precommit")
        self._vote(VoteType.PRECOMMIT, value, out)  # (h_p, round_p): the step guard says it is the only one

    def _rule_skip_commit_timeout(self, commit: Commit) -> bool:
        """``skip_timeout_commit`` and the commit carries a precommit (COMMIT or NIL) of the whole power."""
        if not self.params.timeouts.skip_timeout_commit:
            return False
        assert self.valset is not None
        power = sum(v.power for v, s in zip(self.valset.validators, commit.signatures, strict=True)
                    if s.flag != BlockIDFlag.ABSENT)
        return power == self.valset.total_power

    def _maybe_skip_commit_timeout(self, out: list[Action]) -> None:
        """COMMIT step: the decision's commit, or a late precommit completing it, holds every validator's
        precommit -> end the wait now: a 0 ms COMMIT timeout next to the full one (once per height)."""
        r = self._decision_round
        if ("skip_commit", r) in self._done or not self.params.timeouts.skip_timeout_commit:
            return
        commit = self.decided_commit()
        if commit is not None and self._rule_skip_commit_timeout(commit):
            self._hit("skip_commit")
            self._done.add(("skip_commit", r))
            out.append(ScheduleTimeout(Timeout(TimeoutKind.COMMIT, self.height, r), 0))

    def _l55(self, out: list[Action]) -> bool:
        higher = [r for r in self._skip_rounds if r > self.round]
        if not higher:
            return False
        self._hit("L55")
        self._start_round(max(higher), out)  # L56
        return True

    # --- timeouts (L57-L67) ---------------------------------------------------------------------
    def _rule_timeout_current(self, t: Timeout, step: Step | None) -> bool:
        """The staleness guard: h = h_p and r = round_p (and step_p = ``step`` when given)."""
        return t.height == self.height and t.round == self.round and (step is None or self.step is step)

    def _on_timeout(self, t: Timeout, out: list[Action]) -> None:
        if t.kind is TimeoutKind.COMMIT:
            # once per height: with skip_timeout_commit the rescheduled (0 ms) and the original timeout both fire
            if t.height == self.height and self.step is Step.DECIDED and ("next", 0) not in self._done:
                self._done.add(("next", 0))
                out.append(StartNextHeight(self.height + 1))
            return
        if self.step is Step.DECIDED:
            return
        if t.kind is TimeoutKind.PROPOSE and self._rule_timeout_current(t, Step.PROPOSE):
            self._hit("L57")
            self._vote(VoteType.PREVOTE, None, out)  # L59
            self.step = Step.PREVOTE  # L60
        elif t.kind is TimeoutKind.PREVOTE and self._rule_timeout_current(t, Step.PREVOTE):
            self._hit("L61")
            self._vote(VoteType.PRECOMMIT, None, out)  # L63
            self.step = Step.PRECOMMIT  # L64
        elif t.kind is TimeoutKind.PRECOMMIT and self._rule_timeout_current(t, None):
            self._hit("L65")
            self._start_round(self.round + 1, out)  # L67
