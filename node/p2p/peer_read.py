"""A running peer's reading from the transport's own callback: `CallbackReading` (a base class of
`node.p2p.peer.Peer`) and `_PeerReader`, the protocol it puts on the transport.

Why a module of its own: this is how the socket's bytes reach the peer (peer.py's docstring says why in the
callback), apart from what they mean (`Peer._open_envelope`) and from the peer's life (`Peer.run`). The
methods are looked up on the peer's class as before (no call layer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

from node.p2p.envelope import ProtocolError
from node.p2p.errors import FrameError
from node.p2p.secret import SecretConnection

if TYPE_CHECKING:
    from node.p2p.peer import Deliver, Offer


class CallbackReading:
    """The transport-callback reader of `node.p2p.peer.Peer` (its base class); the peer's state it uses is
    declared here and made by `Peer.__init__`."""

    conn: SecretConnection
    node_id: str
    faulty: bool
    _loop: asyncio.AbstractEventLoop
    _deliver: Deliver
    _offer: Offer | None
    _closed: asyncio.Event
    _waiting_since: float | None
    _backlog: deque[bytes | tuple[int, bytes]]
    _backlogged: asyncio.Task[None] | None
    _ended: str | None

    if TYPE_CHECKING:  # the peer's own

        def close(self, reason: str, *, goodbye: bool = True) -> None: ...

        def _open_envelope(self, plaintext: bytes) -> tuple[int, bytes] | None: ...


    # ------------------------------------------------------------------ reading from the transport's callback

    def _attach_reader(self) -> bool:
        """Take the connection's bytes from the transport's own callback from now on (`_PeerReader`): a
        frame is opened and its message put in the inbox in the callback that read it, where the stream
        path cost a wake-up of the reader task per read and a coroutine per message. The bytes the
        handshake's stream read ahead come first. False (nothing changed) when the stream cannot be taken
        over (another asyncio, a transport without `set_protocol`, a stream already failed)."""
        conn = self.conn
        reader, transport = conn.reader, conn.writer.transport
        buffered = getattr(reader, "_buffer", None)  # asyncio.StreamReader's read-ahead (CPython's)
        if (not isinstance(buffered, bytearray) or not hasattr(transport, "set_protocol")
                or transport.is_closing() or reader.exception() is not None):
            return False
        stream = transport.get_protocol()
        ready, rest = conn.detach_reader()
        data = rest + bytes(buffered) if rest else bytes(buffered)
        buffered.clear()
        ended = bool(getattr(reader, "_eof", False))
        transport.set_protocol(_PeerReader(self, stream))
        if getattr(reader, "_paused", False):  # the stream had paused reading (its buffer was full)
            reader._paused = False  # type: ignore[attr-defined]
            self._transport().resume_reading()
        self._waiting_since = self._loop.time()
        if ready:
            self._frames(ready)
        if data:
            self._received(data)
        if ended:
            self._stream_ended("connection closed by peer")
        return True

    def _transport(self) -> asyncio.Transport:
        return cast(asyncio.Transport, self.conn.writer.transport)  # a socket's: it reads as well as writes

    def _received(self, data: bytes) -> None:
        """Bytes from the socket (`_PeerReader.data_received`): every frame they complete, in order."""
        if self._closed.is_set():
            return
        try:
            frames = self.conn.feed(data)
        except FrameError as exc:
            self.faulty = True
            self.close(f"FrameError: {exc}")
            return
        if frames:
            self._frames(frames)
        if self._backlogged is None:
            self._waiting_since = self._loop.time()

    def _frames(self, frames: list[bytes]) -> None:
        offer, nid = self._offer, self.node_id
        assert offer is not None
        for i, plaintext in enumerate(frames):
            if self._backlogged is not None:  # the inbox was full: the rest waits behind, in order
                self._backlog.extend(frames[i:])
                return
            try:
                msg = self._open_envelope(plaintext)
            except ProtocolError as exc:
                self.faulty = True
                self.close(f"ProtocolError: {exc}")
                return
            if msg is None:
                if self._closed.is_set():
                    return
                continue
            if not offer(nid, msg[0], msg[1]):
                self._backlog.append(msg)
                self._waiting_since = None  # waiting for our consumer, not for the peer
                self._transport().pause_reading()
                self._backlogged = self._loop.create_task(self._deliver_backlog(),
                                                          name=f"p2p-backlog-{self.node_id[:8]}")

    async def _deliver_backlog(self) -> None:
        """Deliver what waits for room in the inbox, in order, then read again."""
        backlog, deliver, nid = self._backlog, self._deliver, self.node_id
        try:
            while backlog:
                item = backlog.popleft()
                msg = item if isinstance(item, tuple) else self._open_envelope(item)
                if msg is not None:
                    await deliver(nid, msg[0], msg[1])
                elif self._closed.is_set():
                    return
        except ProtocolError as exc:
            self.faulty = True
            self.close(f"ProtocolError: {exc}")
            return
        finally:
            self._backlogged = None
        if self._closed.is_set():
            return
        if self._ended is not None:
            self.close(self._ended, goodbye=False)
            return
        self._waiting_since = self._loop.time()
        self._transport().resume_reading()

    def _stream_ended(self, reason: str) -> None:
        """EOF or a lost connection: close, once what was read before it is delivered."""
        if self._backlogged is not None:
            self._ended = reason
        else:
            self.close(reason, goodbye=False)


class _PeerReader(asyncio.Protocol):
    """The protocol of a running peer's transport (`Peer._attach_reader`): bytes go to the peer as they are
    read; the write side's flow control and the end of the connection still reach the stream's protocol, so
    the stream writer's `drain()` and `close()` work as before."""

    __slots__ = ("_peer", "_stream")

    def __init__(self, peer: CallbackReading, stream: asyncio.BaseProtocol) -> None:
        self._peer = peer
        self._stream = stream

    def data_received(self, data: bytes) -> None:
        self._peer._received(data)

    def eof_received(self) -> bool:
        self._peer._stream_ended("connection closed by peer")
        return True  # the peer closes the transport (after its goodbye, if any)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stream.connection_lost(exc)
        self._peer._stream_ended(f"connection lost: {exc}" if exc is not None else "connection closed by peer")

    def pause_writing(self) -> None:
        self._stream.pause_writing()

    def resume_writing(self) -> None:
        self._stream.resume_writing()
