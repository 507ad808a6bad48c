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

Counts of blocks and signatures are asserted, never durations, and nothing depends on how fast this machine
is: the tests wait for what they look for (with generous deadlines) instead of counting it in a fixed time, a
stream of txs runs until it has spread over the blocks it should, and intervals are read from block headers
(BFT times, which a slow machine only makes longer; a lower bound on them is what the tests assert).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from devnet.network import Network, build_network, fast_params
from devnet.procs import Proc, start_node, stop
from devnet.rpc import RpcError, call, height
from devnet.wait import WaitTimeout, until
from node.genesis import load_genesis, parse_rfc3339_ns
from state.crypto import sha256
from state.txs import PublishRequirement, sign_tx
from tests.e2e.cluster import free_base

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
DAY = 86_400_000
T = TypeVar("T")


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
        self.logs = root / "logs"
        self._times: dict[int, int] = {}

    def publish(self, i: int) -> str:
        """A valid tx (the agency publishes requirement i; its nonce is i); returns its hash."""
        cgd = self.net.account("cgd")
        cover = int(time.time() * 1000) + 400 * DAY
        tx = sign_tx(cgd.key, self.net.chain_id, i, PublishRequirement(f"R-CAD-{i:03d}", f"P-CAD-{i:03d}", "1",
                                                                      "PERF", 1_000_000, cover, 0, "CGD-LG-2566"))
        # one ask with a long timeout (asked again, an accepted tx would come back as a duplicate)
        res = call(self.url, "broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()}, timeout=60)
        assert int(res.get("code", 0)) == 0, res
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

    def ask(self, fn: Callable[[], T], timeout: float = 60) -> T:
        """`fn()` (an RPC), asked again while the node does not answer in time (a loaded machine), up to
        `timeout` seconds."""
        last = [""]

        def once() -> tuple[T] | None:
            try:
                return (fn(),)
            except RpcError as exc:
                last[0] = str(exc)
                return None

        return until(once, timeout, "an answer from node 0", last=lambda: last[0])[0]

    def wait(self, cond: Callable[[], object], timeout: float, what: str,
             detail: Callable[[], object] | None = None) -> None:
        try:
            until(cond, timeout, what, poll=0.2)
        except WaitTimeout as exc:
            raise AssertionError(f"{exc}; {detail() if detail else ''} (logs in {self.logs})") from None

    def time_ms(self, h: int) -> int:
        """Block h's header time (BFT time), in milliseconds (kept: a committed header never changes)."""
        if h not in self._times:
            hdr = self.ask(lambda: call(self.url, "block", {"height": str(h)}))["block"]["header"]
            self._times[h] = parse_rfc3339_ns(hdr["time"]) // 1_000_000
        return self._times[h]

    def gap(self, h: int) -> int:
        """time(h) - time(h - 1): the time from the precommits of h - 2 to those of h - 1, i.e. the wait after
        h - 2 plus the consensus of h - 1 (see the top)."""
        return self.time_ms(h) - self.time_ms(h - 1)

    def signatures(self, h: int) -> int:
        """Signatures in the commit of height h (ask below the top: then it is block h + 1's LastCommit)."""
        doc = self.ask(lambda: call(self.url, "commit", {"height": str(h)}))
        return sum(1 for s in doc["signed_header"]["commit"]["signatures"] if s.get("signature"))


@pytest.fixture
def nets(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Net]]:
    made: list[Net] = []
    yield made
    for n in made:
        stop(n.procs)


def test_late_precommits_fill_the_last_commit(tmp_path: Path, nets: list[Net]) -> None:
    """Before, every LastCommit held exactly the 3 of 4 precommits the core decided with; now the 4th, which
    nearly always arrives within the 1 s commit wait, is in it. How often it makes the wait depends on the
    machine's speed, so the test reads commits as the chain grows until it has seen 4 full ones."""
    n = Net(tmp_path, "cadence-late-precommits", commit_ms=1000, skip=False)
    nets.append(n)
    sigs: dict[int, int] = {}

    def four_full() -> bool:
        for h in range(max(sigs, default=1) + 1, n.height()):  # below the top: the LastCommit of block h + 1
            sigs[h] = n.signatures(h)
        assert all(v >= 3 for v in sigs.values()), sigs  # +2/3 of the power, every one
        return sum(1 for v in sigs.values() if v == 4) >= 4

    n.wait(four_full, 300, "4 commits holding all four precommits", lambda: f"signatures per height: {sigs}")


@pytest.mark.parametrize("delay_ms", [0, 1000])
def test_skip_timeout_commit_follows_the_txs_and_idles_at_timeout_commit(tmp_path: Path, nets: list[Net],
                                                                          delay_ms: int) -> None:
    """next_block_delay 0 (CometBFT's skip: the next height at once) and 1 s: the stream of txs spreads over
    blocks started early, never sooner than the delay. (At 100 ms, what `egp init` writes, a block's own
    consensus here takes longer than the delay, so only a delay this long tells it apart.)

    The txs (one every 0.25 s) go on until they are spread over several blocks and one of those blocks was
    started early (a header interval below timeout_commit, 4 s: without skip every interval is above it); on
    a fast machine that is ~4 s of txs, as before, on a slow one it takes longer instead of failing."""
    commit_ms = 4000
    n = Net(tmp_path, f"cadence-skip-{delay_ms}", commit_ms=commit_ms, skip=True, next_block_delay_ms=delay_ms)
    nets.append(n)
    n.wait(lambda: n.height() >= 2, 120, "height 2")
    want = 4 if delay_ms == 0 else 3
    hashes: list[str] = []
    at: list[int] = []  # the heights of hashes[0:len(at)] (one account's nonces: committed in order)

    def carried() -> list[int]:
        while len(at) < len(hashes):
            got = n.tx_height(hashes[len(at)])
            if got is None:
                break
            at.append(got)
        return sorted(set(at))

    def spread() -> bool:
        c = carried()
        return len(c) >= want and min(n.gap(h) for h in c[1:]) < commit_ms

    while not spread():
        assert len(hashes) < 400, f"100 s of txs and not spread over {want} blocks, one started early: {at}"
        hashes.append(n.publish(len(hashes)))
        time.sleep(0.25)
    n.wait(lambda: len(carried()) and len(at) == len(hashes), 120, "the txs to be committed", lambda: at)
    heights = list(at)
    c = carried()
    assert len(c) >= want, heights
    # every block that carried them was started early: its predecessor's commit held all four precommits
    assert all(n.signatures(h - 1) == 4 for h in c[1:]), heights
    # ... but never sooner than next_block_delay after the precommits were in (BFT times, see the top)
    gaps = [n.gap(h) for h in range(max(3, c[0]), c[-1] + 1)]
    assert min(gaps) >= delay_ms, gaps
    assert min(gaps) < commit_ms, gaps  # and some height did start early
    # idle: the chain keeps timeout_commit (4 s) as its interval instead of spinning empty blocks. The height
    # after the last tx's may still start early (txs of that block in the mempool at its decision); from the
    # one after, every interval is at least timeout_commit (a lower bound, which a slow machine cannot break)
    last = c[-1]
    n.wait(lambda: n.height() >= last + 5, 120, f"height {last + 5}")
    idle = [n.gap(h) for h in range(last + 3, last + 6)]
    assert min(idle) >= commit_ms, (idle, heights)


def test_a_one_validator_chain_with_skip_goes_on_after_each_tx(tmp_path: Path, nets: list[Net]) -> None:
    """One validator: every commit is full at the decision. After each tx the chain must go on at the idle
    pace (a held early timeout once replaced by the previous height's late one stalled it for good)."""
    n = Net(tmp_path, "cadence-solo", commit_ms=1000, skip=True, validators=1)
    nets.append(n)
    n.wait(lambda: n.height() >= 1, 120, "height 1")
    for i in range(4):
        h = n.publish(i)
        n.wait(lambda h=h: n.tx_height(h) is not None, 120, f"tx {i} to be committed")  # type: ignore[misc]
        at = n.tx_height(h) or 0
        n.wait(lambda at=at: n.height() >= at + 2, 120, f"the chain to go on after tx {i}")  # type: ignore[misc]


def test_the_devnet_writes_the_generated_cadence(tmp_path: Path) -> None:
    """`make devnet` starts from what `egp init` / `egp testnet` write: timeout_commit 1 s, skip on."""
    net = build_network(tmp_path, validators=2, non_validators=0, seed="cadence-genesis")
    params = load_genesis(net.root / "genesis.json").consensus_params
    assert params.timeout_commit_ms == 1000 and params.skip_timeout_commit
    assert not fast_params().skip_timeout_commit  # the e2e clusters keep their explicit timeouts
