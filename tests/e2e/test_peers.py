"""Unwanted peers against a running network: random bytes, a key not on the allow-list, a wrong key at a
known address. Each is refused or dropped while the validators keep committing."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from devnet.rpc import call
from node.assemble import CHANNELS
from node.p2p import P2P, P2PConfig, PeerAddress
from node.runtime import CH_STATE
from state.crypto import PrivateKey, save_node_key

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def _n_peers(url: str) -> int:
    return int(call(url, "net_info")["n_peers"])


def test_random_bytes_unknown_key_and_wrong_key_are_refused_while_blocks_continue(cluster_factory: Any) -> None:
    c = cluster_factory()
    # node 4 (the registrar's node) gets a key nobody allowed: its dials are refused, and the
    # validators' dials to its address meet a key other than the one they expect ("wrong key")
    save_node_key(c.net.nodes[4].home / "config" / "node_key.json", PrivateKey.generate())
    c.start_all()
    c.wait_height(0, 2)
    n0 = c.net.nodes[0]

    # 1. random bytes on the P2P port: the connection is closed, nothing else happens
    with socket.create_connection(("127.0.0.1", n0.p2p_port), timeout=10) as s:
        s.sendall(os.urandom(4096))
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass

    # 2. an authenticated peer whose node ID is not on the allow-list
    async def stranger() -> bool:
        cfg = P2PConfig(listen="127.0.0.1:0", network=c.net.chain_id, moniker="stranger",
                        persistent_peers=(PeerAddress(n0.node_id, "127.0.0.1", n0.p2p_port),), backoff_base=0.2,
                        backoff_max=0.5)
        p = P2P(PrivateKey.generate(), cfg, CHANNELS)
        await p.start()
        try:
            await asyncio.sleep(3.0)
            p.send(n0.node_id, CH_STATE, b"\x00garbage")
            return p.is_connected(n0.node_id)
        finally:
            await p.stop()

    assert asyncio.run(stranger()) is False

    h = c.tip(0)
    c.wait_height(0, h + 5)  # the validators kept committing through all of it
    assert _n_peers(c.url(0)) == 3  # the three other validators; neither intruder
    assert _n_peers(c.url(4)) == 0  # the node with the wrong key has no peer at all
    assert c.tip(4) == 0
