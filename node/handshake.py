"""Start-up handshake: bring the application and the node state level with the block store.

Three heights are compared (CometBFT `consensus/replay.go`): A = the application's (`info`), S = the
block store's, T = the node state's (`ChainState.last_height`). The commit path (`node/applier.py`) only
ever leaves these cases behind:

- S == T, A == S: nothing to do.
- S == T, A < S: the app lost blocks (a fresh app, or its data was wiped): replay A+1..S into the app
  (finalize + commit), checking each resulting app hash against the next header / the state.
- S == T+1 (a crash after saving block S, before the state): replay A+1..T into the app, then
  - A <= T: apply block S through the full commit path (finalize, results, app commit, state);
  - A == S: the app committed S but the state was not saved: rebuild the state from the results saved
    with it, without executing the block again (CometBFT's "mock app" case; the commit path now writes the
    app's commit and the state in one batch, so only homes written before that leave this case).
- A > S, S > T+1, or T > S: the stores disagree in a way no crash can produce: refuse to start with a
  clear error (an operator restored one directory from another backup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node.applier import BlockApplier
from node.logs import get_logger
from node.statestore import ChainState
from state.chain import Commit

log = get_logger("handshake")


class HandshakeError(Exception):
    """The stores cannot be reconciled; the node must not start."""


class InfoPort(Protocol):
    def last_height_and_hash(self) -> tuple[int, bytes]: ...


@dataclass
class HandshakeReport:
    app_height: int
    store_height: int
    state_height: int
    replayed: int
    state: ChainState


def _replay_into_app(applier: BlockApplier, app: InfoPort, state: ChainState, upto: int) -> int:
    """Finalize + commit blocks app_height+1..upto into the app only (the state already has them)."""
    a, _ = app.last_height_and_hash()
    n = 0
    for h in range(a + 1, upto + 1):
        block = applier.store.load_block(h)
        if block is None:
            raise HandshakeError(f"block {h} missing from the block store; cannot replay it into the app")
        result = applier.app.finalize(block, block.evidence)
        applier.app.commit()
        expected = _expected_app_hash(applier, state, h)
        if expected is not None and result.app_hash != expected:
            raise HandshakeError(
                f"app hash mismatch replaying block {h}: got {result.app_hash.hex()}, expected {expected.hex()}")
        n += 1
    return n


def _expected_app_hash(applier: BlockApplier, state: ChainState, h: int) -> bytes | None:
    nxt = applier.store.load_block(h + 1)
    if nxt is not None:
        return nxt.header.app_hash
    if h == state.last_height:
        return state.app_hash
    return None


def handshake(applier: BlockApplier, app: InfoPort, state: ChainState) -> HandshakeReport:
    a, a_hash = app.last_height_and_hash()
    s = applier.store.height
    t = state.last_height
    log.info("handshake", app_height=a, store_height=s, state_height=t)
    if a > s:
        raise HandshakeError(f"the application is at height {a}, ahead of the block store ({s})")
    if t > s:
        raise HandshakeError(f"the node state is at height {t}, ahead of the block store ({s})")
    if s > t + 1:
        raise HandshakeError(f"the block store ({s}) is more than one block ahead of the node state ({t})")
    replayed = 0
    if s == t:
        replayed = _replay_into_app(applier, app, state, s)
        a, a_hash = app.last_height_and_hash()
        if s > 0 and a_hash != state.app_hash:
            raise HandshakeError(f"app hash {a_hash.hex()} at height {a} differs from the state's "
                                 f"{state.app_hash.hex()}")
        return HandshakeReport(a, s, t, replayed, state)
    # s == t + 1: the last block was saved but the state was not
    block = applier.store.load_block(s)
    if block is None:
        raise HandshakeError(f"block {s} missing from the block store")
    if a < t:
        replayed += _replay_into_app(applier, app, state, t)
        a, a_hash = app.last_height_and_hash()
    if a == t:
        applied = applier.apply(state, block, Commit.empty(), save_block=False)
        return HandshakeReport(a, s, t, replayed + 1, applied.state)
    # a == s: the app committed block s; the results were saved before the app's commit
    result = applier.store.load_results(s)
    if result is None:
        raise HandshakeError(f"results of block {s} missing although the app committed it")
    if result.app_hash != a_hash:
        raise HandshakeError(f"saved results of block {s} disagree with the app's hash")
    new_state = BlockApplier.state_after(state, block, result)
    applier.states.save(new_state)
    return HandshakeReport(a, s, t, replayed, new_state)
