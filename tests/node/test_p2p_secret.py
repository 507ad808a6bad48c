"""The secret connection: key agreement, frame sealing (property tests), and the handshake on real sockets."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings

from node.p2p.aead import TAG_SIZE
from node.p2p.errors import ConnectionClosed, FrameError, HandshakeError
from node.p2p.secret import (
    HELLO_SIZE,
    MAGIC,
    AuthMessage,
    FrameOpener,
    FrameSealer,
    NodeInfo,
    SecretConnection,
    SessionKeys,
    auth_sign_bytes,
    derive_session,
    handshake,
)
from state.crypto import PrivateKey, node_id

MAX = 64 * 1024
payloads = st.lists(st.binary(max_size=2048), min_size=1, max_size=20)


def _pair() -> tuple[FrameSealer, FrameOpener]:
    k = os.urandom(32)
    return FrameSealer(k), FrameOpener(k, MAX)


@settings(max_examples=150, deadline=None)
@given(payloads)
def test_frames_round_trip_in_order(msgs: list[bytes]) -> None:
    sealer, opener = _pair()
    frames = [sealer.seal(m) for m in msgs]
    assert [len(f) for f in frames] == [4 + len(m) + TAG_SIZE for m in msgs]
    assert [opener.open_frame(f) for f in frames] == msgs


@settings(max_examples=200, deadline=None)
@given(payloads, st.data())
def test_any_tampered_bit_is_detected(msgs: list[bytes], data: st.DataObject) -> None:
    sealer, opener = _pair()
    frames = [sealer.seal(m) for m in msgs]
    victim = data.draw(st.integers(0, len(frames) - 1))
    for f in frames[:victim]:
        opener.open_frame(f)
    frame = bytearray(frames[victim])
    pos = data.draw(st.integers(0, len(frame) - 1))
    frame[pos] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(FrameError):
        opener.open_frame(bytes(frame))


@settings(max_examples=100, deadline=None)
@given(payloads.filter(lambda m: len(m) >= 2))
def test_replayed_reordered_or_dropped_frames_fail(msgs: list[bytes]) -> None:
    sealer, opener = _pair()
    frames = [sealer.seal(m) for m in msgs]
    opener.open_frame(frames[0])
    with pytest.raises(FrameError):
        opener.open_frame(frames[0])  # replay
    _, fresh = _pair()
    with pytest.raises(FrameError):
        fresh.open_frame(frames[1])  # dropped first frame / reordering


@given(st.binary(max_size=300))
def test_garbage_never_opens_and_never_raises_anything_else(junk: bytes) -> None:
    _, opener = _pair()
    with pytest.raises(FrameError):
        opener.open_frame(junk)


def test_oversized_header_is_refused_before_the_body() -> None:
    _, opener = _pair()
    with pytest.raises(FrameError, match="exceeds the limit"):
        opener.body_size((MAX + TAG_SIZE + 1).to_bytes(4, "big"))
    assert opener.body_size((MAX + TAG_SIZE).to_bytes(4, "big")) == MAX + TAG_SIZE
    with pytest.raises(FrameError, match="shorter than its tag"):
        opener.body_size((TAG_SIZE - 1).to_bytes(4, "big"))


def test_session_keys_agree_and_directions_differ() -> None:
    a_priv, b_priv = os.urandom(32), os.urandom(32)
    a_pub, b_pub = bindings.crypto_scalarmult_base(a_priv), bindings.crypto_scalarmult_base(b_priv)
    ka = derive_session(a_priv, a_pub, b_pub)
    kb = derive_session(b_priv, b_pub, a_pub)
    assert ka.send_key == kb.recv_key and ka.recv_key == kb.send_key and ka.challenge == kb.challenge
    assert len({ka.send_key, ka.recv_key, ka.challenge}) == 3
    with pytest.raises(HandshakeError, match="reflection"):
        derive_session(a_priv, a_pub, a_pub)
    with pytest.raises(HandshakeError, match="low-order"):
        derive_session(a_priv, a_pub, bytes(32))


async def _socket_pair() -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter],
                                  tuple[asyncio.StreamReader, asyncio.StreamWriter], asyncio.Server]:
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.set_result((r, w))

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await asyncio.open_connection("127.0.0.1", port)
    return client, await accepted, server


INFO = NodeInfo("net", "m", "127.0.0.1:1", "v")


def test_handshake_authenticates_both_node_ids_and_carries_frames() -> None:
    async def main() -> None:
        ka, kb = PrivateKey.generate(), PrivateKey.generate()
        (ra, wa), (rb, wb), server = await _socket_pair()
        ca, cb = await asyncio.gather(
            handshake(ra, wa, ka, INFO, max_plaintext=MAX, timeout=5),
            handshake(rb, wb, kb, NodeInfo("net", "bank-b", "", "v"), max_plaintext=MAX, timeout=5),
        )
        assert ca.remote_id == node_id(kb.public_key.raw) and cb.remote_id == node_id(ka.public_key.raw)
        assert ca.remote_info.moniker == "bank-b" and cb.remote_info == INFO
        ca.write(ca.seal(b"one") + ca.seal(b"two"))
        cb.write(cb.seal(b"back"))
        assert [await cb.read_frame(), await cb.read_frame(), await ca.read_frame()] == [b"one", b"two", b"back"]
        wa.close()
        wb.close()
        server.close()

    asyncio.run(main())


async def _against_fake_peer(fake: object) -> HandshakeError:
    """Run our handshake against a scripted peer; return the error it raised."""
    (ra, wa), (rb, wb), server = await _socket_pair()
    task = asyncio.create_task(fake(rb, wb))  # type: ignore[operator]
    try:
        with pytest.raises(HandshakeError) as info:
            await handshake(ra, wa, PrivateKey.generate(), INFO, max_plaintext=MAX, timeout=1.0)
        return info.value
    finally:
        task.cancel()
        wa.close()
        wb.close()
        server.close()


def _fake_session(our_eph_priv: bytes, hello: bytes, rb: asyncio.StreamReader,
                  wb: asyncio.StreamWriter) -> SecretConnection:
    our_pub = bindings.crypto_scalarmult_base(our_eph_priv)
    keys = derive_session(our_eph_priv, our_pub, hello[len(MAGIC):])
    return SecretConnection(rb, wb, keys, MAX)


def test_handshake_refuses_a_bad_signature_a_silent_peer_and_a_truncated_hello() -> None:
    async def bad_signature(rb: asyncio.StreamReader, wb: asyncio.StreamWriter) -> None:
        eph = os.urandom(32)
        wb.write(MAGIC + bindings.crypto_scalarmult_base(eph))
        conn = _fake_session(eph, await rb.readexactly(HELLO_SIZE), rb, wb)
        k = PrivateKey.generate()
        sig = k.sign(auth_sign_bytes(bytes(32), INFO))  # signs the wrong challenge
        conn.write(conn.seal(AuthMessage(k.public_key.raw, sig, INFO).encode()))
        await asyncio.sleep(5)

    async def malformed_auth(rb: asyncio.StreamReader, wb: asyncio.StreamWriter) -> None:
        eph = os.urandom(32)
        wb.write(MAGIC + bindings.crypto_scalarmult_base(eph))
        conn = _fake_session(eph, await rb.readexactly(HELLO_SIZE), rb, wb)
        conn.write(conn.seal(b"\x93\x01\x02\x03"))
        await asyncio.sleep(5)

    async def silent(rb: asyncio.StreamReader, wb: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def truncated(rb: asyncio.StreamReader, wb: asyncio.StreamWriter) -> None:
        await rb.readexactly(HELLO_SIZE)
        wb.write(MAGIC + bytes(5))
        wb.close()

    async def main() -> None:
        assert "does not verify" in str(await _against_fake_peer(bad_signature))
        assert "malformed auth message" in str(await _against_fake_peer(malformed_auth))
        assert "not completed within" in str(await _against_fake_peer(silent))
        assert "closed before completing its hello" in str(await _against_fake_peer(truncated))

    asyncio.run(main())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1024), st.binary(max_size=8), st.integers(0, 2**64 - 1))
def test_direct_aead_path_agrees_with_pynacl_public_binding(msg: bytes, ad: bytes, counter: int) -> None:
    from node.p2p import aead

    assert aead.DIRECT  # the fast path is in use with the pinned PyNaCl
    key, nonce = os.urandom(32), bytes(4) + counter.to_bytes(8, "little")
    sealed = aead.aead_encrypt(msg, ad, nonce, key)
    assert sealed == aead.bindings_encrypt(msg, ad, nonce, key)
    assert aead.aead_decrypt(sealed, ad, nonce, key) == aead.bindings_decrypt(sealed, ad, nonce, key) == msg
    view = memoryview(b"pad" + sealed + b"tail")[3 : 3 + len(sealed)]  # a frame opened in place in a bigger read
    assert aead.aead_decrypt(view, ad, nonce, key) == aead.bindings_decrypt(view, ad, nonce, key) == msg
    bad = bytes([sealed[0] ^ 0x80]) + sealed[1:]
    for decrypt in (aead.aead_decrypt, aead.bindings_decrypt):
        with pytest.raises(FrameError):
            decrypt(bad, ad, nonce, key)
        with pytest.raises(FrameError):
            decrypt(memoryview(bad), ad, nonce, key)
        with pytest.raises(FrameError):
            decrypt(sealed[:5], ad, nonce, key)


def _fed_connection(max_plaintext: int = MAX) -> tuple[SecretConnection, FrameSealer]:
    """A connection over a bare stream reader (the test feeds it), and the sealer of its peer."""
    key = os.urandom(32)
    reader = asyncio.StreamReader(limit=1 << 20)
    conn = SecretConnection(reader, None, SessionKeys(os.urandom(32), key, bytes(32)), max_plaintext)  # type: ignore[arg-type]
    return conn, FrameSealer(key)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=3000) | st.integers(17_000, MAX).map(lambda n: bytes([n % 251]) * n),
                min_size=1, max_size=25), st.data())
def test_read_frames_returns_every_frame_in_order_however_the_bytes_arrive(msgs: list[bytes],
                                                                           data: st.DataObject) -> None:
    """`read_frames` (many frames per read) and `read_frame` (one, exactly), mixed in any order, give the
    messages in order whatever the chunks the bytes arrive in, and count every byte."""
    async def main() -> None:
        conn, sealer = _fed_connection()
        wire = b"".join(sealer.seal(m) for m in msgs)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
        chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True) if b > a]

        async def feed() -> None:
            for c in chunks:
                conn.reader.feed_data(c)
                await asyncio.sleep(0)
            conn.reader.feed_eof()

        feeder = asyncio.create_task(feed())
        got: list[bytes] = []
        while len(got) < len(msgs):
            if data.draw(st.booleans()):
                got.extend(await conn.read_frames())
            else:
                got.append(await conn.read_frame())
        assert got == msgs and conn.bytes_received == len(wire)
        await feeder
        with pytest.raises(ConnectionClosed):
            await conn.read_frames()

    asyncio.run(main())


def test_read_frames_refuses_an_oversized_header_before_its_body_and_a_tampered_frame() -> None:
    async def main() -> None:
        conn, sealer = _fed_connection(max_plaintext=100)
        conn.reader.feed_data(sealer.seal(b"ok") + (100 + TAG_SIZE + 1).to_bytes(4, "big"))
        with pytest.raises(FrameError, match="exceeds the limit"):
            await conn.read_frames()  # the good frame before it is not returned: the peer is dropped anyway
        conn, sealer = _fed_connection()
        frame = bytearray(sealer.seal(b"payload"))
        frame[-1] ^= 1
        conn.reader.feed_data(bytes(frame))
        with pytest.raises(FrameError):
            await conn.read_frames()

    asyncio.run(main())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=3000) | st.integers(17_000, MAX).map(lambda n: bytes([n % 251]) * n),
                min_size=1, max_size=25), st.data())
def test_frames_fed_after_the_stream_was_read_come_out_in_order(msgs: list[bytes], data: st.DataObject) -> None:
    """A peer takes the bytes from the transport's callback once it runs (`feed`), after the handshake read
    some from the stream: the frames the stream path opened and kept, the bytes it read ahead and the stream's
    own buffer (`detach_reader`), then every later chunk, give the messages in order and count every byte."""
    async def main() -> None:
        conn, sealer = _fed_connection()
        frames = [sealer.seal(m) for m in msgs]
        wire = b"".join(frames)
        stride = data.draw(st.none() | st.integers(1, 3000))  # many small pieces (a WAN's segments), or a few cuts
        if stride is None:
            cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
        else:
            cuts = list(range(stride, len(wire), stride))
        chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True) if b > a]
        k = data.draw(st.integers(0, len(chunks)))  # chunks the stream got before the switch
        for c in chunks[:k]:
            conn.reader.feed_data(c)
        ends = [sum(len(f) for f in frames[: i + 1]) for i in range(len(frames))]
        complete = sum(1 for e in ends if e <= sum(len(c) for c in chunks[:k]))  # frames the stream holds whole
        got: list[bytes] = []
        for _ in range(data.draw(st.integers(0, 3))):
            if len(got) + len(conn._ready) >= complete:
                break  # a read now would wait for bytes the stream does not have
            got.extend(await conn.read_frames() if data.draw(st.booleans()) else [await conn.read_frame()])
        ready, rest = conn.detach_reader()
        got.extend(ready)
        left = rest + bytes(conn.reader._buffer)
        conn.reader._buffer.clear()
        for c in [left, *chunks[k:]]:
            if c:
                got.extend(conn.feed(c))
        assert got == msgs and conn.bytes_received == len(wire) and conn._rest == b""

    asyncio.run(main())


def test_feed_refuses_an_oversized_header_before_its_body_and_a_tampered_frame() -> None:
    async def main() -> None:
        conn, sealer = _fed_connection(max_plaintext=100)
        ok = sealer.seal(b"ok")
        assert conn.feed(ok[:7]) == []
        with pytest.raises(FrameError, match="exceeds the limit"):
            conn.feed(ok[7:] + (100 + TAG_SIZE + 1).to_bytes(4, "big"))
        conn, sealer = _fed_connection()
        frame = bytearray(sealer.seal(b"payload"))
        frame[-1] ^= 1
        with pytest.raises(FrameError):
            conn.feed(bytes(frame))

    asyncio.run(main())
