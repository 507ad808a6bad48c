"""A client WebSocket connection for the load generator's lanes (RFC 6455), kept to what a lane needs.

Why not aiohttp's client here (it still makes the commit observer's and the verifiers' connections): the
generator shares the two cores with the nodes, so each CPU-µs it spends per tx is taken from them, and most
of what it spends is its event loop waking up (the epoll wait, the switch back: tens of µs each on this VM).
aiohttp sends a message as one coroutine call, one mask and one socket write, and wakes the loop for each
answer the node writes, delivering it as a message object through a queue and an awaited iteration. A lane
instead writes the frames of every tx due at once in one `send`, framed and masked before the clock started
(`masked_frame`, called by devnet/bench/loadplan.py), and reads the node's answers only when it `poll`s,
which the lane does each time it wakes anyway (its tick, devnet/bench/loadgen.py): the socket is
non-blocking and never registered with the loop, so an answer arriving costs no wake-up. Answers are then
read up to a tick late; their time is only used to forget a tx as stale, never in a reported figure.

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
import contextlib
import hashlib
import os
import socket
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


class WsLink:
    """One client connection on a non-blocking socket: `write(frames)` sends ready-made masked frames (what
    the socket does not take at once waits for the next `write` or `poll`); `poll()` reads what the server
    sent so far and hands every text message to `on_text`, in order. Once the connection has ended, both
    raise `WsError` (`error` says why)."""

    def __init__(self, sock: socket.socket, on_text: Callable[[str], None], buffered: bytes = b"") -> None:
        self.sock = sock
        self.on_text = on_text
        self.error: WsError | None = None
        self._buf = bytearray(buffered)
        self._out = b""  # bytes written and not yet taken by the socket
        self._parts: list[bytes] = []  # a fragmented message so far
        self._op = 0

    @property
    def closed(self) -> bool:
        return self.error is not None

    # ---------------------------------------------------------------- sending
    def write(self, data: bytes) -> None:
        """Send masked frames (`masked_frame`s joined), in order after anything still waiting."""
        if self.error is not None:
            raise self.error
        self._out += data
        self._flush()

    def _flush(self) -> None:
        if not self._out:
            return
        try:
            n = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError as e:
            raise self._end(WsError(f"connection lost: {e!r}")) from e
        self._out = self._out[n:]

    # ---------------------------------------------------------------- reading
    def poll(self) -> None:
        """Read everything the server has sent so far (never waits) and deliver its text messages."""
        if self.error is not None:
            raise self.error
        self._flush()
        buf = self._buf
        while True:
            try:
                data = self.sock.recv(262_144)
            except BlockingIOError:
                break
            except OSError as e:
                raise self._end(WsError(f"connection lost: {e!r}")) from e
            if not data:
                self._frames()
                raise self._end(WsError("closed by the node"))
            buf += data
            if len(data) < 262_144:
                break
        if buf:
            self._frames()

    def _frames(self) -> None:
        """Every complete frame in the buffer, in order; a partial one stays for the next read."""
        buf, at, size = self._buf, 0, len(self._buf)
        on_text = self.on_text
        while size - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            if b1 & 0x80:
                raise self._end(WsError("masked frame from the server"))
            if b0 & 0x70:
                raise self._end(WsError("reserved bits set (no extension was agreed)"))
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
        del buf[:at]

    def _other(self, op: int, fin: int, payload: bytes) -> None:
        if op in (OP_TEXT, OP_BINARY, OP_CONT):
            if (op == OP_CONT) != bool(self._parts):
                raise self._end(WsError("fragment out of sequence"))
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
            self._out = b""
            self.write(masked_frame(payload[:2], OP_CLOSE))
            raise self._end(WsError("closed by the node"))
        elif op != OP_PONG:
            raise self._end(WsError(f"unknown opcode {op}"))

    def _end(self, error: WsError) -> WsError:
        if self.error is None:
            self.error = error
            self.sock.close()
        return self.error

    def close(self) -> None:
        """Send a close frame (1000), best effort, and drop the connection."""
        if self.error is None:
            self._out = b""
            with contextlib.suppress(WsError):
                self.write(masked_frame(struct.pack("!H", 1000), OP_CLOSE))
            self._end(WsError("closed by us"))


async def connect(url: str, on_text: Callable[[str], None], timeout: float = 10.0) -> WsLink:
    """Open `url`'s /websocket (`url` is the node's RPC URL, http://host:port) and finish the handshake."""
    u = urlsplit(url)
    if u.scheme not in ("http", "ws") or not u.hostname:
        raise WsError(f"not an http:// RPC URL: {url}")
    host, port = u.hostname, u.port or 80
    key = base64.b64encode(os.urandom(16))
    loop = asyncio.get_running_loop()
    info = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not info:
        raise WsError(f"no address for {host}")
    family, kind, proto, _, addr = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, addr)
            await loop.sock_sendall(sock, b"GET /websocket HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
                                    + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                                    + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
            got = bytearray()
            while (end := got.find(b"\r\n\r\n")) < 0:
                if len(got) > MAX_HANDSHAKE:
                    raise WsError("no end of the handshake's headers")
                data = await loop.sock_recv(sock, 65_536)
                if not data:
                    raise WsError(f"{url} closed the connection during the handshake")
                got += data
        _check_upgrade(bytes(got[:end]), key)
    except TimeoutError as e:
        sock.close()
        raise WsError(f"no WebSocket handshake from {url} within {timeout} s") from e
    except BaseException:
        sock.close()
        raise
    return WsLink(sock, on_text, bytes(got[end + 4:]))


def _check_upgrade(head_bytes: bytes, key: bytes) -> None:
    head = head_bytes.decode("latin-1").split("\r\n")
    status = head[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise WsError(f"the node refused the upgrade: {head[0]!r}")
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if fields.get("sec-websocket-accept") != want:
        raise WsError("bad Sec-WebSocket-Accept in the handshake")
    if fields.get("sec-websocket-extensions"):
        raise WsError(f"extension not asked for: {fields['sec-websocket-extensions']!r}")
