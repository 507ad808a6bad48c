"""The action executor shared by the real node and the simulator.

``Executor(core, ports...)`` turns the core's actions into port calls, in order, and feeds results back
into the core as events (FIFO, so each action list completes before its consequences are handled):

==================  ==========================================================================
action              execution
==================  ==========================================================================
RequestValue        ``values.request_value(h, r)``; an immediate id is fed back as ``ValueReady``
SignProposal        stamp time, ``signer.sign_proposal`` -> ``transport.broadcast_proposal`` ->
                    feed back ``ProposalReceived(signed, valid=True)`` (skipped if the guard refuses)
SignVote            stamp time, ``signer.sign_vote`` -> ``transport.broadcast_vote`` ->
                    feed back ``VoteReceived(signed)`` (skipped if the guard refuses)
ScheduleTimeout     ``timers.schedule(timeout, delay_ms)``
Decide              ``decisions.decide(h, r, value_id, commit)``
StartNextHeight     ``core.start_height(h, decisions.validator_set(h))``
ReportEvidence      ``evidence.report(evidence)``
==================  ==========================================================================

The executor is synchronous, has no asyncio, and is not thread-safe: call it from one thread (the
event loop).  The host drives it with ``start_height`` (first height after start-up or block sync) and
``handle(event)`` for every verified message, fired timer and late value.

A port may ``suspend()`` the executor while it runs an action (the node's ``decide`` commits the block in a
worker thread and must not see the next height start before the commit is done): the rest of the action
list and every event fed meanwhile wait, in order, until ``resume()``, which runs them. Without a suspend
the order of execution is exactly the unsuspended one (the simulator never suspends).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from consensus.machine import ConsensusCore
from consensus.types import (
    Action,
    Decide,
    Event,
    ProposalReceived,
    ReportEvidence,
    RequestValue,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    StartNextHeight,
    ValueReady,
    VoteReceived,
)
from consensus.validators import ValidatorSet
from node.ports import Clock, DecisionSink, EvidenceSink, Signer, Timers, Transport, ValueSource


class Executor:
    def __init__(
        self,
        core: ConsensusCore,
        *,
        signer: Signer,
        transport: Transport,
        timers: Timers,
        values: ValueSource,
        decisions: DecisionSink,
        evidence: EvidenceSink,
        clock: Clock,
    ) -> None:
        self.core = core
        self.signer = signer
        self.transport = transport
        self.timers = timers
        self.values = values
        self.decisions = decisions
        self.evidence = evidence
        self.clock = clock
        self.events_handled = 0
        # when the core entered its current (height, round), by `clock` (RPC consensus_state's start_time)
        self.round_started_ms: int | None = None
        self._round_seen: tuple[int, int] = (0, -1)
        self._pending: deque[Event] = deque()
        self._actions: deque[Action] = deque()  # of the event being handled (run before the next event)
        self._busy = False
        self._suspended = False

    def start_height(self, height: int, valset: ValidatorSet) -> None:
        """Start ``height`` with its validator set (start-up, or after block sync)."""
        actions = self.core.start_height(height, valset)
        self._note_round()
        self._run(actions)

    def handle(self, event: Event) -> None:
        """Feed one event; returns when it and everything it caused (own messages) are processed, or, while
        suspended, once it is queued."""
        self._pending.append(event)
        if not self._busy:
            self._run([])

    @property
    def suspended(self) -> bool:
        return self._suspended

    def suspend(self) -> None:
        """Called by a port inside an action: stop after it; what remains waits for ``resume()``."""
        self._suspended = True

    def resume(self) -> None:
        """Run what waited since ``suspend()``: the rest of the action list, then the queued events."""
        self._suspended = False
        if not self._busy:
            self._run([])

    def _run(self, actions: list[Action]) -> None:
        if self._busy:  # re-entrant start_height: run its actions now, ahead of the current work
            todo = deque(actions)
            while todo:
                if self._suspended:
                    self._actions.extendleft(reversed(todo))
                    return
                self._execute(todo.popleft())
            return
        self._busy = True
        try:
            self._actions.extend(actions)
            while not self._suspended:
                if self._actions:
                    self._execute(self._actions.popleft())
                elif self._pending:
                    ev = self._pending.popleft()
                    self.events_handled += 1
                    self._actions.extend(self.core.handle(ev))
                    self._note_round()
                else:
                    break
        except BaseException:
            self._actions.clear()  # as before: a failed action drops the rest of its list
            raise
        finally:
            self._busy = False

    def _note_round(self) -> None:
        seen = (self.core.height, self.core.round)
        if seen != self._round_seen:
            self._round_seen = seen
            self.round_started_ms = self.clock.now_ms()

    def _execute(self, a: Action) -> None:
        if isinstance(a, SignVote):
            vote = replace(a.vote, timestamp_ms=max(a.vote.timestamp_ms, self.clock.now_ms()))
            signed = self.signer.sign_vote(vote)
            if signed is not None:
                self.transport.broadcast_vote(signed)
                self._pending.append(VoteReceived(signed))
        elif isinstance(a, SignProposal):
            prop = replace(a.proposal, timestamp_ms=max(a.proposal.timestamp_ms, self.clock.now_ms()))
            signed_p = self.signer.sign_proposal(prop)
            if signed_p is not None:
                self.transport.broadcast_proposal(signed_p)
                self._pending.append(ProposalReceived(signed_p, True))
        elif isinstance(a, ScheduleTimeout):
            self.timers.schedule(a.timeout, a.delay_ms)
        elif isinstance(a, RequestValue):
            value = self.values.request_value(a.height, a.round)
            if value is not None:
                self._pending.append(ValueReady(a.height, a.round, value))
        elif isinstance(a, Decide):
            self.decisions.decide(a.height, a.round, a.value_id, a.commit)
        elif isinstance(a, StartNextHeight):  # its actions run next, ahead of the rest of the current list
            self._actions.extendleft(reversed(self.core.start_height(a.height, self.decisions.validator_set(a.height))))
        elif isinstance(a, ReportEvidence):
            self.evidence.report(a.evidence)
