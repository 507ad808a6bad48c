"""Real node processes on 127.0.0.1: agreement, liveness under one crash, safety with two down, block sync."""

from __future__ import annotations

import base64
import os
import signal
import time
from typing import Any

import pytest

from devnet.demo import run_demo
from devnet.rpc import broadcast, call
from state.txs import PublishRequirement, sign_tx

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]
SYNC_BLOCKS = int(os.environ.get("EGP_E2E_SYNC_BLOCKS", "500"))  # ~75 s here; lower it for a quick run


def test_validators_commit_transactions_and_agree_on_every_height(cluster_factory: Any) -> None:
    c = cluster_factory()
    c.start_all()
    c.wait_height(0, 2)
    url = c.url(0)
    said: list[str] = []
    accepted = run_demo(c.net, url, said.append)  # each batch once the one before is in a block
    assert accepted == 5, said
    assert not [s for s in said if "failed" in s or "rejected" in s], said
    top = c.tip(0) + 1
    for i in range(5):
        c.wait_height(i, top)
    c.assert_same_chain([0, 1, 2, 3, 4], top)
    codes = []
    for h in range(1, top + 1):
        res = call(url, "block_results", {"height": str(h)})
        codes += [int(r["code"]) for r in res["txs_results"] or []]
    assert codes.count(0) == 5, codes
    # broadcast_tx_commit answers once the tx is in a block, and the tx is queryable at once
    tx = sign_tx(c.net.account("cgd").key, c.net.chain_id, 3,
                 PublishRequirement("R-9", "P-9", "1", "PERF", 1000, int(time.time() * 1000) + 10**10, 0, "F"))
    res = call(c.url(2), "broadcast_tx_commit", {"tx": base64.b64encode(tx).decode()}, timeout=30)
    assert res["check_tx"]["code"] == 0 and res["tx_result"]["code"] == 0, res
    found = call(c.url(2), "tx", {"hash": "0x" + res["hash"]})
    assert found["height"] == res["height"]


def test_kill9_one_validator_others_continue_and_it_catches_up(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0)
    c.start_all()
    c.wait_height(0, 3)
    c.kill9(2)
    h = c.tip(0)
    c.wait_height(0, h + 5)  # three of four keep committing
    c.start(2)
    target = c.tip(0) + 2
    for i in range(4):
        c.wait_height(i, target)
    c.assert_same_chain([0, 1, 2, 3], target)


def test_two_of_four_down_no_block_then_one_back_commits_resume(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0)
    c.start_all()
    c.wait_height(0, 3)
    c.kill9(2)
    c.kill9(3)
    # Read once both are gone. The highest height ever decided had a precommit of node 0 or 1 (3 of 4 are
    # needed), sent from that height's consensus, i.e. with the height before it committed: so nothing above
    # stuck + 1 was decided, and with 20 of 40 power nothing more can be. However slow the machine (a block in
    # flight landing late, node 1 still catching up), no height may pass stuck + 1 while the two are down.
    stuck = max(c.tip(0), c.tip(1))
    seen: list[int] = []
    for _ in range(28):  # ~7 s of looking (on a slow machine fewer looks in it, never a false failure)
        seen.append(max(c.height(0), c.height(1)))
        assert seen[-1] <= stuck + 1, (stuck, seen)  # no quorum: at most the block in flight
        time.sleep(0.25)
    halted = max(c.tip(0), c.tip(1))
    c.start(2)
    c.wait_height(0, halted + 3, 120)
    c.wait_height(2, halted + 3, 120)
    c.assert_same_chain([0, 1, 2], halted + 3)


def test_node_started_late_block_syncs_then_follows_consensus(cluster_factory: Any) -> None:
    c = cluster_factory(commit_ms=5)
    c.start_all(only=[0, 1, 2, 3])
    c.wait_height(0, SYNC_BLOCKS, 40 + SYNC_BLOCKS)
    c.start(4)
    c.wait(lambda: c.height(4) >= 0, 120, "the late node's RPC")
    target = c.tip(0)
    c.wait_height(4, target, 120 + SYNC_BLOCKS // 5)
    c.wait(lambda: not c.catching_up(4), 120, "catching_up to become false")
    later = c.tip(0) + 3
    c.wait_height(4, later)  # follows consensus afterwards
    c.assert_same_chain([0, 4], later)
    log = (c.logs / "node4.log").read_text()
    assert "block sync done" in log


def test_without_empty_blocks_the_chain_waits_for_transactions(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0, create_empty_blocks=False)
    c.start_all()
    c.wait_height(0, 1)
    idle = _settled(c, 0)  # the start-up blocks are done (waited for: a loaded machine makes them later)
    time.sleep(3.0)
    assert c.tip(0) == idle  # no transactions: no blocks
    tx = sign_tx(c.net.account("cgd").key, c.net.chain_id, 0,
                 PublishRequirement("R-1", "P-1", "1", "PERF", 1000, int(time.time() * 1000) + 10**10, 0, "F"))
    assert broadcast(c.url(1), tx)["code"] == 0
    c.wait_height(0, idle + 2, 120)  # the block with the tx, then the proof block of its app hash
    c.assert_same_chain([0, 1, 2, 3], idle + 2)


def _settled(c: Any, i: int, quiet_s: float = 3.0, timeout: float = 120) -> int:
    """Node i's height once it has stayed the same for `quiet_s` seconds; a chain that never stops making
    blocks fails here, with the heights it went through."""
    seen: list[tuple[float, int]] = []

    def quiet() -> bool:
        h, now = c.tip(i), time.monotonic()
        if not seen or seen[-1][1] != h:
            seen.append((now, h))
        return now - seen[-1][0] >= quiet_s

    c.wait(quiet, timeout, f"node {i}'s height to stay put for {quiet_s:g} s",
           lambda: f"heights: {[h for _, h in seen]}")
    return seen[-1][1]


def test_a_running_validator_that_falls_behind_switches_to_block_sync_and_back(cluster_factory: Any) -> None:
    """cometbft#3372: a node paused while the others commit many blocks is behind *in consensus*; it must
    notice, fall back to block sync, report catching_up honestly, and return to consensus."""
    c = cluster_factory(non_validators=0, commit_ms=20)
    c.start_all()
    c.wait_height(0, 3)
    p = c.procs[3]
    os.kill(p.pid, signal.SIGSTOP)
    try:
        h = c.tip(0)
        c.wait_height(0, h + 30)
    finally:
        os.kill(p.pid, signal.SIGCONT)
    target = c.tip(0)
    c.wait_height(3, target)
    c.wait(lambda: not c.catching_up(3), 120, "catching_up to clear")
    c.assert_same_chain([0, 3], target)
    log = (c.logs / "node3.log").read_text()
    assert "falling back to block sync" in log and log.count("switching to consensus") >= 2
