"""The commit hold: when the next height starts after a decision (docs/design.md section 9).

A COMMIT timeout of the height the core is deciding in does not always start the next height at once:
`CommitHold.holds` keeps it while the next block is not due (`create_empty_blocks = false`: CometBFT's
"wait for txs"), while skip_timeout_commit's early start would only make a smaller block (`wait_for_txs`: an
empty mempool or an admission backlog), and puts off an early start by `timeouts.next_block_delay`. What is
held is released by an admitted tx (`release(force=False)`, which re-checks the rule and waits out what is
left of the delay), a peer's message of the next height (`release()`), a timer bound to that very hold
(`release_if_held`), or the full timeout. A released timeout goes back through `Node._on_timeout` with
`hold=False`, which hands it to the consensus executor.

Kept apart from node/node.py because it is one small state machine (five fields) with its own rules and
tests (tests/node/test_holds.py, tests/devnet/test_cadence.py). Everything here runs on the event loop's
thread; it reads the node's mempool, admission queue, state, store and core, and writes only its own fields.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from consensus.types import Step, TimeoutFired, TimeoutKind
from node import blockrules

if TYPE_CHECKING:
    from node.node import Node

BACKLOG_TXS = 200  # txs waiting for admission that make a backlog (`CommitHold.wait_for_txs`): a tenth of a full block


class CommitHold:
    """The held COMMIT timeout of a node and what releases it; on the loop only."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.held: TimeoutFired | None = None
        self.early = False  # `held` is an early (skip_timeout_commit) commit timeout held for txs
        # loop time at which skip_timeout_commit ended the current commit wait: the next height starts
        # `timeouts.next_block_delay_ms` after it at the earliest (genesis; CometBFT v1's next_block_delay)
        self.skipped_at = 0.0
        self.delayed_release: TimeoutFired | None = None  # the early hold a release timer is set for
        self.commit_fired: object = None  # the COMMIT timeout that fired last (its first fire is told apart)

    def holds(self, ev: TimeoutFired) -> bool:
        """`ev` fired (not deferred by a commit in progress): True if it is held or put off here, False if it
        goes to the consensus executor now."""
        n = self.node
        t = ev.timeout
        # only the commit wait the core is in may be held: with skip_timeout_commit a height has two COMMIT
        # timeouts, and the late one of a height already left must not replace (and so lose) a held one
        if not (t.kind == TimeoutKind.COMMIT and n.in_consensus and t.height == n.core.height
                and n.core.step is Step.DECIDED):
            return False
        first, self.commit_fired = t != self.commit_fired, t
        self.early = False
        if not blockrules.block_due(n.state, n.store, len(n.mempool), n.opt.create_empty_blocks):
            self.held = ev  # CometBFT's "wait for txs": released by a tx, a peer's next height, or the interval
            interval = n.opt.create_empty_blocks_interval_ms
            if interval > 0:
                # bound to this hold: a timer of an earlier hold must not release a later one early
                asyncio.get_running_loop().call_later(interval / 1000, self.release_if_held, ev)
            return True
        if first and n.core.commit_skipped:
            self.skipped_at = asyncio.get_running_loop().time()
            if self.wait_for_txs():
                # skip_timeout_commit ended the wait early, but starting now would only make a smaller
                # block (see wait_for_txs): held until admitted txs change that (and next_block_delay has
                # passed), a peer's next-height message, or the original timeout
                self.held, self.early = ev, True
                return True
            if n.opt.params.timeouts.next_block_delay_ms > 0:
                # skip_timeout_commit ended the wait the moment every precommit was in; start the next
                # height `timeouts.next_block_delay` later (genesis, 100 ms as generated) so that at low
                # load a block carries a few txs instead of one or two, each block paying its fixed work
                # (signatures, fsyncs, re-check) again: re-entered as a plain timeout (no longer `first`),
                # so the holds above do not apply twice
                asyncio.get_running_loop().call_later(self.next_block_delay_s(), lambda: n._on_timeout(ev, True))
                return True
        if self.held is not None and self.held.timeout == ev.timeout:
            self.held = None
        return False

    def release(self, force: bool = True) -> None:
        """Start the next height held by `holds`; an admitted tx (`force=False`) releases an early
        (skip_timeout_commit) hold only once `wait_for_txs` no longer holds, and not before
        `next_block_delay` after the precommits were in (a peer's next-height message, `force`, does)."""
        if not force and self.early:
            if self.wait_for_txs():
                return
            wait = self.skipped_at + self.next_block_delay_s() - asyncio.get_running_loop().time()
            if wait > 0:
                if self.delayed_release != self.held:  # one timer per hold, however many txs come
                    self.delayed_release = self.held
                    asyncio.get_running_loop().call_later(wait, self.release_if_held, self.held)
                return
        ev, self.held = self.held, None
        if ev is not None:
            self.node._on_timeout(ev, hold=False)

    def release_if_held(self, ev: TimeoutFired | None) -> None:
        """A delayed release of `ev` (see `release`): only if it (the same timeout: height, round, kind) is
        still what is held, never a later hold."""
        if ev is not None and self.held == ev:
            self.release()

    def next_block_delay_s(self) -> float:
        return self.node.opt.params.timeouts.next_block_delay_ms / 1000

    def wait_for_txs(self) -> bool:
        """skip_timeout_commit would start the next height now: hold it while that only makes a smaller
        block. With nothing to propose, an idle chain keeps timeout_commit as its block interval; with more
        txs still in the admission queue than in the mempool (a backlog), the wait lets them in, so the block
        is as big as without skip instead of many small blocks each paying the per-block work (consensus,
        fsyncs, the re-check of the whole mempool); a few queued txs at low load do not hold it. Either way
        the full timeout ends the hold."""
        n = len(self.node.mempool)
        return n == 0 or (n < blockrules.MAX_TXS_PER_BLOCK and self.node.admission.pending >= max(n, BACKLOG_TXS))
