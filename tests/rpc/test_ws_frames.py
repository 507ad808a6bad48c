"""The WebSocket answers written together (node/rpc/websocket.py `WsSession.send_many`): several text
messages as one socket write, framed by hand. An aiohttp client must read exactly the texts, in order, for
every length encoding of RFC 6455 (7-bit, 16-bit, 64-bit), Thai text included; a client that does not read
makes the writer wait for the socket (back-pressure) and the write timeout end it, as for one message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from hashlib import sha256

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc.config import RpcConfig
from node.rpc.server import RpcServer
from node.rpc.websocket import DRAIN_ABOVE, HUB_KEY, WsSession, _text_frame
from tests.rpc.chain_fixture import FixtureChain
from tests.rpc.conftest import run


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_header_follows_rfc6455(n: int) -> None:
    data = b"x" * n
    frame = _text_frame(data)
    assert frame[0] == 0x81 and frame.endswith(data)  # FIN, text opcode
    if n < 126:
        assert frame[1] == n and len(frame) == n + 2
    elif n < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == n and len(frame) == n + 4
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == n and len(frame) == n + 10


@asynccontextmanager
async def _connected(chain: FixtureChain, cfg: RpcConfig) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse,
                                                                                  WsSession]]:
    """A started server, a WebSocket client connected to it, and the server's session of that client (found
    after one answered request); the server stopped afterwards."""
    server = RpcServer(chain, cfg)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as s, s.ws_connect(f"http://127.0.0.1:{port}/websocket") as ws:
            await ws.send_str('{"jsonrpc":"2.0","id":1,"method":"health"}')
            assert (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT
            (session,) = server.app[HUB_KEY].sessions
            yield ws, session
    finally:
        await server.stop()


def test_send_many_delivers_every_text_in_order(chain: FixtureChain) -> None:
    texts = ["", "a", "ก" * 41, "b" * 125, "c" * 126, "d" * 65535, "e" * 65536, '{"jsonrpc":"2.0"}' * 5000, "z"]

    async def go() -> None:
        async with _connected(chain, RpcConfig(laddr_port=0)) as (ws, session):
            await session.send_many(texts)
            await session.send_many(texts[:1])
            await session.send("after")
            got = [(await ws.receive(timeout=10)).data for _ in range(len(texts) + 2)]
            assert got == [*texts, texts[0], "after"]

    run(go)


def test_send_many_waits_for_a_client_that_does_not_read(chain: FixtureChain) -> None:
    async def go() -> None:
        async with _connected(chain, RpcConfig(laddr_port=0, ws_write_timeout_s=0.5)) as (_ws, session):
            batch = ["x" * 1000] * 64
            with pytest.raises(TimeoutError):
                for _ in range(100_000):  # never read: the kernel buffers fill, then ours
                    await session.send_many(batch)
            transport = session._transport
            assert transport is not None
            # bounded by the drain threshold plus one batch, not by what we tried to send
            assert transport.get_write_buffer_size() <= DRAIN_ABOVE + len(batch) * 1010

    run(go)


def test_pipelined_answers_go_out_in_order_and_a_client_that_does_not_read_is_dropped(chain: FixtureChain) -> None:
    """Answers written from the head's done callback (no task): in request order, those done together in one
    write; answers to a client that does not read fill the buffer to the drain threshold, then the write
    timeout drops the client, with our buffer bounded."""
    import asyncio

    def done(text: str) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        fut.set_result({"jsonrpc": "2.0", "id": 1, "result": text})
        return fut

    async def go() -> None:
        async with _connected(chain, RpcConfig(laddr_port=0, ws_write_timeout_s=0.5)) as (ws, session):
            loop = asyncio.get_running_loop()
            late: asyncio.Future[object] = loop.create_future()
            session.enqueue((late, None))  # the head is not done: nothing may overtake it
            session.enqueue((done("b"), None))
            session.enqueue((done("c"), None))
            await asyncio.sleep(0.05)
            assert len(session._inflight) == 3
            late.set_result({"jsonrpc": "2.0", "id": 1, "result": "a"})
            got = [(await ws.receive(timeout=10)).data for _ in range(3)]
            assert [g.split('"result":')[1] for g in got] == ['"a"}', '"b"}', '"c"}']
            assert not session._inflight and session._answering is None

            for _ in range(100_000):  # never read: the kernel buffers fill, then ours, then the timeout
                session.enqueue((done("x" * 1000), None))
                await asyncio.sleep(0)
                if session.ws.closed:
                    break
            for _ in range(200):
                if session.ws.closed:
                    break
                await asyncio.sleep(0.05)
            assert session.ws.closed and not session._inflight
            transport = session._transport
            assert transport is not None
            assert transport.get_write_buffer_size() <= DRAIN_ABOVE + 2000

    run(go)


def test_text_frames_parse_as_the_bytes_of_a_post_would() -> None:
    """node/rpc/websocket.py `_parse` (the text as received) agrees with `parse_body` (bytes) on what it
    accepts, what it returns and that anything else is PARSE_ERROR."""
    from node.rpc.dispatch import parse_body
    from node.rpc.errors import PARSE_ERROR, RpcError
    from node.rpc.websocket import _parse

    texts = ['{"jsonrpc":"2.0","id":1,"method":"health"}', '\ufeff{"id":2}', '[1,2]', '"x"', "{", "",
             "\x00{}", '{"a":"\u0e01\u0e02"}', "[" * 100_000, '{"a":1}{', "-Infinity", " 7 "]
    for text in texts:
        want: object
        try:
            want = parse_body(text.encode())
        except RpcError as e:
            want = e.code
        try:
            got: object = _parse(text)
        except RpcError as e:
            got = e.code
        assert got == want, text[:20]
    assert _parse_error_code() == PARSE_ERROR


def _parse_error_code() -> int:
    from node.rpc.errors import RpcError
    from node.rpc.websocket import _parse

    try:
        _parse("{")
    except RpcError as e:
        return e.code
    return 0


def test_a_blocks_tx_events_go_out_in_few_writes_in_order(chain: FixtureChain) -> None:
    """A Tx subscription gets every event of a block, in order and the same as one by one, but the events
    queued together are written together (`_forward` + `send_many`), not one socket write each."""

    from node.rpc.websocket import FORWARD_BATCH

    async def go() -> None:
        async with _connected(chain, RpcConfig(laddr_port=0)) as (ws, session):
            await ws.send_str('{"jsonrpc":"2.0","id":"s","method":"subscribe","params":{"query":"tm.event=\'Tx\'"}}')
            assert json.loads((await ws.receive(timeout=10)).data) == {"jsonrpc": "2.0", "id": "s", "result": {}}
            transport = session._transport
            assert transport is not None
            writes = 0
            write = transport.write

            def counted(data: bytes | bytearray | memoryview) -> None:
                nonlocal writes
                writes += 1
                write(data)

            transport.write = counted  # type: ignore[method-assign]
            n = FORWARD_BATCH + 44
            chain.make_block([f"ev/k{i}={i}".encode() for i in range(n)])
            got = [json.loads((await ws.receive(timeout=10)).data) for _ in range(n)]
            assert [m["result"]["events"]["kv.key"] for m in got] == [[f"ev/k{i}"] for i in range(n)]
            assert all(m["id"] == "s" and m["result"]["query"] == "tm.event='Tx'" for m in got)
            assert writes <= 3, writes  # one event alone, then batches of FORWARD_BATCH (was: n writes)
            chain.make_block([b"ev/one=1"])  # a lone event still goes out at once
            one = json.loads((await ws.receive(timeout=10)).data)
            assert one["result"]["events"]["kv.key"] == ["ev/one"]

    run(go)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _outcome(fn: Callable[[str], object], text: str) -> object:
    """What `fn` makes of `text`: the value, or the PARSE_ERROR's code and message."""
    from node.rpc.errors import RpcError

    try:
        return ("value", fn(text))
    except RpcError as e:
        return ("error", e.code, e.data)


def _loads(text: str) -> object:
    """`_parse` as it was before its scanner fast path: json.loads of the text (a leading BOM skipped)."""
    from node.rpc.errors import PARSE_ERROR, RpcError

    try:
        return json.loads(text[1:] if text[:1] == "\ufeff" else text)
    except (ValueError, RecursionError) as e:
        raise RpcError(PARSE_ERROR, f"error unmarshaling request: {type(e).__name__}") from e


@settings(max_examples=300, deadline=None)
@given(_JSON, st.sampled_from([(",", ":"), (", ", ": ")]), st.sampled_from(["", " ", "\n", "\ufeff"]),
       st.sampled_from(["", " ", "\r\n", "x", "}"]))
def test_parse_fast_path_is_json_loads(value: object, seps: tuple[str, str], before: str, after: str) -> None:
    """`_parse` reads a frame that is one JSON value through json's scanner directly: whatever surrounds the
    value (whitespace, a BOM, garbage), the value or the error is json.loads's."""
    from node.rpc.websocket import _parse

    text = before + json.dumps(value, separators=seps, ensure_ascii=False) + after
    assert _outcome(_parse, text) == _outcome(_loads, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_of_any_text_is_json_loads(text: str) -> None:
    from node.rpc.websocket import _parse

    assert _outcome(_parse, text) == _outcome(_loads, text)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(-10**30, 10**30), st.text(max_size=12), st.none()), st.booleans(),
       st.sampled_from(["accepted", "zero", "refused", "pool"]))
def test_answer_frame_is_the_general_rendering(req_id: object, sync: bool, verdict: str) -> None:
    """`_answer_frame` (an accepted broadcast formatted straight to its frame) = the frame of `fast_answer`'s
    text, for every id, verdict and both broadcasts; and for a generic entry's response."""
    from node.mempool import ACCEPTED, Checked
    from node.rpc.websocket import _answer_frame, fast_answer

    h = sha256(repr(req_id).encode()).digest()
    res: object = {"accepted": ACCEPTED, "zero": Checked(0), "refused": Checked(108, "bad sequence", "egp"),
                   "pool": {"jsonrpc": "2.0", "id": req_id, "result": {}}}[verdict]
    fast = None if verdict == "pool" else (req_id, h, sync)
    assert _answer_frame(res, fast) == _text_frame(fast_answer(res, fast).encode("utf-8"))
