"""The application's replay record, left to the block store (state/abci.py `stored_response`).

The node keeps each height's FinalizeBlock response in the block store (its results, written in the same
atomic batch as the app's commit), so the app, built as node/assemble.py builds it, writes no replay record of
its own. These tests hold that: a crash at every step of the commit path still recovers the very state of a
run without a crash (and of the app that writes its record: no hash moves), a replay at the committed height
answers the stored results, and a home written with the record loses it at its first commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.applier import CRASH_POINTS
from node.assemble import NS_APP
from node.handshake import handshake
from state.abci import RequestFinalizeBlock
from state.store import NS_META
from tests.node.test_handshake import Crash, Stack, next_block

RECORD = NS_APP + NS_META + b"last_response"


class NodeStack(Stack):
    """The commit path's pieces on one LevelDB directory, the app built as the node builds it (`record=False`)."""

    def __init__(self, path: Path, crash_at: str | None = None, crash_height: int = 0, *,
                 record: bool = False) -> None:
        super().__init__(path, crash_at, crash_height, record=record)

    def grow(self, to_height: int) -> None:
        while self.state.last_height < to_height:
            block, commit = next_block(self.state, self.store, self.state.last_height)  # one tx per block
            self.state = self.applier.apply(self.state, block, commit).state


def run(path: Path, blocks: int, crash_at: str | None = None, crash_height: int = 0, *,
        record: bool = False) -> tuple[int, bytes]:
    s = NodeStack(path, crash_at, crash_height, record=record)
    try:
        s.grow(blocks)
    except Crash:
        s.close()
        s = NodeStack(path, record=record)  # restart: nothing but the disk survives
        s.state = handshake(s.applier, s.app, s.state).state
        s.grow(blocks)
    result = (s.state.last_height, s.state.app_hash)
    assert s.app.last_height_and_hash() == result and s.store.height == blocks
    assert (s.kv.get(RECORD) is None) != record
    s.close()
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, bytes]:
    with_record = run(tmp_path_factory.mktemp("rec") / "db", 4, record=True)
    without = run(tmp_path_factory.mktemp("ref") / "db", 4)
    assert without == with_record  # where the response is kept reaches no hash
    return without


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_each_step_recovers_without_the_apps_record(
        tmp_path: Path, point: str, reference: tuple[int, bytes]) -> None:
    assert run(tmp_path / "db", 4, crash_at=point, crash_height=3) == reference


def test_a_replay_at_the_committed_height_answers_the_block_stores_results(tmp_path: Path) -> None:
    s = NodeStack(tmp_path / "db")
    s.grow(3)
    block = s.store.load_block(3)
    assert block is not None
    req = RequestFinalizeBlock(list(block.txs), 3, block.header.time_ms, hash=block.hash())
    assert s.app.app.finalize_block(req) == s.store.load_results(3)
    with pytest.raises(ValueError, match="already committed"):
        s.app.app.finalize_block(RequestFinalizeBlock(list(block.txs), 2, block.header.time_ms))
    s.close()


def test_a_missing_or_foreign_stored_response_is_an_error_not_an_answer(tmp_path: Path) -> None:
    s = NodeStack(tmp_path / "db")
    s.grow(2)
    block = s.store.load_block(2)
    assert block is not None
    req = RequestFinalizeBlock(list(block.txs), 2, block.header.time_ms)
    app = s.app.app
    app._stored_response = lambda h: None
    with pytest.raises(ValueError, match="not stored"):
        app.finalize_block(req)
    older = s.store.load_results(1)
    app._stored_response = lambda h: older  # another height's response: its app hash is not the app's
    with pytest.raises(ValueError, match="not stored"):
        app.finalize_block(req)
    s.close()


def test_a_home_written_with_the_record_loses_it_at_its_first_commit(tmp_path: Path) -> None:
    s = NodeStack(tmp_path / "db", record=True)
    s.grow(2)
    assert s.kv.get(RECORD) is not None
    s.close()
    s = NodeStack(tmp_path / "db")
    block = s.store.load_block(2)
    assert block is not None
    req = RequestFinalizeBlock(list(block.txs), 2, block.header.time_ms)
    assert s.app.app.finalize_block(req) == s.store.load_results(2)
    s.grow(3)
    assert s.kv.get(RECORD) is None
    s.grow(4)  # and nothing writes it again
    assert s.kv.get(RECORD) is None
    block = s.store.load_block(4)
    assert block is not None
    assert s.app.app.finalize_block(RequestFinalizeBlock(list(block.txs), 4, block.header.time_ms)) == \
        s.store.load_results(4)
    s.close()
