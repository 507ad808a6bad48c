"""Committed evidence survives a restart (node/evidence.py, node/blockstore.py `e` entries): a real one-validator
node (LevelDB in a temp dir, its own consensus) commits a double vote of its validator, stops, and the node
built again on the same home refuses the item, in either vote order, as the pool and as the block rules
(a block carrying it), exactly as it did before the restart."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node import blockrules
from node.assemble import build
from node.evidence import ALREADY_COMMITTED, evidence_keys
from node.messages import EvidenceMsg, VoteMsg
from tests.rpc.conftest import init_single_home, started_node

CHAIN = "egp-ev-restart"


def test_committed_evidence_is_refused_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_single_home(home, CHAIN)

    async def before() -> tuple[EvidenceMsg, int]:
        async with started_node(home) as (run, _):
            node = run.node
            assert run.pv is not None
            key = run.pv.key
            votes = []
            for value in (b"\x01" * 32, b"\x02" * 32):
                v = Vote(VoteType.PREVOTE, 1, 5, value, key.address, 1_767_225_600_000)
                votes.append(VoteMsg.of(replace(v, signature=key.sign(vote_sign_bytes(CHAIN, v)))))
            ev = EvidenceMsg(votes[0], votes[1])
            assert node.add_evidence(ev)[1] is None
            for _ in range(600):
                found = [h for h in range(1, run.store.height + 1)
                         if (b := run.store.load_block(h)) is not None and b.evidence]
                if found and node.state.last_height >= found[0]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the evidence was not committed")
            assert node.add_evidence(ev)[1] == ALREADY_COMMITTED
            return ev, found[0]

    async def after(ev: EvidenceMsg, height: int) -> None:
        run = await build(home)  # not started: the node as the restart leaves it, before consensus
        try:
            node = run.node
            assert run.store.committed_evidence_height(evidence_keys(ev)[0]) == height
            swapped = EvidenceMsg(ev.vote_b, ev.vote_a)
            for item in (ev, swapped):
                assert node.add_evidence(item)[1] == ALREADY_COMMITTED
                assert node.evidence.pending == {}
            st = node.state
            last_commit = run.store.load_seen_commit(st.last_height)
            assert last_commit is not None and node.address is not None
            t = blockrules.next_block_time(st, last_commit)
            for item in (ev, swapped):
                block = blockrules.make_block(st, node.address, last_commit, t, [], [item.encode()])
                assert node.check_block(block) == f"invalid evidence: {ALREADY_COMMITTED}"
            assert node.check_block(blockrules.make_block(st, node.address, last_commit, t, [], [])) is None
        finally:
            if run.node.commit_worker is not None:
                run.node.commit_worker.shutdown(wait=True)
            run.kv.close()

    ev, height = asyncio.run(asyncio.wait_for(before(), 60))
    asyncio.run(asyncio.wait_for(after(ev, height), 60))
