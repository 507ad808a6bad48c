"""The node's commit worker thread: what it runs, and who touches what meanwhile.

A node has one commit worker thread (a one-thread executor, `node/assemble.py`; tests and tools may run
without one, and then all of this runs on the loop). Two jobs go to it, each handed over and taken back on
the event loop's thread:

- **Apply a decided block** (`CommitThread.commit`): steps 1-5 of `BlockApplier.apply` (block store, finalize,
  results and index, app commit, state); steps 6-7 (`Node._after_apply`: mempool update, events) on the loop.
- **Build our proposal's block** (`CommitThread.build_value` / `build`): prepare_proposal, the block, its
  bytes and hash, from the txs the loop reaped.

A peer's proposal is *not* validated here but on the loop (node/inbound.py `on_proposal`), whatever its
size. Measured at c7f84be (quiet machine, 4 validators on 2 cores, `egp bench --devnet`): in this thread its
validation waited behind the previous block's commit or our own build, the node's prevote came late, a slow
node then decided on the others' precommits without sending its own, and skip_timeout_commit's early start
(which needs every precommit) fell back to the full timeout_commit: at 1,000 tx/s blocks > 16 KiB validated
here gave p50 0.96 s / p99 2.63 s, all on the loop p50 0.27 s / p99 1.17 s; at 100 tx/s with 16 proof
clients on node 0, p95 0.88 -> 0.29 s. The price is a few ms of loop per 1,000-2,000-tx proposal whose txs
the node already holds (`inbound.validate_proposal`), more for txs it has not verified yet (their decoding).
The thread path (`INLINE_PROPOSAL_BYTES`, live only in tests since 2f93e55) was removed.

Who touches what: it is a single thread, so the two never run beside one another, and a block's finalize
or commit never runs beside a proposal's build. While a block commits, the worker owns the application, the
block store's writes, the results, the index and the state store; the loop touches none of them (see
`commit`). A build reads the application's committed state and its signature cache, the block and state
stores (read only) and a `ChainState` snapshot, and makes new objects; the loop keeps the mempool, the
consensus core and executor, the WAL, gossip and the node's per-height maps (`blocks`, `proposals`,
`votes`), and takes each result back only if the node is still where it was. No lock is needed: nothing is
touched by two threads at once.

Kept apart from node/node.py so that the thread rules sit in one file next to the code they govern.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor as ThreadExecutor
from typing import TYPE_CHECKING

from consensus.types import ValueId, ValueReady
from node import blockrules
from node.applier import Applied, AppPort
from node.logs import get_logger
from node.statestore import ChainState
from state.chain import Block, Commit, FinalizeBlockResult
from state.kv import Batch

if TYPE_CHECKING:
    from node.node import Node

log = get_logger("node")


class LockingAppPort:
    """The applier's app port when blocks are committed in the worker thread: `commit()` first runs
    `before_commit` (`CommitThread.lock_mempool_for_commit`: the loop pauses check_tx), then the app's commit."""

    def __init__(self, app: AppPort) -> None:
        self.app = app
        self.before_commit: Callable[[], None] = lambda: None

    def finalize(self, block: Block, misbehavior: Sequence[bytes]) -> FinalizeBlockResult:
        return self.app.finalize(block, misbehavior)

    def commit(self, batch: Batch | None = None) -> None:
        self.before_commit()
        self.app.commit(batch)


class CommitThread:
    """The jobs a node hands to its commit worker thread, and the loop's side of each (see the module)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # decided blocks are applied in this worker thread when set (node/assemble.py), else on the loop
        self.executor: ThreadExecutor | None = None
        self.committing = False  # a decided block is in the worker (`commit` to `_end_commit`)
        self.idle = asyncio.Event()  # set when no block is being committed (`Node.wait_idle`)
        self.idle.set()
        self.job: asyncio.Future[Applied] | None = None
        self.lock_installed = False  # install_lock: the mempool is locked for app.commit only
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0
        self.after_commit: list[Callable[[], None]] = []  # the loop's work deferred to the end of the commit

    # ------------------------------------------------------------------ our proposal's block
    def build_value(self, height: int, round_: int, st: ChainState, last_commit: Commit, t: int,
                    reaped: list[bytes], budget: int, evidence: list[bytes]) -> ValueId | None:
        """`Node.request_value`'s block, from what the loop reaped: built in the worker (None now; the executor
        gets ValueReady when it is built), or here without a worker (tests, tools: its id now)."""
        if self.executor is None:  # no worker (tests, tools): built here
            return self._value_built(height, round_, self.build(st, last_commit, t, reaped, budget, evidence))
        job = asyncio.get_running_loop().run_in_executor(self.executor, self.build, st, last_commit, t,
                                                         reaped, budget, evidence)
        job.add_done_callback(lambda f: self._on_value_built(f, height, round_))
        return None  # the executor gets ValueReady when the block is built

    def build(self, st: ChainState, last_commit: Commit, t: int, reaped: list[bytes], budget: int,
              evidence: list[bytes]) -> tuple[Block, bytes, bytes]:
        """The proposal's block from the reaped txs: prepare_proposal, the block, its encoding and hash
        (100-170 ms at 2,000 txs on a loaded machine). In the commit worker thread when there is one, so the
        loop keeps serving peers, votes and RPC meanwhile. Who touches what: this thread reads the
        application's committed state and its signature cache (as finalize does: the loop's check_tx only
        adds to that cache) and builds new objects from `st`, a snapshot; it runs in the single commit
        thread, so never beside a block's finalize or commit, and the committed state it reads cannot move."""
        n = self.node
        assert n.address is not None
        txs = n.app.prepare(reaped, budget, st.height, t, n.address)[:blockrules.MAX_TXS_PER_BLOCK]
        block = blockrules.make_block(st, n.address, last_commit, t, txs, evidence)
        return block, block.packed(), block.hash()  # (the bytes of block.encode(), ~10x cheaper)

    def _value_built(self, height: int, round_: int, built: tuple[Block, bytes, bytes]) -> ValueId | None:
        """On the loop: keep the built block as a candidate of `height`, unless the node moved on."""
        n = self.node
        block, raw, h = built
        if height != n.state.height:
            return None
        log.debug("proposing block", height=height, round=round_, txs=len(block.txs), mempool=len(n.mempool))
        n.blocks[h] = (block, raw)
        return h

    def _on_value_built(self, job: asyncio.Future[tuple[Block, bytes, bytes]], height: int, round_: int) -> None:
        """Back on the loop from `build` in the worker: the value goes to the consensus executor (the
        core ignores it if it left that height and round meanwhile, and its propose timeout runs anyway)."""
        n = self.node
        if job.cancelled() or n.stopping or n.fatal:
            return
        exc = job.exception()
        if exc is not None:
            if not n.storage_failed(exc):
                log.error("building the proposal failed", height=height, round=round_,
                          reason=f"{type(exc).__name__}: {exc}")
            return
        h = self._value_built(height, round_, job.result())
        if h is None:
            return
        try:
            n.executor.handle(ValueReady(height, round_, h))
        except Exception as e:
            if not n.storage_failed(e):
                log.error("consensus step failed", exc=True, height=n.core.height, round=n.core.round)

    # ------------------------------------------------------------------ a decided block
    def commit(self, block: Block, seen_commit: Commit, round_: int) -> None:
        """Steps 1-5 of a decided block (`BlockApplier.apply`: block store, finalize, results and index,
        app commit, state) in the commit worker thread, so the loop keeps answering RPC, WebSocket pings and
        peers' frames meanwhile; steps 6-7 (`Node._after_apply`) on the loop when it is done.

        Who touches what while the worker commits: the worker owns the application, the block store's writes,
        the results, the index and the state store. The loop touches none of them: the consensus executor is
        suspended (timeouts and the rest of the action list wait), the admission queue is paused (verified txs
        wait for check_tx), peers' messages wait in the p2p inbox (`node/assemble.py` `_pump` awaits
        `wait_idle`), `Node._on_timeout`, `Node.handle_payload` and `Node._replay_future` are deferred to the
        end of the commit (`after_commit`), the tick is skipped, and RPC methods that read
        chain state await `Node.wait_idle` (node/rpc/server.py `commit_gate`). New txs keep being admitted
        (check_tx on the loop) while the worker finalizes; the admission queue is paused from app.commit to
        the end (`lock_mempool_for_commit`, through the applier's `LockingAppPort`; without one, for the whole
        commit). `Node.state` keeps the last committed state until the loop takes the new one."""
        assert self.executor is not None
        n = self.node
        self.committing = True
        self.idle.clear()
        n.executor.suspend()
        loop = asyncio.get_running_loop()
        self.loop, self.loop_thread = loop, threading.get_ident()
        if not self.lock_installed:  # no LockingAppPort: hold check_tx for the whole commit
            n.admission.pause()
        job = loop.run_in_executor(self.executor, n.applier.apply, n.state, block, seen_commit)
        self.job = job
        job.add_done_callback(lambda f: self._committed(f, block, round_))

    def install_lock(self, port: LockingAppPort) -> None:
        """`port` is the app port of this node's applier: its `commit()` will lock the mempool first."""
        port.before_commit = self.lock_mempool_for_commit
        self.lock_installed = True

    def lock_mempool_for_commit(self) -> None:
        """In the commit worker, between finalize (+ results and index) and app.commit: ask the loop to pause
        the admission queue and wait until it has (a check_tx runs within one loop callback, so none is half
        done then). From here to the end of the commit nothing reaches check_tx (CometBFT locks the mempool
        for Commit, not for FinalizeBlock): while the worker finalizes, new txs are checked on the loop against
        the check state of the last height (the app's check state and finalize share nothing but the
        signature cache, which finalize only reads); the re-check after the commit judges them again.
        Elsewhere (the handshake, a commit on the loop) it does nothing."""
        loop = self.loop
        if loop is None or not self.committing or threading.get_ident() == self.loop_thread:
            return
        paused = threading.Event()

        def pause() -> None:
            self.node.admission.pause()
            paused.set()

        loop.call_soon_threadsafe(pause)
        while not paused.wait(1.0):
            if loop.is_closed():  # the node is gone: nothing can reach check_tx any more
                return

    def _committed(self, job: asyncio.Future[Applied], block: Block, round_: int) -> None:
        """Back on the loop after the worker's steps 1-5 (or their failure)."""
        self.job = None
        try:
            if job.cancelled():
                return
            exc = job.exception()
            if exc is not None:
                try:
                    raise exc
                except Exception as e:  # logged with its traceback by _commit_failed
                    self.node._commit_failed(block.header.height, e)
                return
            self.node._after_apply(block, job.result(), round_)
        finally:
            self._end_commit()

    def _end_commit(self) -> None:
        n = self.node
        self.committing = False
        self.idle.set()
        if n.fatal or n.stopping:  # nothing new starts after the block in flight
            return
        n.admission.resume()
        after, self.after_commit = self.after_commit, []
        try:
            n.executor.resume()
        except Exception as exc:
            if not n.storage_failed(exc):
                log.error("consensus step failed", exc=True, height=n.core.height, round=n.core.round)
        for fn in after:
            fn()
