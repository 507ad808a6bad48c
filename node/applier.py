"""The commit path, in CometBFT's crash-safety order, shared by consensus, block sync and the handshake.

    1. save block + seen commit (block store, fsynced)          crash point "after_save_block"
    2. app.finalize_block (runs on an overlay, persists nothing) crash point "after_finalize"
    3. one atomic batch, fsynced: the FinalizeBlock results +    crash points "after_save_results",
       index entries, app.commit, and the `ChainState` of the    "after_app_commit", "after_save_state"
       new height                                                (one state now)
    4. mempool update (remove committed txs, re-check the rest)
    5. events (NewBlock, Tx; broadcast_tx_commit waiters)

Why this order: after every step the three heights (app, block store, state) are in one of the cases the
handshake (`node/handshake.py`) knows how to finish: a crash between 1 and 3 leaves the block saved but
neither the app nor the state moved (replay the block); after 3 everything moved together. Nothing is
lost, and the app hash is checked against the next header.

Two synced writes per block. There were four (results, app commit, state), as in CometBFT, whose app is
another process with its own database; here the app, the block store and the state share one LevelDB, so
step 3 can be one atomic batch (`Application.commit(batch)` adds the app's writes to it). The handshake's
case "the app moved but the state did not" (rebuild the state from the saved results) can no longer be
produced by this path; it stays for homes written before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from node import memtrim
from node.statestore import ChainState, StateStore, update_state
from state.chain import Block, Commit, FinalizeBlockResult
from state.kv import KV, Batch


class AppPort(Protocol):
    """What the commit path needs from the application (adapted from `state.abci.Application`)."""

    def finalize(self, block: Block, misbehavior: Sequence[bytes]) -> FinalizeBlockResult: ...

    def commit(self, batch: Batch | None = None) -> None:
        """With `batch`, add the app's writes to it; the applier commits it before anything reads the app."""


class StorePort(Protocol):
    @property
    def height(self) -> int: ...

    @property
    def base(self) -> int: ...

    def load_seen_commit(self, height: int) -> Commit | None: ...

    def save_seen_commit(self, height: int, commit: Commit, batch: Batch | None = None) -> None: ...

    def defer_seen_commit(self, height: int, commit: Commit) -> None: ...

    def save_block(self, block: Block, seen_commit: Commit) -> object: ...

    def load_block(self, height: int) -> Block | None: ...

    def load_block_bytes(self, height: int) -> bytes | None: ...

    def save_results(self, height: int, result: FinalizeBlockResult, batch: Batch | None = None) -> None: ...

    def load_results(self, height: int) -> FinalizeBlockResult | None: ...


CrashHook = Callable[[str, int], None]
IndexHook = Callable[[Batch, Block, FinalizeBlockResult], None]


def _no_crash(point: str, height: int) -> None:
    return None


@dataclass
class Applied:
    block: Block
    result: FinalizeBlockResult
    state: ChainState


class BlockApplier:
    """Runs steps 1-5; the node runs 6-7 (they are in memory and need the asyncio loop)."""

    def __init__(self, app: AppPort, store: StorePort, root: KV, states: StateStore, crash: CrashHook = _no_crash,
                 index: IndexHook | None = None) -> None:
        self.root = root
        self.index = index
        self.app = app
        self.store = store
        self.states = states
        self.crash = crash

    def apply(self, state: ChainState, block: Block, seen_commit: Commit, *, save_block: bool = True) -> Applied:
        """Commit `block` (already validated, its commit verified) on top of `state`; returns the new state."""
        h = block.header.height
        if save_block:
            self.store.save_block(block, seen_commit)
            self.crash("after_save_block", h)
        result = self.app.finalize(block, block.evidence)
        self.crash("after_finalize", h)
        batch = self.root.batch()
        if self.index is not None:  # first: its pass also makes the results' bytes (Indexer.index_chain_block)
            self.index(batch, block, result)
        self.store.save_results(h, result, batch)
        self.app.commit(batch)
        new_state = self.state_after(state, block, result)
        self.states.save(new_state, batch)
        batch.commit(sync=True)  # results, index, the app's state and ours: one atomic, durable write
        self.crash("after_save_results", h)
        self.crash("after_app_commit", h)
        self.crash("after_save_state", h)
        memtrim.after_commit(len(block.txs))  # the C heap's free pages back to the kernel (node/memtrim.py)
        return Applied(block, result, new_state)

    @staticmethod
    def state_after(state: ChainState, block: Block, result: FinalizeBlockResult) -> ChainState:
        return update_state(state, block.block_id(), block.header, result)


CRASH_POINTS = ("after_save_block", "after_finalize", "after_save_results", "after_app_commit", "after_save_state")
