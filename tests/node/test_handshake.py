"""The commit path and the start-up handshake on real LevelDB with the real application.

A one-validator chain is built in process (real signatures, real txs); a crash is injected at each step of
the commit path (the hook raises, and everything is reopened from disk), then the handshake must bring the
node to exactly the state of a run without the crash: same heights, same app hash, same state.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from consensus.bft_time import block_time_ms
from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node.applier import CRASH_POINTS, BlockApplier
from node.assemble import NS_APP, NS_NODE
from node.blockstore import BlockStore
from node.convert import commit_to_consensus, valset_from_info
from node.genesis import Genesis, GenesisValidator
from node.handshake import HandshakeError, handshake
from node.nodeapp import NodeApp
from node.statestore import ChainState, StateStore, state_from_genesis
from state import chain
from state.abci import Application
from state.crypto import PrivateKey, sha256
from state.kv_level import LevelKV
from state.txs import PublishRequirement, sign_tx

CHAIN = "egp-hs"
T0 = 1_767_225_600_000
VAL = PrivateKey.from_seed(sha256(b"hs-validator"))
AGENCY = PrivateKey.from_seed(sha256(b"hs-agency"))


class Crash(Exception):
    pass


def genesis() -> Genesis:
    state = {
        "registrar": {"code": "REG", "name": "registrar", "keys": [sha256(b"r").hex()]},
        "agencies": [{"code": "CGD", "name": "CGD", "keys": [AGENCY.public_key.raw.hex()]}],
    }
    return Genesis(CHAIN, T0 * 1_000_000, (GenesisValidator(VAL.public_key.raw, 10, "v"),), app_state=state)


class Stack:
    """Everything the commit path touches, opened on one LevelDB directory."""

    def __init__(self, path: Path, crash_at: str | None = None, crash_height: int = 0, *,
                 record: bool = True) -> None:
        self.kv = LevelKV(path)
        self.store = BlockStore(self.kv)
        # record: the app keeps its own replay record; else it answers a replay from the block store's results,
        # as the node builds it (tests/node/test_replay_record.py)
        self.app = NodeApp(Application(self.kv.prefixed(NS_APP),
                                       stored_response=None if record else self.store.load_results))
        self.states = StateStore(self.kv, NS_NODE)

        def hook(point: str, h: int) -> None:
            if point == crash_at and h == crash_height:
                raise Crash(point)

        self.applier = BlockApplier(self.app, self.store, self.kv, self.states, hook)
        st = self.states.load()
        if st is None:
            st = state_from_genesis(genesis(), self.app.init_chain(genesis()))
            self.states.save(st)
        self.state: ChainState = st

    def close(self) -> None:
        self.kv.close()


def next_block(st: ChainState, store: BlockStore, nonce: int) -> tuple[chain.Block, chain.Commit]:
    h = st.height
    txs = [sign_tx(AGENCY, CHAIN, nonce, PublishRequirement(f"R{h}", f"P{h}", "1", "PERF", 1000, T0 + 10**11, 0,
                                                            "F"))]
    if h == st.initial_height:
        last, t = chain.Commit.empty(), st.last_block_time_ms
    else:
        seen = store.load_seen_commit(h - 1)
        assert seen is not None and st.last_validators is not None
        last = seen
        t = block_time_ms(commit_to_consensus(seen), valset_from_info(st.last_validators), st.last_block_time_ms)
    block = chain.build_block(st.block_context(), time_ms=t, proposer_address=VAL.address, txs=txs,
                              last_commit=last)
    vote = Vote(VoteType.PRECOMMIT, h, 0, block.hash(), VAL.address, t + 500)
    sig = VAL.sign(vote_sign_bytes(CHAIN, vote))
    commit = chain.Commit(h, 0, block.block_id(), (chain.CommitSig(chain.FLAG_COMMIT, VAL.address, t + 500, sig),))
    return block, commit


def run(path: Path, blocks: int, crash_at: str | None = None, crash_height: int = 0) -> tuple[int, bytes]:
    """Commit `blocks` blocks, crashing once if asked, reopening and handshaking after the crash."""
    s = Stack(path, crash_at, crash_height)
    nonce = 0
    while s.state.last_height < blocks:
        block, commit = next_block(s.state, s.store, nonce)
        try:
            s.state = s.applier.apply(s.state, block, commit).state
            nonce += 1
        except Crash:
            s.close()
            s = Stack(path)  # restart: nothing but the disk survives
            s.state = handshake(s.applier, s.app, s.state).state
            nonce = s.state.last_height  # one tx per block
    result = (s.state.last_height, s.state.app_hash)
    assert s.app.last_height_and_hash() == result
    assert s.store.height == blocks
    s.close()
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, bytes]:
    return run(tmp_path_factory.mktemp("ref") / "db", 4)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_each_step_then_handshake_recovers_the_same_state(
    tmp_path: Path, point: str, reference: tuple[int, bytes]
) -> None:
    assert run(tmp_path / "db", 4, crash_at=point, crash_height=3) == reference


def test_app_wiped_is_replayed_from_the_block_store(tmp_path: Path, reference: tuple[int, bytes]) -> None:
    run(tmp_path / "db", 4)
    s = Stack(tmp_path / "db")
    b = s.kv.batch()
    for k, _ in s.kv.prefixed(NS_APP).iterate():
        b.delete(NS_APP + k)
    b.commit(sync=True)
    s.close()
    s = Stack(tmp_path / "db")
    s.app.init_chain(genesis())
    report = handshake(s.applier, s.app, s.state)
    assert report.replayed == 4
    assert s.app.last_height_and_hash() == reference
    s.close()


def test_inconsistent_stores_refuse_to_start(tmp_path: Path) -> None:
    run(tmp_path / "db", 2)
    s = Stack(tmp_path / "db")
    bad = replace(s.state, last_block_height=5)  # a state ahead of the block store: no crash can produce it
    with pytest.raises(HandshakeError, match="ahead of the block store"):
        handshake(s.applier, s.app, bad)
    s.close()


def test_a_block_costs_two_synced_writes_and_results_and_app_land_together(
    tmp_path: Path, reference: tuple[int, bytes]
) -> None:
    """The commit path's writes per block: the block (synced), then results + index + the app's commit + the
    state in one synced batch (before, results, app and state were three synced writes)."""
    s = Stack(tmp_path / "db")
    writes: list[tuple[bool, set[bytes]]] = []
    root = s.kv._level
    real_write = root.write

    def write(ops: list[tuple[bytes, bytes | None]], sync: bool) -> None:
        writes.append((sync, {k.split(b"/")[0] + b"/" for k, _ in ops}))
        real_write(ops, sync)

    root.write = write  # type: ignore[method-assign]
    nonce = 0
    while s.state.last_height < 4:
        writes.clear()
        block, commit = next_block(s.state, s.store, nonce)
        s.state = s.applier.apply(s.state, block, commit).state
        nonce += 1
        assert [sync for sync, _ in writes] == [True, True], writes
        assert writes[1][1] == {NS_APP, NS_NODE, b"blockstore/"}  # results, the app's state and ours: one batch
    assert (s.state.last_height, s.state.app_hash) == reference
    s.close()
