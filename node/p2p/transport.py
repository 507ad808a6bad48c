"""The P2P service: listen, dial persistent peers, admit only allowed node IDs, deliver messages upward.

Admission (after the handshake authenticated the remote node ID), in this order; the first rule that fails
refuses the connection and both operators' logs say why:
- the ID is our own (we dialled ourselves, e.g. a persistent-peer list shared by every bank);
- on an outbound connection, the ID differs from the one we dialled (wrong key at that address);
- the remote node claims another network (chain ID);
- the ID is not in ``allowed_peer_ids`` ∪ the persistent peers' IDs. Permissioned bank network: there is
  no "allow everyone" switch, and an empty ``allowed_peer_ids`` means exactly "the persistent peers only";
- an inbound connection beyond ``max_inbound`` (persistent peers are exempt).

Both sides then exchange a verdict frame (accept, or refuse + reason) before either announces the peer, so
a refused connection never shows up as a peer that flaps up and down.

Duplicates: two banks that list each other dial each other at the same moment. When a second connection
to an already connected ID is admitted, both ends keep the same one without talking: the connection
dialled by the lower node ID wins. If both connections have the same direction (the remote restarted and
dialled again while we still hold its old, half-dead connection), the newer one wins. The loser is closed
with a goodbye; the upper layer sees PeerDown of the old connection before PeerUp of the new one.

Reconnection: one dialler task per persistent peer. While the peer is connected (in either direction) it
sleeps; otherwise it dials, and after a failure waits ``backoff`` = min(backoff_max, backoff_base · 2^n),
with "equal jitter" (a uniform draw in [d/2, d]) so that four banks restarted together do not dial in
lock-step. The attempt count n resets once a connection has lived ``backoff_reset_after`` seconds, so a
peer that accepts and then immediately hangs up (e.g. we are not on its allow-list) is not hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping

from node.p2p.config import CONTROL_CHANNEL, ChannelSpec, P2PConfig, PeerAddress, check_node_id, parse_host_port
from node.p2p.errors import HandshakeError
from node.p2p.events import Event, Message, P2PStats, PeerDown, PeerUp, backoff_delay
from node.p2p.peer import MAX_PACKET_PLAINTEXT, Peer, PeerInfo
from node.p2p.secret import NodeInfo, SecretConnection, handshake, read_control_frame
from state.crypto import PrivateKey, node_id

log = logging.getLogger("egp.p2p")

_ACCEPT = b"\x01"
_REFUSE = b"\x00"


class Refused(Exception):
    """A connection that completed the handshake but is not admitted (the reason is logged)."""


def _log(level: int, msg: str, **kv: object) -> None:
    log.log(level, msg, extra={"kv": kv})


class P2P:
    """The transport service. See the package docstring (``node.p2p``) for the theory of operation."""

    def __init__(
        self,
        node_key: PrivateKey,
        config: P2PConfig,
        channels: Mapping[int, ChannelSpec],
        *,
        rng: random.Random | None = None,
    ) -> None:
        if CONTROL_CHANNEL in channels:
            raise ValueError("channel 0 is reserved by the transport")
        if any(not 0 < c < 256 for c in channels):
            raise ValueError("channels are 1..255")
        self.node_key = node_key
        self.node_id = node_id(node_key.public_key.raw)
        self.config = config
        self.channels = dict(channels)
        self._rng = rng or random.Random()
        self._allowed = config.allow_set()
        self._persistent = {p.node_id for p in config.persistent_peers}
        self._peers: dict[str, Peer] = {}
        self._dial_wake: dict[str, asyncio.Event] = {}
        self._inbox: asyncio.Queue[Event] = asyncio.Queue(maxsize=config.inbox_size)
        self._inbox_bytes = 0  # payload bytes of the Messages in the inbox
        self._inbox_space = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_handshakes = 0
        self._stopping = False
        self._bound: tuple[str, int] = parse_host_port(config.listen)
        # totals of closed connections and of refusals, for stats()
        self._handshakes_failed = 0
        self._refused = 0
        self._dropped = 0
        self._closed_bytes_sent = 0
        self._closed_bytes_received = 0
        self._closed_sends_refused = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the listen address and start dialling the persistent peers. Raises OSError if it cannot bind."""
        host, port = parse_host_port(self.config.listen)
        self._server = await asyncio.start_server(self._on_inbound, host, port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self._bound = (str(sock[0]), int(sock[1]))
        _log(logging.INFO, "p2p listening", addr=f"{self._bound[0]}:{self._bound[1]}", node_id=self.node_id)
        for addr in self.config.persistent_peers:
            self.dial(addr)  # our own entry in a shared list is skipped

    async def stop(self) -> None:
        """Close the listener and every connection; wait for our tasks. Events are no longer delivered."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for peer in list(self._peers.values()):
            peer.close("node shutting down")
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._peers.clear()

    @property
    def listen_address(self) -> tuple[str, int]:
        """The bound (host, port): the real port when the config asked for port 0."""
        return self._bound

    # ------------------------------------------------------------------ API for the upper layer

    async def recv(self) -> Event:
        """The next event: PeerUp, Message or PeerDown, in order per peer (Up < its Messages < its Down)."""
        inbox = self._inbox
        ev = inbox.get_nowait() if inbox.qsize() else await inbox.get()
        if isinstance(ev, Message):
            self._inbox_bytes -= len(ev.payload)
            self._inbox_space.set()
        return ev

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
        """Queue ``payload`` for one peer; False if it is not connected or its channel queue is full."""
        peer = self._peers.get(peer_id)
        if peer is None:
            if channel not in self.channels:
                raise ValueError(f"channel {channel} is not registered")
            return False
        return peer.send(channel, payload)

    def broadcast(self, channel: int, payload: bytes, exclude: Iterable[str] = ()) -> int:
        """Queue ``payload`` for every connected peer but ``exclude``; returns how many accepted it."""
        skip = set(exclude)
        if channel not in self.channels:
            raise ValueError(f"channel {channel} is not registered")
        return sum(1 for pid, p in list(self._peers.items()) if pid not in skip and p.send(channel, payload))

    def disconnect(self, peer_id: str, reason: str) -> None:
        """Drop a peer (e.g. it sent a message the upper layer cannot decode); persistent peers are redialled."""
        peer = self._peers.get(peer_id)
        if peer is not None:
            _log(logging.WARNING, "dropping peer", peer=peer_id, reason=reason)
            peer.close(reason)

    def set_allowed(self, node_ids: Iterable[str]) -> None:
        """Replace ``allowed_peer_ids`` at run time (persistent peers stay allowed); drops peers no longer allowed.

        For an operator or a governance rule that changes which banks may connect, without a restart.
        """
        ids = frozenset(check_node_id(i) for i in node_ids)
        self._allowed = ids | self._persistent
        for pid, peer in list(self._peers.items()):
            if pid not in self._allowed:
                _log(logging.WARNING, "dropping peer", peer=pid, reason="removed from the allow-list")
                peer.close("removed from the allow-list")

    def dial(self, addr: PeerAddress) -> None:
        """Make ``addr`` a persistent peer from now on (allowed, and dialled with backoff until stop)."""
        if self._server is None:
            raise RuntimeError("P2P.dial() needs a started service")
        if addr.node_id == self.node_id or addr.node_id in self._dial_wake:
            return
        self._persistent.add(addr.node_id)
        self._allowed = self._allowed | {addr.node_id}
        self._dial_wake[addr.node_id] = asyncio.Event()
        self._spawn(self._dial_loop(addr), f"p2p-dial-{addr.node_id[:8]}")

    def peers(self) -> list[PeerInfo]:
        """Connected peers with direction, remote address and counters (RPC ``net_info``)."""
        return [p.info() for p in self._peers.values()]

    def stats(self) -> P2PStats:
        live = list(self._peers.values())
        return P2PStats(
            peers=len(live),
            inbound=sum(1 for p in live if not p.outbound),
            outbound=sum(1 for p in live if p.outbound),
            handshakes_failed=self._handshakes_failed,
            connections_refused=self._refused,
            peers_dropped=self._dropped,
            bytes_sent=self._closed_bytes_sent + sum(p.conn.bytes_sent for p in live),
            bytes_received=self._closed_bytes_received + sum(p.conn.bytes_received for p in live),
            sends_refused=self._closed_sends_refused + sum(p.sends_refused for p in live),
        )

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self._peers

    # ------------------------------------------------------------------ connections

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _node_info(self) -> NodeInfo:
        listen = self.config.external_address or f"{self._bound[0]}:{self._bound[1]}"
        return NodeInfo(self.config.network, self.config.moniker, listen, self.config.version)

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        if self._pending_handshakes >= self.config.max_pending_handshakes:
            _log(logging.WARNING, "refusing connection: too many handshakes in progress",
                 remote=str(writer.get_extra_info("peername")))
            writer.close()
            return
        self._pending_handshakes += 1
        # Served in a task of ours, so that stop() can cancel it (asyncio's own callback task must not be).
        self._spawn(self._serve_inbound(reader, writer), "p2p-inbound")

    async def _serve_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = await self._establish(reader, writer, outbound=False, expected=None)
        finally:
            self._pending_handshakes -= 1
        if peer is not None:
            try:
                await self._run_peer(peer)
            except Exception:  # never let one connection's bug surface as an unretrieved task error
                log.exception("unexpected error in the connection of peer %s", peer.node_id)

    async def _establish(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
        expected: str | None,
    ) -> Peer | None:
        """Handshake and admission of a fresh TCP stream; None (and the stream closed) if refused."""
        remote = writer.get_extra_info("peername")
        timeout = self.config.handshake_timeout
        try:
            conn = await handshake(reader, writer, self.node_key, self._node_info(),
                                   max_plaintext=MAX_PACKET_PLAINTEXT, timeout=timeout)
            return await asyncio.wait_for(self._admit(conn, outbound=outbound, expected=expected), timeout)
        except TimeoutError:
            reason = f"no admission verdict within {timeout:g}s"
            self._handshakes_failed += 1
        except HandshakeError as exc:
            reason = str(exc)
            self._handshakes_failed += 1
        except Refused as exc:
            reason = str(exc)
            self._refused += 1
        except Exception:  # never let a peer's connection take the node down
            log.exception("unexpected error while admitting a connection")
            reason = "internal error"
        _log(logging.WARNING, "connection refused", remote=str(remote), outbound=outbound, reason=reason)
        writer.close()
        return None

    def _refusal(self, conn: SecretConnection, outbound: bool, expected: str | None) -> str | None:
        rid = conn.remote_id
        if rid == self.node_id:
            return "connected to ourselves"
        if outbound and expected is not None and rid != expected:
            return f"wrong key: dialled {expected}, the node there is {rid}"
        if conn.remote_info.network != self.config.network:
            return f"network mismatch: ours {self.config.network!r}, theirs {conn.remote_info.network!r}"
        if rid not in self._allowed:
            return f"node {rid} is not on the allow-list"
        old = self._peers.get(rid)
        if old is not None and not old.closed and not self._prefer_new(old, outbound, rid):
            return "duplicate connection (keeping the one dialled by the lower node ID)"
        inbound = sum(1 for p in self._peers.values() if not p.outbound)
        if not outbound and rid not in self._persistent and inbound >= self.config.max_inbound:
            return f"too many inbound peers ({inbound})"
        return None

    async def _admit(self, conn: SecretConnection, *, outbound: bool, expected: str | None) -> Peer:
        reason = self._refusal(conn, outbound, expected)
        verdict = _ACCEPT if reason is None else _REFUSE + reason.encode("utf-8", "replace")[:200]
        conn.write(conn.seal(verdict))
        theirs = await read_control_frame(conn)
        if reason is not None:
            raise Refused(f"{conn.remote_id}: {reason}")
        if theirs != _ACCEPT:
            why = theirs[1:].decode("utf-8", "replace") if theirs[:1] == _REFUSE else "malformed verdict"
            raise Refused(f"{conn.remote_id} refused us: {why}")
        if self._stopping:
            raise Refused("node shutting down")
        return Peer(conn, outbound=outbound, persistent=conn.remote_id in self._persistent,
                    channels=self.channels, config=self.config, deliver=self._deliver, offer=self._offer)

    def _prefer_new(self, old: Peer, new_outbound: bool, rid: str) -> bool:
        """Which of two connections to one ID survives; both ends compute the same answer."""
        if old.outbound == new_outbound:
            return True  # same direction: the older one is a leftover of a restart
        dialled_by_lower = self.node_id if new_outbound else rid
        return dialled_by_lower == min(self.node_id, rid)

    async def _run_peer(self, peer: Peer) -> None:
        pid = peer.node_id
        old = self._peers.get(pid)
        if old is not None:
            if not self._prefer_new(old, peer.outbound, pid):
                _log(logging.INFO, "closing duplicate connection", peer=pid, outbound=peer.outbound)
                peer.close("duplicate connection (keeping the one dialled by the lower node ID)")
                peer.conn.close()
                peer.finished.set()
                return
            old.close("duplicate connection (replaced by a newer or preferred one)")
        self._peers[pid] = peer
        announced = False
        reason = ""
        try:
            if old is not None:
                await old.finished.wait()  # its PeerDown goes out before our PeerUp
            if self._peers.get(pid) is not peer or peer.closed:
                return
            info = peer.info()
            _log(logging.INFO, "peer connected", peer=pid, outbound=peer.outbound,
                 remote=f"{info.remote_host}:{info.remote_port}", moniker=info.node_info.moniker)
            await self._emit(PeerUp(info))
            announced = True
            reason = await peer.run()
        finally:
            if not announced:
                peer.close(peer.close_reason or "superseded")
                peer.conn.close()
            self._closed_bytes_sent += peer.conn.bytes_sent
            self._closed_bytes_received += peer.conn.bytes_received
            self._closed_sends_refused += peer.sends_refused
            self._dropped += peer.faulty
            if self._peers.get(pid) is peer:
                del self._peers[pid]
                wake = self._dial_wake.get(pid)
                if wake is not None:
                    wake.set()
            if announced:
                reason = reason or peer.close_reason
                _log(logging.INFO, "peer disconnected", peer=pid, reason=reason)
                await self._emit(PeerDown(pid, reason))
            peer.finished.set()

    async def _deliver(self, peer_id: str, channel: int, payload: bytes) -> None:
        # Bounded in bytes as well as in events: 10,000 maximum-size frames would be 40 GiB.
        size = len(payload)
        while self._inbox_bytes and self._inbox_bytes + size > self.config.inbox_bytes:
            self._inbox_space.clear()
            await self._inbox_space.wait()
        self._inbox_bytes += size
        if self._inbox.full() or self._stopping:
            await self._emit(Message(peer_id, channel, payload))
        else:
            self._inbox.put_nowait(Message(peer_id, channel, payload))  # the common case, without a coroutine

    def _offer(self, peer_id: str, channel: int, payload: bytes) -> bool:
        """`_deliver` without waiting: the message into the inbox if it has room now (True), else nothing
        (False: the peer pauses its reading and delivers it with `_deliver`). The same bounds."""
        size = len(payload)
        if (self._inbox_bytes and self._inbox_bytes + size > self.config.inbox_bytes) or self._inbox.full():
            return False
        if not self._stopping:
            self._inbox_bytes += size
            self._inbox.put_nowait(Message(peer_id, channel, payload))
        return True

    async def _emit(self, event: Event) -> None:
        if not self._stopping:
            await self._inbox.put(event)

    # ------------------------------------------------------------------ dialling

    async def _dial_loop(self, addr: PeerAddress) -> None:
        cfg = self.config
        wake = self._dial_wake[addr.node_id]
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if addr.node_id in self._peers:
                wake.clear()
                await wake.wait()
                continue
            started = loop.time()
            connected = False
            try:
                connected = await self._dial_once(addr, attempt + 1)
            except Exception:  # a bug must not end the redialling of a persistent peer
                log.exception("unexpected error while dialling %s", addr)
            if connected and loop.time() - started >= cfg.backoff_reset_after:
                attempt = 0
            if self._stopping:
                return
            if addr.node_id in self._peers:
                continue  # connected by the peer's own dial meanwhile
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, cfg.backoff_base, cfg.backoff_max, self._rng))

    async def _dial_once(self, addr: PeerAddress, attempt: int) -> bool:
        """One dial; True if it became a peer (and has since disconnected)."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(addr.host, addr.port),
                                                    self.config.dial_timeout)
        except (OSError, TimeoutError) as exc:
            # The first failure of a series, then every tenth, at info: visible to an operator, not a flood.
            level = logging.INFO if attempt % 10 == 1 else logging.DEBUG
            _log(level, "cannot reach peer; retrying with backoff", peer=str(addr), attempt=attempt,
                 reason=str(exc) or type(exc).__name__)
            return False
        peer = await self._establish(reader, writer, outbound=True, expected=addr.node_id)
        if peer is None:
            return False
        await self._run_peer(peer)
        return True
