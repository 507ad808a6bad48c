"""The authenticated, encrypted connection between two nodes (our SecretConnection).

Why our own design rather than a port of CometBFT's: CometBFT's SecretConnection uses Merlin transcripts
and a protobuf handshake; we only need the same guarantees (an eavesdropper learns nothing but frame sizes,
a man in the middle cannot impersonate a node key, tampering and replay are detected), built from
libsodium primitives that PyNaCl exposes. Nothing cryptographic is hand-rolled: X25519
(``crypto_scalarmult``), BLAKE2b (``crypto_generichash``) used exactly as libsodium's ``crypto_kdf``
derives sub-keys, Ed25519 signatures (``state.crypto``) and ChaCha20-Poly1305-IETF as the AEAD.

Handshake (symmetric: both sides run the same steps, so no "client"/"server" roles):

1. send ``MAGIC ‖ eph_pub`` (8 + 32 bytes, fresh X25519 key per connection); read the peer's. A wrong magic
   (random bytes, an HTTP client, another protocol) ends the handshake before any crypto is done.
2. ``dh = X25519(eph_priv, their_eph_pub)``; reject equal ephemeral keys (a reflected hello) and low-order
   points (libsodium refuses an all-zero result). ``lo, hi`` = the two ephemeral keys sorted.
3. ``master = BLAKE2b-256(dh ‖ lo ‖ hi, person=KX_PERSON)``, then sub-keys as ``crypto_kdf`` does
   (BLAKE2b keyed with ``master``, salt = sub-key id, person = context): id 1 = key for frames sent by the
   ``lo`` side, id 2 = key for frames sent by the ``hi`` side, id 3 = the 32-byte challenge.
4. each side sends, as its first sealed frame, ``AuthMessage(pub_key, sig, node_info)`` where
   ``sig = Ed25519(node_key, AUTH_DOMAIN ‖ challenge ‖ node_info)``. The receiver checks the signature
   against the presented key: the remote node ID (``state.crypto.node_id``) is then authenticated, and bound
   to this very session (the challenge depends on both ephemeral keys and the shared secret).

Frames: ``len (4 bytes, big-endian) ‖ AEAD(plaintext, aad=len, nonce=counter)``, where ``len`` is the
ciphertext length (plaintext + 16-byte tag), authenticated as associated data, and the 12-byte nonce is
4 zero bytes ‖ a 64-bit little-endian counter, one counter and one key per direction, so a nonce is never
reused and a replayed, reordered or dropped frame fails to open. A length above the limit is refused before
the body is read, so a peer cannot make us buffer more than one maximum frame.
"""

from __future__ import annotations

import asyncio
import os
import struct
from dataclasses import dataclass
from typing import ClassVar

from nacl import bindings
from nacl.exceptions import RuntimeError as NaclRuntimeError

from node.p2p.aead import KEY_SIZE, TAG_SIZE, aead_decrypt, aead_encrypt
from node.p2p.errors import ConnectionClosed, FrameError, HandshakeError
from state.codec import DecodeError, Record
from state.crypto import PrivateKey, node_id, verify

MAGIC = b"EGPp2p\x00\x01"  # protocol name + version 1; a new wire format gets a new magic
EPH_SIZE = 32
HELLO_SIZE = len(MAGIC) + EPH_SIZE
HEADER = struct.Struct(">I")
KX_PERSON = b"egp-p2p/v1/kx"
KDF_CONTEXT = b"egp-p2p1"  # 8 bytes, as crypto_kdf contexts are
AUTH_DOMAIN = b"egp-chain/p2p/v1/auth\x00"
MAX_HANDSHAKE_FRAME = 4096
READ_CHUNK = 256 * 1024  # most bytes `SecretConnection.read_frames` takes from the stream's buffer at once
VIEW_ABOVE = 16 * 1024  # bytes read at once above which frames are opened through a view (a copy costs more);
# a frame above it is read exactly, and so is the next one
_NONCE_PREFIX = bytes(4)


# --------------------------------------------------------------------------- key derivation


def kdf(master: bytes, subkey_id: int, size: int = 32) -> bytes:
    """libsodium's ``crypto_kdf_derive_from_key``: BLAKE2b(key=master, salt=id LE64, person=context)."""
    salt = subkey_id.to_bytes(8, "little") + bytes(8)
    return bindings.crypto_generichash_blake2b_salt_personal(
        b"", digest_size=size, key=master, salt=salt, person=KDF_CONTEXT + bytes(8)
    )


@dataclass(frozen=True, slots=True)
class SessionKeys:
    send_key: bytes
    recv_key: bytes
    challenge: bytes


def derive_session(eph_priv: bytes, my_eph: bytes, their_eph: bytes) -> SessionKeys:
    """Keys of one session from the ephemeral exchange. Raises HandshakeError on a degenerate exchange."""
    if len(their_eph) != EPH_SIZE:
        raise HandshakeError("ephemeral key of wrong size")
    if their_eph == my_eph:
        raise HandshakeError("peer echoed our ephemeral key (reflection)")
    try:
        dh = bindings.crypto_scalarmult(eph_priv, their_eph)
    except NaclRuntimeError:
        raise HandshakeError("peer sent a low-order ephemeral key") from None
    lo, hi = sorted((my_eph, their_eph))
    master = bindings.crypto_generichash_blake2b_salt_personal(
        dh + lo + hi, digest_size=32, person=KX_PERSON.ljust(16, b"\x00")
    )
    k_lo, k_hi, challenge = kdf(master, 1), kdf(master, 2), kdf(master, 3)
    if my_eph == lo:
        return SessionKeys(send_key=k_lo, recv_key=k_hi, challenge=challenge)
    return SessionKeys(send_key=k_hi, recv_key=k_lo, challenge=challenge)


# --------------------------------------------------------------------------- frame codec (sans I/O)


class FrameSealer:
    """Seals plaintexts into wire frames for one direction; the counter makes each nonce unique."""

    __slots__ = ("_counter", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("AEAD key must be 32 bytes")
        self._key = key
        self._counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        header = HEADER.pack(len(plaintext) + TAG_SIZE)
        nonce = _NONCE_PREFIX + self._counter.to_bytes(8, "little")
        self._counter += 1
        return header + aead_encrypt(plaintext, header, nonce, self._key)


class FrameOpener:
    """Opens wire frames of one direction, in order; any tampering, replay or reordering fails."""

    __slots__ = ("_counter", "_key", "max_plaintext")

    def __init__(self, key: bytes, max_plaintext: int) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("AEAD key must be 32 bytes")
        self._key = key
        self._counter = 0
        self.max_plaintext = max_plaintext

    def body_size(self, header: bytes) -> int:
        """Ciphertext size announced by a 4-byte header; FrameError if out of bounds."""
        size = int.from_bytes(header, "big")
        if size < TAG_SIZE:
            raise FrameError(f"frame of {size} bytes is shorter than its tag")
        if size - TAG_SIZE > self.max_plaintext:
            raise FrameError(f"frame of {size - TAG_SIZE} bytes exceeds the limit of {self.max_plaintext}")
        return size

    def open(self, header: bytes, body: bytes | memoryview) -> bytes:
        nonce = _NONCE_PREFIX + self._counter.to_bytes(8, "little")
        plaintext = aead_decrypt(body, header, nonce, self._key)
        self._counter += 1
        return plaintext

    def open_frame(self, frame: bytes) -> bytes:
        """Open one complete frame given as bytes (header included); for tests and tools."""
        if len(frame) < HEADER.size:
            raise FrameError("frame shorter than its header")
        header, body = frame[: HEADER.size], frame[HEADER.size :]
        if self.body_size(header) != len(body):
            raise FrameError("frame length does not match its header")
        return self.open(header, body)


# --------------------------------------------------------------------------- handshake messages


@dataclass(frozen=True)
class NodeInfo(Record):
    """What a node says about itself in the handshake (shown by RPC net_info), signed with its node key."""

    TAG: ClassVar[int] = 0x5001
    MAX_LEN: ClassVar[dict[str, int]] = {"network": 64, "moniker": 64, "listen_addr": 255, "version": 32}
    network: str
    moniker: str
    listen_addr: str
    version: str


@dataclass(frozen=True)
class AuthMessage(Record):
    TAG: ClassVar[int] = 0x5002
    MAX_LEN: ClassVar[dict[str, int]] = {"pub_key": 32, "signature": 64}
    pub_key: bytes
    signature: bytes
    node_info: NodeInfo


def auth_sign_bytes(challenge: bytes, info: NodeInfo) -> bytes:
    return AUTH_DOMAIN + challenge + info.encode()


# --------------------------------------------------------------------------- the connection


class SecretConnection:
    """An established session over asyncio streams: ``read_frame`` / ``seal`` + ``write`` / ``close``.

    Reading is done by one task at a time and sealing by one task at a time (the counters are per direction).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keys: SessionKeys,
        max_plaintext: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._sealer = FrameSealer(keys.send_key)
        self._opener = FrameOpener(keys.recv_key, max_plaintext)
        self.challenge = keys.challenge
        self.remote_pub_key = b""
        self.remote_id = ""
        self.remote_info = NodeInfo("", "", "", "")
        self.bytes_sent = 0
        self.bytes_received = 0
        self._rest = b""  # bytes read past the last complete frame (`read_frames`)
        self._exact = False  # the last frame was big: `read_frames` reads the next one exactly
        self._ready: list[bytes] = []  # frames opened by `read_frames`'s parse, not returned yet
        self._parts: list[bytes] = []  # `feed`: the pieces of a big frame gathered so far (`_got` bytes of `_want`)
        self._got = 0
        self._want = 0

    @property
    def remote_address(self) -> tuple[str, int]:
        peer = self.writer.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return ("?", 0)

    async def read_frame(self) -> bytes:
        """The next plaintext. Raises ConnectionClosed on EOF, FrameError on a bad or oversized frame.
        Reads exactly one frame's bytes (the handshake hands the stream on after it); frames `read_frames`
        has buffered already come first."""
        if self._rest:
            self._ready.extend(self._parse())
        if self._ready:
            return self._ready.pop(0)
        try:
            if self._rest:  # a frame begun in what `read_frames` took: the rest of it, exactly
                header = self._rest[: HEADER.size]
                if len(header) < HEADER.size:
                    header += await self.reader.readexactly(HEADER.size - len(header))
                size = self._opener.body_size(header)
                body = self._rest[HEADER.size :]
                body += await self.reader.readexactly(size - len(body))
                self._rest = b""
            else:
                header = await self.reader.readexactly(HEADER.size)
                body = await self.reader.readexactly(self._opener.body_size(header))
        except asyncio.IncompleteReadError:
            raise ConnectionClosed("connection closed by peer") from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(f"connection lost: {exc}") from None
        self.bytes_received += HEADER.size + len(body)
        return self._opener.open(header, body)

    async def read_frames(self) -> list[bytes]:
        """The plaintexts of every complete frame the socket holds now (at least one): one wait for the
        stream per batch of frames rather than two per frame (a trickle of small frames pays the loop's
        wake-up per read, a stream of them the read calls). Same checks as `read_frame`: a header above the
        limit is refused before its body is read, so at most one maximum frame (plus one read) is buffered.
        Raises ConnectionClosed on EOF, FrameError on a bad or oversized frame."""
        if self._ready:
            out, self._ready = self._ready, []
            return out
        reader = self.reader
        try:
            if self._exact and not self._rest:
                # the last frame was a big packet (a block in transfer): read the next exactly, without the
                # copies a read ahead costs a 64 KiB packet (read, then joined with the rest of it)
                header = await reader.readexactly(HEADER.size)
                size = self._opener.body_size(header)
                body = await reader.readexactly(size)
                self._exact = size > VIEW_ABOVE
                self.bytes_received += HEADER.size + size
                return [self._opener.open(header, body)]
            while True:
                rest = self._rest
                if len(rest) >= HEADER.size:
                    need = HEADER.size + self._opener.body_size(rest[: HEADER.size]) - len(rest)
                    if need > 0:  # the rest of a frame begun: exactly that (a big frame arrives in pieces)
                        rest += await reader.readexactly(need)
                        self._rest = rest
                else:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        raise ConnectionClosed("connection closed by peer")
                    self._rest = rest + data if rest else data
                frames = self._parse()
                if frames:
                    return frames
        except asyncio.IncompleteReadError:
            raise ConnectionClosed("connection closed by peer") from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(f"connection lost: {exc}") from None

    def feed(self, data: bytes) -> list[bytes]:
        """The plaintexts of every frame `data` completes (bytes received by a protocol callback rather than
        read from the stream: `node.p2p.peer.Peer`); same checks as `read_frames` (a header above the limit
        fails before its body is buffered). A big frame that arrives in many pieces (a 64 KiB packet over a
        WAN comes in segments) is gathered in a list and joined once it is complete, not copied again with
        every piece. Raises FrameError."""
        if self._want:
            self._parts.append(data)
            self._got += len(data)
            if self._got < self._want:
                return []
            data = b"".join(self._parts)
            self._parts, self._got, self._want = [], 0, 0
        elif self._rest:
            data = self._rest + data
        self._rest = data
        frames = self._parse()
        rest = self._rest
        if len(rest) > VIEW_ABOVE // 4 and len(rest) >= HEADER.size:  # a big frame begun: gather the rest
            want = HEADER.size + self._opener.body_size(rest[: HEADER.size])  # (checked by _parse already)
            self._parts, self._got, self._want, self._rest = [rest], len(rest), want, b""
        return frames

    def detach_reader(self) -> tuple[list[bytes], bytes]:
        """What `read_frames` / `read_frame` took from the stream and did not return: frames already opened,
        and the bytes after them; both are handed over and forgotten here (the stream is read no more)."""
        ready, rest = self._ready, self._rest
        self._ready, self._rest, self._exact = [], b"", False
        return ready, rest

    def _parse(self) -> list[bytes]:
        """Open every complete frame of the bytes read ahead; keep the incomplete tail."""
        buf = self._rest
        out: list[bytes] = []
        opener, hsize, off, end = self._opener, HEADER.size, 0, len(buf)
        view = memoryview(buf) if end > VIEW_ABOVE else None  # big packets are opened in place, not copied
        while end - off >= hsize:
            header = buf[off : off + hsize]
            stop = off + hsize + opener.body_size(header)
            if stop > end:
                break
            out.append(opener.open(header, buf[off + hsize : stop] if view is None else view[off + hsize : stop]))
            self._exact = stop - off > VIEW_ABOVE
            off = stop
        self.bytes_received += off
        self._rest = buf[off:] if off else buf
        return out

    def seal(self, plaintext: bytes) -> bytes:
        return self._sealer.seal(plaintext)

    def write(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(f"connection lost: {exc}") from None

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


async def _read_handshake_frame(conn: SecretConnection) -> bytes:
    saved = conn._opener.max_plaintext
    conn._opener.max_plaintext = MAX_HANDSHAKE_FRAME
    try:
        return await conn.read_frame()
    except FrameError as exc:
        raise HandshakeError(f"bad handshake frame: {exc}") from None
    except ConnectionClosed as exc:
        raise HandshakeError(f"peer closed during the handshake ({exc})") from None
    finally:
        conn._opener.max_plaintext = saved


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: PrivateKey,
    info: NodeInfo,
    max_plaintext: int,
) -> SecretConnection:
    eph_priv = os.urandom(32)
    eph_pub = bindings.crypto_scalarmult_base(eph_priv)
    writer.write(MAGIC + eph_pub)
    try:
        await writer.drain()
        hello = await reader.readexactly(HELLO_SIZE)
    except asyncio.IncompleteReadError:
        raise HandshakeError("peer closed before completing its hello") from None
    except (ConnectionError, OSError) as exc:
        raise HandshakeError(f"connection lost during the handshake: {exc}") from None
    if hello[: len(MAGIC)] != MAGIC:
        raise HandshakeError("not an egp-chain p2p peer (bad magic)")
    keys = derive_session(eph_priv, eph_pub, hello[len(MAGIC) :])
    conn = SecretConnection(reader, writer, keys, max_plaintext)

    signature = node_key.sign(auth_sign_bytes(keys.challenge, info))
    conn.write(conn.seal(AuthMessage(node_key.public_key.raw, signature, info).encode()))
    try:
        await conn.drain()
    except ConnectionClosed as exc:
        raise HandshakeError(str(exc)) from None
    raw = await _read_handshake_frame(conn)
    try:
        auth = AuthMessage.decode(raw, max_size=MAX_HANDSHAKE_FRAME)
    except DecodeError as exc:
        raise HandshakeError(f"malformed auth message: {exc}") from None
    if len(auth.pub_key) != 32 or not verify(auth.pub_key, auth_sign_bytes(keys.challenge, auth.node_info),
                                             auth.signature):
        raise HandshakeError("peer's handshake signature does not verify against its node key")
    conn.remote_pub_key = auth.pub_key
    conn.remote_id = node_id(auth.pub_key)
    conn.remote_info = auth.node_info
    return conn


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: PrivateKey,
    info: NodeInfo,
    *,
    max_plaintext: int,
    timeout: float,
) -> SecretConnection:
    """Run the handshake on a fresh TCP stream; the remote node ID is authenticated when this returns.

    Raises HandshakeError (including on timeout). The caller closes the writer on failure.
    """
    try:
        return await asyncio.wait_for(_handshake(reader, writer, node_key, info, max_plaintext), timeout)
    except TimeoutError:
        raise HandshakeError(f"handshake not completed within {timeout:g}s") from None


async def read_control_frame(conn: SecretConnection) -> bytes:
    """Read one small frame of the post-handshake admission step (bounded like handshake frames)."""
    return await _read_handshake_frame(conn)
