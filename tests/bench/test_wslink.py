"""The generator's WebSocket lane (devnet/bench/wslink.py) against a real aiohttp server on 127.0.0.1: the
frames made before the clock reach the server as the texts they carry, every text the server sends comes
back in order when the lane polls (fragmented, interleaved with pings, or many in one write), and a closing
or misbehaving server ends the connection with an error rather than a hang."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import WSMsgType, web
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.bench import wslink
from devnet.bench.wslink import OP_CONT, OP_TEXT, WsError, frame_payload, masked_frame

Handler = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=70_000), st.binary(min_size=4, max_size=4))
def test_a_masked_frame_carries_its_payload(data: bytes, key: bytes) -> None:
    frame = masked_frame(data, key=key)
    assert frame_payload(frame) == data
    assert frame[0] == 0x81 and frame[1] & 0x80  # final text frame, masked
    assert len(frame) == len(data) + 4 + (2 if len(data) < 126 else 4 if len(data) < 65536 else 10)


def test_each_frame_has_its_own_key() -> None:
    keys = {masked_frame(b"same text")[2:6] for _ in range(50)}
    assert len(keys) > 45  # 4 random bytes each: a repeat among 50 is a ~3e-7 event


async def _poll_until(link: wslink.WsLink, done: Callable[[], bool]) -> None:
    """Poll as a lane does when it wakes, until `done()`."""
    while not done():
        link.poll()
        await asyncio.sleep(0.005)


async def _with_server(handler: Handler, body: Callable[[str], Awaitable[None]]) -> None:
    async def ws_route(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        await handler(ws, request)
        return ws

    app = web.Application()
    app.router.add_get("/websocket", ws_route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await asyncio.wait_for(body(f"http://127.0.0.1:{port}"), 10)
    finally:
        await runner.cleanup()


def test_frames_written_together_arrive_as_the_texts_and_answers_come_back_in_order() -> None:
    texts = [f'{{"id":{i},"x":"{"é" * (i * 37 % 300)}"}}' for i in range(40)] + ["y" * 70_000]

    async def echo(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str("got " + msg.data)

    async def body(url: str) -> None:
        got: list[str] = []
        link = await wslink.connect(url, got.append)
        link.write(b"".join(masked_frame(t.encode()) for t in texts[:20]))  # one write, many frames
        for t in texts[20:]:
            link.write(masked_frame(t.encode()))
        await _poll_until(link, lambda: len(got) >= len(texts))
        assert got == ["got " + t for t in texts]
        link.close()
        assert link.closed
        with pytest.raises(WsError):
            link.poll()

    asyncio.run(_with_server(echo, body))


def _server_frame(op: int, data: bytes, fin: bool = True) -> bytes:
    head = (0x80 if fin else 0) | op
    n = len(data)
    if n < 126:
        return bytes((head, n)) + data
    return struct.pack("!BBH", head, 126, n) + data


def test_fragments_pings_and_split_reads_are_read_as_whole_messages() -> None:
    """A message in three fragments with a ping between them, and a frame cut across two writes."""

    async def raw(ws: web.WebSocketResponse, request: web.Request) -> None:
        t = request.transport
        assert t is not None
        t.write(_server_frame(OP_TEXT, b"fir", fin=False) + _server_frame(0x9, b"hb")
                + _server_frame(OP_CONT, b"st ", fin=False))
        await asyncio.sleep(0.05)
        whole = _server_frame(OP_CONT, b"message") + _server_frame(OP_TEXT, b"x" * 300)
        t.write(whole[:5])
        await asyncio.sleep(0.05)
        t.write(whole[5:])
        msg = await ws.receive()  # the client's pong to our ping, unmasked by aiohttp
        assert msg.type == WSMsgType.PONG and msg.data == b"hb"
        await ws.receive()  # until the client closes

    async def body(url: str) -> None:
        got: list[str] = []
        link = await wslink.connect(url, got.append)
        await _poll_until(link, lambda: len(got) >= 2)
        assert got == ["first message", "x" * 300]
        await asyncio.sleep(0.05)
        link.poll()  # nothing more: the pong went out with the first poll that read the ping
        link.close()

    asyncio.run(_with_server(raw, body))


@pytest.mark.parametrize("bad", [b"\x81\x85abcdhello", b"\xc1\x02hi", b"\x83\x00"])
def test_a_server_breaking_the_protocol_ends_the_connection_with_an_error(bad: bytes) -> None:
    """A masked server frame, reserved bits without an extension, an unknown opcode."""

    async def raw(ws: web.WebSocketResponse, request: web.Request) -> None:
        assert request.transport is not None
        request.transport.write(bad)
        await asyncio.sleep(0.5)

    async def body(url: str) -> None:
        link = await wslink.connect(url, lambda _: None)
        with pytest.raises(WsError):
            await _poll_until(link, lambda: False)
        assert link.closed and link.error is not None
        with pytest.raises(WsError):
            link.write(masked_frame(b"late"))

    asyncio.run(_with_server(raw, body))


def test_a_server_closing_ends_the_connection() -> None:
    async def closer(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.close()

    async def body(url: str) -> None:
        link = await wslink.connect(url, lambda _: None)
        with pytest.raises(WsError, match="closed by the node"):
            await _poll_until(link, lambda: False)

    asyncio.run(_with_server(closer, body))


def test_no_websocket_there_is_a_clear_error() -> None:
    async def main() -> None:
        app = web.Application()
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            with pytest.raises(WsError, match="refused the upgrade"):
                await wslink.connect(f"http://127.0.0.1:{port}", lambda _: None)
        finally:
            await runner.cleanup()

    asyncio.run(main())
    with pytest.raises(WsError, match="not an http"):
        asyncio.run(wslink.connect("ftp://x", lambda _: None))
