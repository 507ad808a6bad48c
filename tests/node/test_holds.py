"""The node's held commit timeouts (node/node.py `_on_timeout`, docs/design.md §9): a delayed release is bound
to the hold it was set for. A release timer of an earlier height (create_empty_blocks_interval, or what is
left of next_block_delay) must never start a later height early."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consensus.types import Timeout, TimeoutFired, TimeoutKind
from node.assemble import build
from state.crypto import PrivateKey
from tests.node.solo import solo_home

REG = PrivateKey.from_seed(b"\x43" * 32)


def test_a_release_timer_releases_only_the_hold_it_was_set_for(tmp_path: Path) -> None:
    home = solo_home(tmp_path / "h", "egp-holds", REG, rpc=False)

    async def go() -> None:
        run = await build(home)
        try:
            node = run.node
            held = TimeoutFired(Timeout(TimeoutKind.COMMIT, 5, 0))
            node.hold.held = held
            node.hold.release_if_held(TimeoutFired(Timeout(TimeoutKind.COMMIT, 4, 0)))  # an earlier height's timer
            node.hold.release_if_held(None)
            assert node.hold.held == held
            node.hold.release_if_held(TimeoutFired(Timeout(TimeoutKind.COMMIT, 5, 0)))  # its own (an equal timeout)
            assert node.hold.held is None
        finally:
            if run.node.commit_worker is not None:
                run.node.commit_worker.shutdown(wait=True)
            run.kv.close()

    asyncio.run(go())
