"""A running peer's writer: per-channel queues taken by weighted round robin, sealed and written as one
buffer per loop turn (`_flush`), keepalives and the idle check on one timer (`_tick`), and the task of a
peer paced by ``send_rate`` (`_write_loop`).

Why a module of its own: this is how queued messages leave (peer.py's docstring says why they are joined),
apart from the queueing API (`Peer.send`) and the peer's life (`Peer.run`). `CoalescingWriter` is a base
class of `node.p2p.peer.Peer`: the methods are looked up on the peer's class as before (no call layer).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

from node.p2p.config import CONTROL_CHANNEL, ChannelSpec, P2PConfig
from node.p2p.envelope import EOF, FRAME_OVERHEAD, PACKET_DATA
from node.p2p.errors import ConnectionClosed
from node.p2p.secret import SecretConnection

if TYPE_CHECKING:
    from node.p2p.peer import Pacer

log = logging.getLogger("egp.p2p")


class CoalescingWriter:
    """The writer of `node.p2p.peer.Peer` (its base class); the peer's state it uses is declared here and made
    by `Peer.__init__`."""

    conn: SecretConnection
    node_id: str
    faulty: bool
    frames_sent: int
    _config: P2PConfig
    _loop: asyncio.AbstractEventLoop
    _channels: dict[int, ChannelSpec]
    _order: list[int]
    _queues: dict[int, deque[bytes]]
    _queued: dict[int, int]
    _queued_total: int
    _offsets: dict[int, int]
    _send_pacer: Pacer | None
    _closed: asyncio.Event
    _wake: asyncio.Event
    _waiting_since: float | None
    _last_write: float
    _ticker: asyncio.TimerHandle | None
    _flush_due: bool
    _drainer: asyncio.Task[None] | None

    if TYPE_CHECKING:  # the peer's own

        def close(self, reason: str, *, goodbye: bool = True) -> None: ...


    # ------------------------------------------------------------------ writing

    def _take_batch(self) -> list[bytes]:
        limit = self._config.write_batch_bytes
        if self._send_pacer is not None:
            limit = min(limit, self._send_pacer.burst)
        out: list[bytes] = []
        size = 0
        while self._queued_total and size < limit:
            before = len(out)
            for ch in self._order:
                q = self._queues[ch]
                for _ in range(self._channels[ch].priority):
                    if not q:
                        break
                    payload = q[0]
                    off = self._offsets[ch]
                    if len(payload) - off <= PACKET_DATA:
                        q.popleft()
                        self._offsets[ch] = 0
                        cost = len(payload) + FRAME_OVERHEAD
                        self._queued[ch] -= cost
                        self._queued_total -= cost
                        frame = self.conn.seal(bytes((ch, EOF)) + (payload[off:] if off else payload))
                    else:
                        self._offsets[ch] = off + PACKET_DATA
                        frame = self.conn.seal(bytes((ch, 0)) + payload[off : off + PACKET_DATA])
                    out.append(frame)
                    size += len(frame)
            if len(out) == before:  # pragma: no cover - accounting broken; never spin
                log.error("p2p send queue accounting is inconsistent", extra={"kv": {"peer": self.node_id}})
                self._queued_total = 0
        self.frames_sent += len(out)
        return out

    def _tick(self) -> None:
        """Every `keepalive_interval` at least: drop a peer silent for `idle_timeout`; send a keepalive when
        nothing was sent for `keepalive_interval` (sealed here: the writer seals and writes a batch in one
        step, so frames stay in counter order)."""
        self._ticker = None
        if self._closed.is_set():
            return
        cfg, loop = self._config, asyncio.get_running_loop()
        now = loop.time()
        since = self._waiting_since
        if since is not None and now - since > cfg.idle_timeout:
            self.faulty = True
            self.close(f"nothing received for {cfg.idle_timeout:g}s")
            return
        if now - self._last_write >= cfg.keepalive_interval:
            try:
                self.conn.write(self.conn.seal(bytes((CONTROL_CHANNEL, EOF))))
            except (ConnectionError, RuntimeError) as exc:
                self.close(f"connection lost: {exc}", goodbye=False)
                return
            self.frames_sent += 1
            self._last_write = now
        self._ticker = loop.call_at(self._last_write + cfg.keepalive_interval, self._tick)

    def _flush(self) -> None:
        """Seal and write what is queued, as one write (up to `write_batch_bytes`; the rest in a later
        callback, so that consensus can queue a vote ahead of the rest of a block). When the kernel does
        not take it all, `_drain_then_flush` waits for the socket (bounded by `write_timeout`)."""
        self._flush_due = False
        if self._closed.is_set() or self._drainer is not None:
            return
        batch = self._take_batch()
        if batch:
            try:
                self.conn.write(b"".join(batch))
            except (ConnectionError, RuntimeError) as exc:  # pragma: no cover - transports log, not raise
                self.close(f"connection lost: {exc}", goodbye=False)
                return
            self._last_write = self._loop.time()
        transport = self.conn.writer.transport
        if transport.get_write_buffer_size() or transport.is_closing():
            self._drainer = self._loop.create_task(self._drain_then_flush(), name=f"p2p-drain-{self.node_id[:8]}")
        elif self._queued_total:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    async def _drain_then_flush(self) -> None:
        cfg = self._config
        try:
            async with asyncio.timeout(cfg.write_timeout):
                await self.conn.drain()
        except TimeoutError:
            self._drainer = None
            self.faulty = True
            self.close(f"peer stalled: send buffer not drained for {cfg.write_timeout:g}s", goodbye=False)
            return
        except ConnectionClosed as exc:
            self._drainer = None
            self.close(str(exc), goodbye=False)
            return
        self._drainer = None
        if self._queued_total and not self._flush_due:
            self._flush()

    async def _write_loop(self) -> None:
        # The writer of a paced peer (`send_rate`); otherwise `_flush` writes, without a task.
        cfg = self._config
        loop = asyncio.get_running_loop()
        # Keepalives and the idle check run on one timer per peer (`_tick`), not on a timeout around every
        # wait for work: at a trickle that was a timer armed and cancelled for each frame sent.
        self._last_write = loop.time()
        self._ticker = loop.call_at(self._last_write + cfg.keepalive_interval, self._tick)
        try:
            while not self._closed.is_set():
                if not self._queued_total:
                    self._wake.clear()
                    await self._wake.wait()
                    if self._closed.is_set():
                        return
                batch = self._take_batch()
                if batch:
                    data = b"".join(batch)
                    self.conn.write(data)
                    self._last_write = loop.time()
                    if self._send_pacer is not None:
                        pause = self._send_pacer.spend(loop.time(), len(data))
                        if pause > 0:
                            await asyncio.sleep(pause)
                transport = self.conn.writer.transport
                if transport.get_write_buffer_size() or transport.is_closing():
                    # the kernel did not take it all (or the connection is going): wait, bounded. Else drain()
                    # has nothing to wait for, and its timer would cost more than the write (~4 us a batch)
                    try:
                        async with asyncio.timeout(cfg.write_timeout):
                            await self.conn.drain()
                    except TimeoutError:
                        self.faulty = True
                        self.close(f"peer stalled: send buffer not drained for {cfg.write_timeout:g}s",
                                   goodbye=False)
                        return
                if self._queued_total:
                    # drain() does not yield while the kernel takes everything (loopback): yield between
                    # batches so that consensus can run and queue a vote ahead of the rest of a block.
                    await asyncio.sleep(0)
        except ConnectionClosed as exc:
            self.close(str(exc), goodbye=False)
