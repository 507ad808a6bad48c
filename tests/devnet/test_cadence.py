"""Block cadence on a real 4-validator devnet (genesis timeouts, docs/design.md §9).

- Late precommits gathered during the commit wait fill the next block's LastCommit (before, the core
  dropped every vote after its decision, so every LastCommit named exactly the 2/3+ it decided with).
- With `skip_timeout_commit` the next height starts as soon as every precommit is in while txs wait, so a
  stream of txs spreads over many blocks even with a long `timeout_commit`; an idle chain keeps
  `timeout_commit` as its block interval (no spinning of empty blocks).
- `next_block_delay` (genesis): the early start comes no sooner than that after every precommit is in. Block
  times are BFT times (the median of the LastCommit's precommit timestamps), so a delay D shows as header
  times at least D apart: every precommit of H+1 is signed after H+1 started, which is D after the
  precommits of H were all in.

Counts of blocks and signatures are asserted, never durations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devnet.network import Network, build_network, fast_params
from devnet.procs import Proc, start_node, stop
from devnet.rpc import RpcError, broadcast, call, height
from node.genesis import load_genesis, parse_rfc3339_ns
from state.crypto import sha256
from state.txs import PublishRequirement, sign_tx
from tests.e2e.cluster import free_base

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
DAY = 86_400_000


class Net:
    def __init__(self, root: Path, name: str, *, commit_ms: int, skip: bool, validators: int = 4,
                 next_block_delay_ms: int | None = None) -> None:
        base = free_base(name, span=40)
        params = fast_params(commit_ms=commit_ms, propose_ms=1500, skip_timeout_commit=skip)
        if next_block_delay_ms is not None:
            params = replace(params, next_block_delay_ms=next_block_delay_ms)
        self.net: Network = build_network(root, validators=validators, non_validators=0, p2p_base=base,
                                          rpc_base=base + 1, step=10, seed=name, params=params)
        self.procs: list[Proc] = [start_node(n.home, root / "logs" / f"node{n.index}.log") for n in self.net.nodes]
        self.url = self.net.nodes[0].rpc_url

    def publish(self, i: int) -> str:
        """A valid tx (the agency publishes requirement i; its nonce is i); returns its hash."""
        cgd = self.net.account("cgd")
        cover = int(time.time() * 1000) + 400 * DAY
        tx = sign_tx(cgd.key, self.net.chain_id, i, PublishRequirement(f"R-CAD-{i:03d}", f"P-CAD-{i:03d}", "1",
                                                                      "PERF", 1_000_000, cover, 0, "CGD-LG-2566"))
        assert int(broadcast(self.url, tx).get("code", 0)) == 0
        return sha256(tx).hex().upper()

    def tx_height(self, h: str) -> int | None:
        try:
            return int(call(self.url, "tx", {"hash": "0x" + h})["height"])
        except RpcError:
            return None

    def height(self) -> int:
        try:
            return height(self.url)
        except RpcError:
            return -1

    def wait(self, cond: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(cond) and cond():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def time_ms(self, h: int) -> int:
        """Block h's header time (BFT time), in milliseconds."""
        return parse_rfc3339_ns(call(self.url, "block", {"height": str(h)})["block"]["header"]["time"]) // 1_000_000

    def signatures(self, h: int) -> int:
        sigs = call(self.url, "commit", {"height": str(h)})["signed_header"]["commit"]["signatures"]
        return sum(1 for s in sigs if s.get("signature"))


@pytest.fixture
def nets(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Net]]:
    made: list[Net] = []
    yield made
    for n in made:
        stop(n.procs)


def test_late_precommits_fill_the_last_commit(tmp_path: Path, nets: list[Net]) -> None:
    n = Net(tmp_path, "cadence-late-precommits", commit_ms=1000, skip=False)
    nets.append(n)
    n.wait(lambda: n.height() >= 9, 120, "height 9")
    full = [h for h in range(2, 9) if n.signatures(h) == 4]
    # the 4th precommit arrives within the 1 s wait nearly always; before, no LastCommit ever held it
    assert len(full) >= 4, [n.signatures(h) for h in range(2, 9)]


@pytest.mark.parametrize("delay_ms", [0, 1000])
def test_skip_timeout_commit_follows_the_txs_and_idles_at_timeout_commit(tmp_path: Path, nets: list[Net],
                                                                          delay_ms: int) -> None:
    """next_block_delay 0 (CometBFT's skip: the next height at once) and 1 s: the stream of txs spreads over
    blocks started early, never sooner than the delay. (At 100 ms, what `egp init` writes, a block's own
    consensus here takes longer than the delay, so only a delay this long tells it apart.)"""
    n = Net(tmp_path, f"cadence-skip-{delay_ms}", commit_ms=4000, skip=True, next_block_delay_ms=delay_ms)
    nets.append(n)
    n.wait(lambda: n.height() >= 2, 120, "height 2")
    hashes = []
    for i in range(16):  # 4 s of txs, one every 0.25 s
        hashes.append(n.publish(i))
        time.sleep(0.25)
    n.wait(lambda: all(n.tx_height(h) is not None for h in hashes), 60, "the txs to be committed")
    heights = [n.tx_height(h) or 0 for h in hashes]
    carried = sorted(set(heights))
    # with a 4 s commit wait and no skip, 4 s of txs fit in at most 2-3 blocks
    assert len(carried) >= (4 if delay_ms == 0 else 3), heights
    # every block that carried them was started early: its predecessor's commit held all four precommits
    assert all(n.signatures(h - 1) == 4 for h in carried[1:]), heights
    # ... but never sooner than next_block_delay after the precommits were in (BFT times, see the top)
    gaps = [n.time_ms(h) - n.time_ms(h - 1) for h in range(max(3, carried[0]), carried[-1] + 1)]
    assert min(gaps) >= delay_ms, gaps
    assert min(gaps) < 4000, gaps  # and some height did start early
    # idle: the chain keeps timeout_commit (4 s) as its interval instead of spinning empty blocks
    h0 = n.height()
    time.sleep(6.0)
    assert n.height() - h0 <= 3



def test_a_one_validator_chain_with_skip_goes_on_after_each_tx(tmp_path: Path, nets: list[Net]) -> None:
    """One validator: every commit is full at the decision. After each tx the chain must go on at the idle
    pace (a held early timeout once replaced by the previous height's late one stalled it for good)."""
    n = Net(tmp_path, "cadence-solo", commit_ms=1000, skip=True, validators=1)
    nets.append(n)
    n.wait(lambda: n.height() >= 1, 60, "height 1")
    for i in range(4):
        h = n.publish(i)
        n.wait(lambda h=h: n.tx_height(h) is not None, 30, f"tx {i} to be committed")  # type: ignore[misc]
        at = n.tx_height(h) or 0
        n.wait(lambda at=at: n.height() >= at + 2, 30, f"the chain to go on after tx {i}")  # type: ignore[misc]


def test_the_devnet_writes_the_generated_cadence(tmp_path: Path) -> None:
    """`make devnet` starts from what `egp init` / `egp testnet` write: timeout_commit 1 s, skip on."""
    net = build_network(tmp_path, validators=2, non_validators=0, seed="cadence-genesis")
    params = load_genesis(net.root / "genesis.json").consensus_params
    assert params.timeout_commit_ms == 1000 and params.skip_timeout_commit
    assert not fast_params().skip_timeout_commit  # the e2e clusters keep their explicit timeouts
