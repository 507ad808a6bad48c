"""A client WebSocket connection for the load generator's lanes (RFC 6455), kept to what a lane needs.

Why not aiohttp's client here (it still makes the commit observer's and the verifiers' connections): the
generator shares the two cores with the nodes, so each CPU-µs it spends per tx is taken from them. aiohttp
sends a message as one coroutine call, one mask and one socket write, and delivers each answer as a message
object through a queue and an awaited iteration. A lane instead writes the frames of every tx due at once in
one `transport.write`, framed and masked before the clock started (`masked_frame`, called by
devnet/bench/loadplan.py), and reads the node's answers in `data_received`, handing each text to a callback
with no task switch in between.

Masking: every client frame is masked with its own key drawn from `os.urandom` (§5.3: the key must be
unpredictable to whoever chooses the payload; drawing it before the run rather than at the send keeps that).
Server frames must be unmasked. Pings are answered with a pong carrying their payload; a close frame is
answered and ends the connection. Fragmented messages are reassembled. Anything else the node sends that a
client must not receive (a masked frame, an unknown opcode, a bad handshake) ends the connection with
`WsError`, which the lane reports as a lost connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 64 * 1024


class WsError(ConnectionError):
    """The server broke the protocol, or the connection closed; the message says how."""


def _mask(key: bytes, data: bytes) -> bytes:
    """`data` XOR the 4-byte `key` repeated (the same operation masks and unmasks)."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def _header(opcode: int, n: int, masked: bool) -> bytes:
    bit = 0x80 if masked else 0
    if n < 126:
        return bytes((0x80 | opcode, bit | n))
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, bit | 126, n)
    return struct.pack("!BBQ", 0x80 | opcode, bit | 127, n)


def masked_frame(data: bytes, opcode: int = OP_TEXT, key: bytes | None = None) -> bytes:
    """One final client frame carrying `data`, masked with `key` (4 random bytes when None)."""
    key = os.urandom(4) if key is None else key
    return _header(opcode, len(data), True) + key + _mask(key, data)


def frame_payload(frame: bytes) -> bytes:
    """The unmasked payload of one `masked_frame` (what the server reads)."""
    n = frame[1] & 0x7F
    at = 2 if n < 126 else 4 if n == 126 else 10
    return _mask(frame[at:at + 4], frame[at + 4:])


class WsLink(asyncio.Protocol):
    """One client connection: `write(frames)` sends ready-made masked frames; every text message the server
    sends goes to `on_text`, in order, from the event loop's read callback. `closed` resolves (None, or the
    error) when the connection ends."""

    def __init__(self, on_text: Callable[[str], None], key: bytes, host: str) -> None:
        self.on_text = on_text
        self._key = key
        self._host = host
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._upgraded = False
        self._parts: list[bytes] = []  # a fragmented message so far
        self._op = 0

    # ---------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"GET /websocket HTTP/1.1\r\nHost: " + self._host.encode() + b"\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + self._key + b"\r\n"
                        b"Sec-WebSocket-Version: 13\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        try:
            if not self._upgraded and not self._handshake():
                return
            self._frames()
        except WsError as e:
            self._end(e)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(WsError(f"connection lost: {exc!r}") if exc is not None else WsError("closed by the node"))

    # ---------------------------------------------------------------- sending
    def write(self, data: bytes) -> None:
        """Send masked frames (`masked_frame`s joined); raises `WsError` once the connection has ended."""
        t = self.transport
        if t is None or t.is_closing() or self.closed.done():
            raise WsError("connection closed")
        t.write(data)

    # ---------------------------------------------------------------- reading
    def _handshake(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HANDSHAKE:
                raise WsError("no end of the handshake's headers")
            return False
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WsError(f"the node refused the upgrade: {head[0]!r}")
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        want = base64.b64encode(hashlib.sha1(self._key + GUID).digest()).decode()
        if fields.get("sec-websocket-accept") != want:
            raise WsError("bad Sec-WebSocket-Accept in the handshake")
        if fields.get("sec-websocket-extensions"):
            raise WsError(f"extension not asked for: {fields['sec-websocket-extensions']!r}")
        self._upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)
        return True

    def _frames(self) -> None:
        """Every complete frame in the buffer, in order; a partial one stays for the next read."""
        buf, at, size = self._buf, 0, len(self._buf)
        on_text = self.on_text
        while size - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            if b1 & 0x80:
                raise WsError("masked frame from the server")
            if b0 & 0x70:
                raise WsError("reserved bits set (no extension was agreed)")
            n, start = b1 & 0x7F, at + 2
            if n == 126:
                if size - at < 4:
                    break
                n, start = (buf[at + 2] << 8) | buf[at + 3], at + 4
            elif n == 127:
                if size - at < 10:
                    break
                n, start = int.from_bytes(buf[at + 2:at + 10], "big"), at + 10
            if size - start < n:
                break
            op, fin = b0 & 0x0F, b0 & 0x80
            at = start + n
            if op == OP_TEXT and fin and not self._parts:
                on_text(buf[start:at].decode("utf-8"))
            else:
                self._other(op, fin, bytes(buf[start:at]))
            if self.closed.done():
                return
        del buf[:at]

    def _other(self, op: int, fin: int, payload: bytes) -> None:
        if op in (OP_TEXT, OP_BINARY, OP_CONT):
            if (op == OP_CONT) != bool(self._parts):
                raise WsError("fragment out of sequence")
            if op != OP_CONT:
                self._op = op
            self._parts.append(payload)
            if fin:
                data, self._parts = b"".join(self._parts), []
                if self._op == OP_TEXT:
                    self.on_text(data.decode("utf-8"))
        elif op == OP_PING:
            self.write(masked_frame(payload, OP_PONG))
        elif op == OP_CLOSE:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(masked_frame(payload[:2], OP_CLOSE))
                self.transport.close()
            self._end(WsError("closed by the node"))
        elif op != OP_PONG:
            raise WsError(f"unknown opcode {op}")

    def _end(self, exc: BaseException | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or WsError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(exc)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def close(self) -> None:
        """Send a close frame (1000) and drop the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(struct.pack("!H", 1000), OP_CLOSE))
            self.transport.close()
        self._end(None)


async def connect(url: str, on_text: Callable[[str], None], timeout: float = 10.0) -> WsLink:
    """Open `url`'s /websocket (`url` is the node's RPC URL, http://host:port) and finish the handshake."""
    u = urlsplit(url)
    if u.scheme not in ("http", "ws") or not u.hostname:
        raise WsError(f"not an http:// RPC URL: {url}")
    port = u.port or 80
    key = base64.b64encode(os.urandom(16))
    loop = asyncio.get_running_loop()
    try:
        _, link = await asyncio.wait_for(
            loop.create_connection(lambda: WsLink(on_text, key, f"{u.hostname}:{port}"), u.hostname, port), timeout)
    except TimeoutError as e:
        raise WsError(f"no connection to {url} within {timeout} s") from e
    try:
        await asyncio.wait_for(asyncio.shield(link.opened), timeout)
    except TimeoutError as e:
        await link.close()
        raise WsError(f"no WebSocket handshake from {url} within {timeout} s") from e
    except BaseException:
        await link.close()
        raise
    return link
