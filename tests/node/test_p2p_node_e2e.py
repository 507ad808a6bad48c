"""Issue 5, "Done when": hostile peers against four real validator processes that keep committing.

A stranger (not on the allow-list), an impostor answering at a validator's address with another key, a
client sending random bytes, and an allowed key sending garbage after the handshake: each is refused or
dropped, logged with its reason, while the validators keep committing identical blocks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.p2p import P2P, ChannelSpec, P2PConfig, PeerAddress
from state.crypto import PrivateKey, load_node_key, node_id
from tests.node.p2p_harness import rogue_session, wait_closed
from tests.ports import reserve_span

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
EGP = [sys.executable, "-m", "cli.main"]
N = 4


def _free_base() -> int:
    """A base port with base + 10·i and base + 10·i + 1 free for every node, reserved (tests/ports.py)."""
    return reserve_span("p2p-node-e2e", 10 * N)


class Net:
    def __init__(self, root: Path, base: int) -> None:
        self.root = root
        self.base = base
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))

    def home(self, i: int) -> Path:
        return self.root / f"node{i}"

    def p2p_port(self, i: int) -> int:
        return self.base + 10 * i

    def node_key(self, i: int) -> PrivateKey:
        return load_node_key(self.home(i) / "config" / "node_key.json")

    def chain_id(self) -> str:
        return str(json.loads((self.home(0) / "config" / "genesis.json").read_text())["chain_id"])

    def start(self, i: int) -> None:
        with open(self.root / f"node{i}.log", "ab") as log:
            self.procs[i] = subprocess.Popen([*EGP, "start", "--home", str(self.home(i))], stdout=log,
                                             stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True)

    def stop(self, i: int) -> None:
        proc = self.procs.pop(i)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def rpc(self, i: int, method: str, **params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.base + 10 * i + 1}/", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())["result"]

    def height(self, i: int) -> int:
        try:
            return int(self.rpc(i, "status")["sync_info"]["latest_block_height"])
        except OSError:
            return 0

    def wait_height(self, nodes: list[int], h: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, p in self.procs.items():
                assert p.poll() is None, f"node{i} exited: {self.log(i)[-2000:]}"
            if all(self.height(i) >= h for i in nodes):
                return
            time.sleep(0.3)
        raise AssertionError(f"nodes {nodes} did not reach {h}: {[self.height(i) for i in nodes]}")

    def log(self, i: int) -> str:
        return (self.root / f"node{i}.log").read_text(errors="replace")

    def peer_ids(self, i: int) -> set[str]:
        return {p["node_info"]["id"] for p in self.rpc(i, "net_info")["peers"]}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    n = Net(tmp_path, _free_base())
    subprocess.run([*EGP, "testnet", "--v", str(N), "--output-dir", str(tmp_path), "--starting-port", str(n.base)],
                   check=True, capture_output=True, env=n.env, cwd=ROOT, timeout=120)
    try:
        for i in range(N):
            n.start(i)
        yield n
    finally:
        for i in list(n.procs):
            n.stop(i)


async def _attack(net: Net) -> None:
    chain = net.chain_id()
    host, port0 = "127.0.0.1", net.p2p_port(0)
    node0 = PeerAddress(node_id(net.node_key(0).public_key.raw), host, port0)
    channels = {0x20: ChannelSpec()}

    # 1. a stranger with its own key, dialling node0 as a persistent peer
    stranger = P2P(PrivateKey.generate(), P2PConfig(listen="127.0.0.1:0", network=chain, persistent_peers=(node0,),
                                                    backoff_base=0.1, backoff_max=0.5), channels)
    await stranger.start()
    # 2. random bytes instead of a handshake
    for _ in range(3):
        reader, writer = await asyncio.open_connection(host, port0)
        writer.write(os.urandom(3000))
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    # 3. node3 is down; an impostor with another key answers at its address: the others refuse it
    impostor = P2P(PrivateKey.generate(), P2PConfig(listen=f"{host}:{net.p2p_port(3)}", network=chain), channels)
    await impostor.start()
    # 4. node3's own (allowed) key, then garbage after the handshake
    conn = await rogue_session(host, port0, net.node_key(3), network=chain)
    conn.write(os.urandom(500))
    await wait_closed(conn, 10)
    await asyncio.sleep(2.0)
    assert not stranger.peers() and not impostor.peers()
    await stranger.stop()
    await impostor.stop()


def test_hostile_peers_are_refused_while_three_validators_keep_committing(net: Net) -> None:
    net.wait_height(list(range(N)), 3)
    net.stop(3)
    h0 = net.height(0)
    asyncio.run(asyncio.wait_for(_attack(net), 60))
    net.wait_height([0, 1, 2], h0 + 3)  # three of four validators (> 2/3 of the power) still commit

    log0 = net.log(0)
    assert "is not on the allow-list" in log0
    assert "not an egp-chain p2p peer (bad magic)" in log0
    assert "wrong key: dialled " + node_id(net.node_key(3).public_key.raw) in log0
    assert "FrameError" in log0
    assert net.peer_ids(0) == {node_id(net.node_key(i).public_key.raw) for i in (1, 2)}

    net.start(3)  # the real node3 comes back and catches up
    target = max(net.height(i) for i in range(3)) + 2
    net.wait_height(list(range(N)), target)
    hashes = {json.dumps(net.rpc(i, "block", height=str(target))["block_id"]) for i in range(N)}
    assert len(hashes) == 1
