"""One connected peer: per-channel bounded send queues, a coalescing writer, a strict reader, keepalives.

Why per-channel queues with a byte budget each: a peer that reads slowly must not grow our memory, and a
flood on one channel (transactions) must not push out another (votes). When a channel's budget is used
up, ``send`` refuses the message and returns False (counted in ``sends_refused``): gossip above us is
state-based and re-sends what a peer still lacks, so refusing is safe, while blocking the caller would
stall consensus on one slow bank. A peer whose socket does not drain at all for ``write_timeout`` is
disconnected (it is stalled, or gone without a FIN).

Why a writer that joins frames: one ``write()`` per batch of frames roughly halves the CPU per frame on
loopback (docs/limits.md, "Coalescing writes"). The first ``send`` of a loop turn schedules one flush
(``_flush``, a callback, not a task: a task's wake-up per batch cost more than the batch's bookkeeping),
which takes packets by weighted round robin over the channels (``ChannelSpec.priority`` packets per channel
per round), seals them in order (the AEAD counter is only touched where a batch is sealed and written in
one step) and writes them as one buffer, up to ``write_batch_bytes`` at a time. A peer paced by
``send_rate`` keeps a writer task (``_write_loop``).

Why the reader runs in the transport's callback: once admitted, the socket's bytes go to the peer in
``data_received`` (``_PeerReader``), which opens the frames and puts each message in the service's inbox at
once; a reader task woken through a stream per read, and a coroutine per message, cost more than the frames'
own work at a trickle. When the inbox is full, reading pauses until a task has delivered what waits (TCP
then holds the peer back). A peer paced by ``recv_rate`` keeps the stream reader task (``_read_loop``).

Why packets: a message (up to ``max_frame_bytes``, e.g. a whole block) is cut into packets of at most
``PACKET_DATA`` bytes, so a vote queued behind a 4 MiB block waits for one 64 KiB packet, not for the
block (head-of-line blocking; on a 100 Mbit/s link between two banks' data centres a 4 MiB frame is a third
of a second). The receiver reassembles per channel, bounded by ``max_frame_bytes``.

Envelope (the plaintext of a frame): ``channel (1 byte) ‖ flags (1 byte) ‖ data``; flag ``EOF`` (0x01)
marks the last packet of a message, no other flag exists. Channel 0 is the transport's own and takes only
single-packet messages: empty data is a keepalive; ``0x01 ‖ reason`` is a goodbye, so the other operator's
log says why we hung up. Anything else on channel 0, unknown flags, a short envelope, a channel nobody
registered, or a message above the limit drops the peer.

Where: the callback reader is node/p2p/peer_read.py (`CallbackReading`, `_PeerReader`), the writer
node/p2p/peer_write.py (`CoalescingWriter`), both base classes of `Peer`; the envelope's constants and
`ProtocolError` are node/p2p/envelope.py's, re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from node.p2p.config import CONTROL_CHANNEL, ChannelSpec, P2PConfig

# re-exported: their home was this module (callers import them from here)
from node.p2p.envelope import EOF as EOF
from node.p2p.envelope import FRAME_OVERHEAD as FRAME_OVERHEAD
from node.p2p.envelope import GOODBYE as GOODBYE
from node.p2p.envelope import MAX_PACKET_PLAINTEXT as MAX_PACKET_PLAINTEXT
from node.p2p.envelope import MAX_REASON as MAX_REASON
from node.p2p.envelope import PACKET_DATA as PACKET_DATA
from node.p2p.envelope import ProtocolError as ProtocolError
from node.p2p.errors import ConnectionClosed, FrameError
from node.p2p.peer_read import CallbackReading
from node.p2p.peer_read import _PeerReader as _PeerReader
from node.p2p.peer_write import CoalescingWriter
from node.p2p.secret import NodeInfo, SecretConnection

log = logging.getLogger("egp.p2p")

ABORT_GRACE = 2.0  # seconds a closing connection may flush its last bytes before it is aborted

Deliver = Callable[[str, int, bytes], Awaitable[None]]
Offer = Callable[[str, int, bytes], bool]  # deliver at once if there is room (True), else nothing (False)


class Pacer:
    """Token bucket: ``rate`` bytes/s with bursts of ``burst`` bytes; ``spend`` says how long to pause.

    Why: operators of banks' WAN links cap what one peer may take (CometBFT's send_rate/recv_rate). The
    writer pauses after a batch, the reader after a frame (TCP then slows the sender down).
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: int, burst: int) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def spend(self, now: float, nbytes: int) -> float:
        """Account ``nbytes`` sent (or received) at ``now``; seconds to wait before the next transfer."""
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= nbytes
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def make_pacer(rate: int) -> Pacer | None:
    return Pacer(rate, max(rate // 4, 2 * MAX_PACKET_PLAINTEXT)) if rate > 0 else None


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A snapshot of one connection, for RPC ``net_info``, metrics and logs."""

    node_id: str
    outbound: bool
    persistent: bool
    remote_host: str
    remote_port: int
    node_info: NodeInfo
    connected_at: float  # Unix seconds
    bytes_sent: int
    bytes_received: int
    frames_sent: int
    frames_received: int
    sends_refused: int
    send_queue_bytes: int

    @property
    def moniker(self) -> str:
        return self.node_info.moniker

    @property
    def listen_addr(self) -> str:
        """The address the peer says it listens on (from its signed NodeInfo)."""
        return self.node_info.listen_addr


def _log(level: int, msg: str, **kv: object) -> None:
    log.log(level, msg, extra={"kv": kv})


class Peer(CallbackReading, CoalescingWriter):
    """An admitted, authenticated connection. ``run()`` drives it until it closes and returns the reason."""

    def __init__(
        self,
        conn: SecretConnection,
        *,
        outbound: bool,
        persistent: bool,
        channels: Mapping[int, ChannelSpec],
        config: P2PConfig,
        deliver: Deliver,
        offer: Offer | None = None,
    ) -> None:
        self.conn = conn
        self.node_id = conn.remote_id
        self.outbound = outbound
        self.persistent = persistent
        self.remote_host, self.remote_port = conn.remote_address
        self.connected_at = time.time()
        self._channels = dict(channels)
        self._order = sorted(self._channels, key=lambda c: (-self._channels[c].priority, c))
        self._config = config
        self._deliver = deliver
        self._offer = offer
        self._loop = asyncio.get_running_loop()
        self._queues: dict[int, deque[bytes]] = {c: deque() for c in self._channels}
        self._queued: dict[int, int] = dict.fromkeys(self._channels, 0)
        self._queued_total = 0
        self._offsets: dict[int, int] = dict.fromkeys(self._channels, 0)  # bytes of the head message already sent
        self._partial: dict[int, bytearray] = {}  # messages being reassembled, by channel
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self.finished = asyncio.Event()  # set by the service once this peer's PeerDown is out
        self.close_reason = ""
        self.faulty = False  # closed for breaking the protocol, silence or stalling (counted in stats)
        self._send_pacer = make_pacer(config.send_rate)
        self._recv_pacer = make_pacer(config.recv_rate)
        self._waiting_since: float | None = asyncio.get_running_loop().time()
        self.frames_sent = 0
        self.frames_received = 0
        self.sends_refused = 0
        self._last_write = 0.0  # loop time of the last write (keepalives are sent after keepalive_interval)
        self._ticker: asyncio.TimerHandle | None = None
        # Writing without a task (`_flush`), unless a send rate paces it (`_write_loop`): a flush scheduled by
        # the first `send` of a loop turn writes everything queued in it; `_drainer` waits for a full socket.
        self._direct_write = self._send_pacer is None
        self._flush_due = False
        self._drainer: asyncio.Task[None] | None = None
        # Reading from the transport's own callback (`_PeerReader`), unless a receive rate paces it or the
        # stream cannot be taken over (`_read_loop`): messages go to the inbox while it has room (`offer`);
        # when it has none, reading pauses and `_backlog` (frames or messages, in order) waits in a task.
        self._backlog: deque[bytes | tuple[int, bytes]] = deque()
        self._backlogged: asyncio.Task[None] | None = None
        self._ended: str | None = None  # the stream ended while backlogged: close once it is delivered

    # ------------------------------------------------------------------ API used by the P2P service

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def info(self) -> PeerInfo:
        return PeerInfo(
            node_id=self.node_id,
            outbound=self.outbound,
            persistent=self.persistent,
            remote_host=self.remote_host,
            remote_port=self.remote_port,
            node_info=self.conn.remote_info,
            connected_at=self.connected_at,
            bytes_sent=self.conn.bytes_sent,
            bytes_received=self.conn.bytes_received,
            frames_sent=self.frames_sent,
            frames_received=self.frames_received,
            sends_refused=self.sends_refused,
            send_queue_bytes=self._queued_total,
        )

    def send(self, channel: int, payload: bytes) -> bool:
        """Queue one message; False when the peer is closed or this channel's queue budget is used up."""
        spec = self._channels.get(channel)
        if spec is None:
            raise ValueError(f"channel {channel} is not registered")
        if len(payload) > self._config.max_frame_bytes:
            raise ValueError(f"payload of {len(payload)} bytes exceeds max_frame_bytes={self._config.max_frame_bytes}")
        if self._closed.is_set():
            return False
        cost = len(payload) + FRAME_OVERHEAD
        if self._queued[channel] + cost > spec.send_queue_bytes:
            self.sends_refused += 1
            return False
        self._queues[channel].append(payload)
        self._queued[channel] += cost
        self._queued_total += cost
        if not self._direct_write:
            self._wake.set()
        elif not self._flush_due and self._drainer is None:
            self._flush_due = True
            self._loop.call_soon(self._flush)
        return True

    def close(self, reason: str, *, goodbye: bool = True) -> None:
        """Stop this peer (idempotent). With ``goodbye``, tell the peer why, best effort, without waiting."""
        if self._closed.is_set():
            return
        self.close_reason = reason
        if goodbye and not self.conn.writer.is_closing():
            text = reason.encode("utf-8", "replace")[:MAX_REASON]
            with contextlib.suppress(Exception):
                self.conn.write(self.conn.seal(bytes([CONTROL_CHANNEL, EOF, GOODBYE]) + text))
        self._closed.set()
        self._wake.set()

    async def run(self) -> str:
        tasks = []
        if self._offer is None or self._recv_pacer is not None or not self._attach_reader():
            tasks.append(asyncio.create_task(self._read_loop(), name=f"p2p-read-{self.node_id[:8]}"))
        if self._direct_write:
            cfg = self._config
            self._last_write = self._loop.time()
            self._ticker = self._loop.call_at(self._last_write + cfg.keepalive_interval, self._tick)
            if self._queued_total and not self._flush_due and self._drainer is None:
                self._flush()
        else:
            tasks.append(asyncio.create_task(self._write_loop(), name=f"p2p-write-{self.node_id[:8]}"))
        try:
            await self._closed.wait()
        finally:
            if not self._closed.is_set():  # cancelled from outside (service stopping)
                self.close("node shutting down")
            tasks.extend(t for t in (self._drainer, self._backlogged) if t is not None)
            for t in tasks:
                t.cancel()
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None
            await asyncio.gather(*tasks, return_exceptions=True)
            self.conn.close()
            transport = self.conn.writer.transport
            asyncio.get_running_loop().call_later(ABORT_GRACE, transport.abort)
        return self.close_reason

    # ------------------------------------------------------------------ reading

    def _open_envelope(self, plaintext: bytes) -> tuple[int, bytes] | None:
        """One frame's envelope: the (channel, message) it completes, or None (a keepalive, a packet of a
        message not complete yet, or a goodbye: the peer is then closed). Raises ProtocolError."""
        if len(plaintext) < 2:
            raise ProtocolError("short envelope")
        self.frames_received += 1
        channel, flags = plaintext[0], plaintext[1]
        if channel == CONTROL_CHANNEL:
            if flags != EOF:
                raise ProtocolError(f"bad flags 0x{flags:02x} on the control channel")
            if len(plaintext) == 2:
                return None  # keepalive
            if plaintext[2] == GOODBYE:
                why = plaintext[3 : 3 + MAX_REASON].decode("utf-8", "replace")
                self.close(f"peer hung up: {why}", goodbye=False)
                return None
            raise ProtocolError(f"unknown control message 0x{plaintext[2]:02x}")
        if channel not in self._channels:
            raise ProtocolError(f"frame on unregistered channel {channel}")
        if flags & ~EOF:
            raise ProtocolError(f"unknown flags 0x{flags:02x}")
        partial = self._partial
        buf = partial.get(channel)
        if buf is None and flags == EOF:
            return channel, plaintext[2:]  # one-packet message: no copy
        if buf is None:
            buf = partial[channel] = bytearray()
        buf += memoryview(plaintext)[2:]
        if len(buf) > self._config.max_frame_bytes:
            raise ProtocolError(f"message on channel {channel} exceeds {self._config.max_frame_bytes} bytes")
        if flags == EOF:
            del partial[channel]
            return channel, bytes(buf)
        return None

    async def _read_loop(self) -> None:
        # The reader of a paced peer (`recv_rate`), or of a stream `_attach_reader` cannot take over.
        # No per-frame timeout here (it would cost a timer per frame): `_tick` watches ``_waiting_since``
        # and closes a peer that has been silent for ``idle_timeout``. While we wait for our own consumer
        # (a full inbox), the clock is stopped: our slowness is not the peer's fault.
        # Every frame the socket holds is taken at once (``read_frames``): one wake-up of this task per
        # batch of frames, not two per frame.
        loop = asyncio.get_running_loop()
        deliver = self._deliver
        try:
            while True:
                self._waiting_since = loop.time()
                frames = await self.conn.read_frames()
                self._waiting_since = None
                for plaintext in frames:
                    if self._recv_pacer is not None:
                        pause = self._recv_pacer.spend(loop.time(), len(plaintext) + FRAME_OVERHEAD)
                        if pause > 0:
                            await asyncio.sleep(pause)
                    msg = self._open_envelope(plaintext)
                    if msg is not None:
                        await deliver(self.node_id, msg[0], msg[1])
                    elif self._closed.is_set():
                        return
        except ConnectionClosed as exc:
            self.close(str(exc), goodbye=False)
        except (FrameError, ProtocolError) as exc:
            self.faulty = True
            self.close(f"{type(exc).__name__}: {exc}")
