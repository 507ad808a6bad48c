"""A cluster of real node processes on 127.0.0.1 for the end-to-end tests.

Each test gets its own base port (derived from its name, checked free) so two pytest-xdist workers never
clash, fast genesis timeouts (every node agrees through genesis), and a teardown that stops exactly the
processes it started (recorded PIDs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from devnet.network import Network, build_network, fast_params
from devnet.procs import Proc, kill9, start_node, stop
from devnet.rpc import RpcError, block_hashes, call
from state.crypto import load_node_key, node_id
from tests.ports import reserve_span

FAST = fast_params(commit_ms=100, propose_ms=1500)


def free_base(name: str, span: int = 60) -> int:
    """A base port from the test name; the whole span free and reserved to this worker (tests/ports.py)."""
    return reserve_span(name, span)


class Cluster:
    def __init__(self, root: Path, name: str, *, validators: int = 4, non_validators: int = 1,
                 commit_ms: int = 100, create_empty_blocks: bool = True) -> None:
        base = free_base(name)
        self.net: Network = build_network(root, validators=validators, non_validators=non_validators,
                                          p2p_base=base, rpc_base=base + 1, step=10, seed=name,
                                          params=fast_params(commit_ms=commit_ms, propose_ms=1500),
                                          create_empty_blocks=create_empty_blocks)
        self.procs: dict[int, Proc] = {}
        self.logs = root / "logs"

    def url(self, i: int) -> str:
        return self.net.nodes[i].rpc_url

    def start(self, i: int, env: dict[str, str] | None = None) -> Proc:
        p = start_node(self.net.nodes[i].home, self.logs / f"node{i}.log", env=env)
        self.procs[i] = p
        return p

    def node_id(self, i: int) -> str:
        """The id node `i` runs with: from its key file now (a test may have given it another key)."""
        key = load_node_key(self.net.nodes[i].home / "config" / "node_key.json")
        return node_id(key.public_key.raw)

    def start_byzantine(self, i: int, mode: str) -> Proc:
        """Node `i` through the fault harness's test-only entry (node/byzantine.py armed with `mode`)."""
        log = self.logs / f"node{i}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            p = subprocess.Popen(
                [sys.executable, "-m", "devnet.faults.entry", "--home", str(self.net.nodes[i].home),
                 "--log-level", "info"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "EGP_TEST_BYZANTINE": mode}, cwd=Path(__file__).resolve().parents[2],
            )
        self.procs[i] = Proc(p.pid, self.net.nodes[i].home, log, p)
        return self.procs[i]

    def start_all(self, only: list[int] | None = None) -> None:
        for i in only if only is not None else range(len(self.net.nodes)):
            self.start(i)

    def kill9(self, i: int) -> None:
        kill9(self.procs.pop(i))

    def stop_all(self) -> None:
        stop(list(self.procs.values()))
        self.procs.clear()

    def height(self, i: int) -> int:
        """Node `i`'s height (-1 while it does not answer). Fails at once if another program answers on its
        port (a port taken between `free_base`'s check and the node's bind: the node itself then exits)."""
        try:
            doc = call(self.url(i), "status", timeout=2.0)
        except RpcError:
            return -1
        got = str(doc["node_info"]["id"])
        if got != self.node_id(i):
            raise AssertionError(f"node {i}'s RPC port {self.url(i)} is answered by another node ({got}); "
                                 f"logs in {self.logs}")
        return int(doc["sync_info"]["latest_block_height"])

    def tip(self, i: int, timeout: float = 60) -> int:
        """Node `i`'s height, asked again while it does not answer (a loaded machine can keep `status` past its
        2 s timeout): for the heights a test builds its targets on, where -1 would make them meaningless."""
        got: list[int] = []

        def answered() -> bool:
            code = self.exited(i)
            if code is not None:
                raise AssertionError(f"node {i} exited with status {code}:\n{self.log_tail(i)}")
            h = self.height(i)
            if h >= 0:
                got.append(h)
            return h >= 0

        self.wait(answered, timeout, f"node {i} to answer status")
        return got[-1]

    def exited(self, i: int) -> int | None:
        """The exit status of node `i`'s process if it has ended, else None (also None if not started here)."""
        p = self.procs.get(i)
        return None if p is None or p.popen is None else p.popen.poll()

    def log_tail(self, i: int, chars: int = 3000) -> str:
        try:
            return (self.logs / f"node{i}.log").read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def wait(self, cond: Callable[[], bool], timeout: float, what: str,
             detail: Callable[[], object] | None = None) -> None:
        """Poll `cond` until it holds; at `timeout` s fail naming `what` (and `detail()`, read then). An RPC
        that fails inside `cond` (a node too busy to answer within its timeout on a loaded machine, a height not
        there yet) counts as "not yet"; the last such error is in the failure message."""
        errors: list[str] = []

        def holds() -> bool:
            try:
                return bool(cond())
            except RpcError as exc:
                errors[:] = [str(exc)]
                return False

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if holds():
                return
            time.sleep(0.2)
        if holds():  # once more after the deadline: a step that finished while we slept is not a failure
            return
        more = f" ({detail()})" if detail is not None else ""
        last = f"; last RPC error: {errors[0]}" if errors else ""
        raise AssertionError(f"timed out waiting for {what}{more}{last}; logs in {self.logs}")

    def wait_height(self, i: int, h: int, timeout: float = 120) -> None:
        def reached() -> bool:
            code = self.exited(i)
            if code is not None:
                raise AssertionError(f"node {i} exited with status {code} before height {h}:\n{self.log_tail(i)}")
            return self.height(i) >= h

        self.wait(reached, timeout, f"node {i} to reach height {h}")

    def hashes(self, i: int, upto: int) -> list[tuple[str, str]]:
        return [block_hashes(self.url(i), h) for h in range(1, upto + 1)]

    def assert_same_chain(self, nodes: list[int], upto: int) -> None:
        first = self.hashes(nodes[0], upto)
        for i in nodes[1:]:
            assert self.hashes(i, upto) == first, f"node {i} disagrees with node {nodes[0]}"

    def catching_up(self, i: int) -> bool:
        """Node i's `catching_up`; True while it does not answer (what a test waiting for False must assume)."""
        try:
            return bool(call(self.url(i), "status")["sync_info"]["catching_up"])
        except RpcError:
            return True
