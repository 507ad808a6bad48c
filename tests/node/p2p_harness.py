"""Helpers of the p2p tests: nodes on 127.0.0.1 with ephemeral ports, an event collector, a rogue client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from node.p2p import P2P, ChannelSpec, Event, Message, P2PConfig, PeerAddress, PeerDown, PeerUp
from node.p2p.secret import NodeInfo, SecretConnection, handshake, read_control_frame
from state.crypto import PrivateKey, node_id

CHAN_A = 0x20
CHAN_B = 0x30
CHANNELS = {CHAN_A: ChannelSpec(priority=5, name="a"), CHAN_B: ChannelSpec(priority=1, name="b")}
NETWORK = "egp-test-1"
FAST = {
    "keepalive_interval": 0.3,
    "idle_timeout": 3.0,
    "handshake_timeout": 2.0,
    "dial_timeout": 1.0,
    "backoff_base": 0.05,
    "backoff_max": 0.4,
}


def key(i: int) -> PrivateKey:
    return PrivateKey.from_seed(bytes([i + 1]) * 32)


def nid(k: PrivateKey) -> str:
    return node_id(k.public_key.raw)


@dataclass
class Node:
    """A P2P service plus a task collecting its events."""

    p2p: P2P
    events: list[Event] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.p2p.node_id

    @property
    def addr(self) -> str:
        host, port = self.p2p.listen_address
        return f"{self.id}@{host}:{port}"

    async def _collect(self) -> None:
        while True:
            ev = await self.p2p.recv()
            self.events.append(ev)
            self.changed.set()

    async def wait_for(self, pred: Callable[[list[Event]], bool], timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not pred(self.events):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def wait_connected(self, peer_id: str, timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not self.p2p.is_connected(peer_id) or not self.ups(peer_id):
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.05)

        await asyncio.wait_for(loop(), timeout)

    def ups(self, peer_id: str) -> list[PeerUp]:
        return [e for e in self.events if isinstance(e, PeerUp) and e.peer.node_id == peer_id]

    def downs(self, peer_id: str) -> list[PeerDown]:
        return [e for e in self.events if isinstance(e, PeerDown) and e.peer_id == peer_id]

    def messages(self, peer_id: str | None = None) -> list[Message]:
        return [e for e in self.events if isinstance(e, Message) and (peer_id is None or e.peer_id == peer_id)]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.p2p.stop()


async def start_node(
    k: PrivateKey,
    *,
    peers: Iterable[str] = (),
    allowed: Iterable[PrivateKey] = (),
    listen: str = "127.0.0.1:0",
    collect: bool = True,
    **overrides: object,
) -> Node:
    opts: dict[str, object] = {**FAST, **overrides}
    cfg = P2PConfig(
        listen=listen,
        persistent_peers=tuple(PeerAddress.parse(p) for p in peers),
        allowed_peer_ids=frozenset(nid(a) for a in allowed),
        network=str(opts.pop("network", NETWORK)),
        moniker=f"node-{nid(k)[:6]}",
        **opts,  # type: ignore[arg-type]
    )
    node = Node(P2P(k, cfg, CHANNELS))
    await node.p2p.start()
    if collect:
        node.task = asyncio.create_task(node._collect())
    return node


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``cond`` until it holds (no fixed sleeps: a loaded CI machine only makes this slower)."""

    async def loop() -> None:
        while not cond():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def rogue_session(host: str, port: int, k: PrivateKey, network: str = NETWORK) -> SecretConnection:
    """Connect as an allowed node and complete the handshake and admission, then hand over the raw session."""
    reader, writer = await asyncio.open_connection(host, port)
    conn = await handshake(reader, writer, k, NodeInfo(network, "rogue", "", "0"), max_plaintext=1 << 20, timeout=2)
    conn.write(conn.seal(b"\x01"))
    verdict = await read_control_frame(conn)
    assert verdict == b"\x01", verdict
    return conn


async def wait_closed(conn: SecretConnection, timeout: float = 5.0) -> None:
    """Read until the remote closes the session (frames before the close are ignored)."""

    async def loop() -> None:
        while not conn.reader.at_eof():
            try:
                await conn.read_frame()
            except Exception:
                return

    await asyncio.wait_for(loop(), timeout)
