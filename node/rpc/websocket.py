"""WebSocket at /websocket: every JSON-RPC method plus subscribe / unsubscribe / unsubscribe_all.

Requests on one connection are taken in order. A broadcast (`PIPELINED`: its tx enters the node's admission
queue synchronously, at the start of its handling) does not hold the next message back: the connection reads
on while up to `MAX_PIPELINED` broadcasts wait for their check_tx verdict, so a client that pipelines txs gets
them checked in batches (one worker hop, one gossip frame per peer for many txs) instead of one per round
trip; their answers are written in request order, those ready together as one socket write (`send_many`: one
frame each, joined; a write per answer cost a send() system call and a pass of the TCP stack each). Any other
request first waits until every earlier broadcast of the connection is answered, then runs alone, as before
(e.g. `check_tx` after a broadcast sees that broadcast's effect; `subscribe` answers before its first event).

Events go out with the subscribe request's id and `result.query` (cosmjs drops anything else). Each
subscription has a bounded queue in the event bus and one forwarding task; a client that does not read
makes the socket write block, its queue fills, and the subscription is cancelled with CometBFT's -32000
"subscription was canceled (reason: ...)" error: memory stays bounded and consensus never waits. Pings
(aiohttp heartbeat) keep idle subscriptions alive through proxies and detect dead peers.

Where: the subscription methods are node/rpc/methods_events.py's, the broadcast fast path (`fast_submit`,
`fast_answer`) node/rpc/ws_fast.py's, re-exported here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import WSMsgType, web

from node.events import BusEvent, Subscription
from node.mempool import ACCEPTED
from node.rpc.dispatch import dumps, handle_request
from node.rpc.encode import attribute_map_text
from node.rpc.errors import INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR, RpcError, response
from node.rpc.registry import Ctx

# re-exported (with the names below): their home was this module, where callers import them from
from node.rpc.ws_fast import FAST as FAST
from node.rpc.ws_fast import _Entry as _Entry
from node.rpc.ws_fast import _fast_text as _fast_text
from node.rpc.ws_fast import fast_answer as fast_answer
from node.rpc.ws_fast import fast_submit as fast_submit

log = logging.getLogger("egp.rpc.ws")
_ids = itertools.count(1)
# Methods whose effect happens synchronously when their handling starts (the tx goes into the admission
# queue before the coroutine first waits): several can be in flight on one connection without changing the
# order in which their txs reach the mempool (tasks start in creation order; `handle_request`, the method
# and `NodeServices.broadcast_tx` do not suspend before `Admission.submit`).
PIPELINED = frozenset({"broadcast_tx_sync", "broadcast_tx_async", "broadcast_tx_commit"})
MAX_PIPELINED = 512  # broadcasts in flight on one connection; beyond, the reader waits (TCP back-pressure)
_orphans: set[asyncio.Task[Any]] = set()  # pipelined requests of closed connections, kept until they finish


_dumps = dumps


# Our write buffer beyond which a batch of answers waits for the socket to drain (TCP back-pressure from a
# client that does not read; the write timeout then drops it). aiohttp's own writer checks every 64 KiB.
DRAIN_ABOVE = 64 * 1024
FORWARD_BATCH = 256  # most queued events of one subscription written at once
FORWARD_BATCH_BYTES = 256 * 1024  # ... and about this many bytes of them


def _text_frame(data: bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2, as a server sends it)."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


_ACCEPTED_HEAD = '{"jsonrpc":"2.0","id":'
_ACCEPTED_MID = ',"result":{"code":0,"data":"","log":"","codespace":"","hash":"'


def _answer_frame(result: Any, fast: tuple[Any, bytes, bool] | None) -> bytes:
    """`_text_frame(fast_answer(result, fast).encode())`: a done pipelined request's answer as its WebSocket
    frame. The usual one (a broadcast accepted, `ACCEPTED`, with an integer id: sync and async answer alike
    then) is formatted straight to its frame, without `_fast_text`'s checks and a call per layer (~0.4 us an
    answer); tests/rpc/test_ws_frames.py holds it to the general rendering."""
    if fast is not None and result is ACCEPTED and type(fast[0]) is int:
        data = f'{_ACCEPTED_HEAD}{fast[0]}{_ACCEPTED_MID}{fast[1].hex().upper()}"}}}}'.encode()
        n = len(data)
        if 126 <= n < 65536:  # (always, but for an id of thousands of digits)
            return b"\x81\x7e" + n.to_bytes(2, "big") + data
        return _text_frame(data)
    return _text_frame(fast_answer(result, fast).encode("utf-8"))


class WsSession:
    def __init__(self, hub: WsHub, ws: web.WebSocketResponse, remote: str,
                 request: web.BaseRequest | None = None) -> None:
        self.hub = hub
        self.ws = ws
        # the connection's transport and HTTP writer (public `Request` attributes): answers ready together are
        # written as one buffer of frames; None (or a compressed connection) writes frame by frame via aiohttp
        self._transport = request.transport if request is not None else None
        self._writer = request.writer if request is not None else None
        self.id = f"ws-{next(_ids)}-{remote}"
        self.ctx = replace(hub.ctx, session=self)
        self.forwarders: dict[str, asyncio.Task[None]] = {}
        self.to_start: list[tuple[Subscription, Any]] = []
        self._send_lock = asyncio.Lock()
        self._inflight: deque[_Entry] = deque()  # pipelined, in request order
        self._unstarted = 0  # generic pipelined tasks that have not run yet (their txs are not queued yet)
        self._submit = getattr(hub.ctx.services, "submit_tx", None)  # the fast path's way in, if offered
        self._answering: asyncio.Task[None] | None = None  # answers that could not be written at once
        self._armed = False  # `_head_done` waits for the head of `_inflight`
        self._answered = asyncio.Event()  # set each time a pipelined request is answered

    async def send(self, text: str) -> None:
        async with self._send_lock, asyncio.timeout(self.hub.ctx.config.ws_write_timeout_s):  # no task per send
            await self.ws.send_str(text)

    async def send_many(self, texts: list[str]) -> None:
        """Send `texts` as consecutive text messages (one frame each), written to the socket at once."""
        transport, writer = self._transport, self._writer
        if transport is None or writer is None or self.ws.compress:
            for text in texts:
                await self.send(text)
            return
        if not self._send_lock.locked():  # nobody is mid-send: written at once, no lock or timer (no await)
            if self.ws.closed or transport.is_closing():
                raise ConnectionResetError("Cannot write to closing transport")
            transport.write(b"".join([_text_frame(t.encode("utf-8")) for t in texts]))
            if transport.get_write_buffer_size() > DRAIN_ABOVE:
                async with self._send_lock, asyncio.timeout(self.hub.ctx.config.ws_write_timeout_s):
                    await writer.drain()
            return
        async with self._send_lock, asyncio.timeout(self.hub.ctx.config.ws_write_timeout_s):
            if self.ws.closed or transport.is_closing():
                raise ConnectionResetError("Cannot write to closing transport")
            transport.write(b"".join([_text_frame(t.encode("utf-8")) for t in texts]))
            if transport.get_write_buffer_size() > DRAIN_ABOVE:
                await writer.drain()

    def start_pending(self) -> None:
        for sub, req_id in self.to_start:
            task = asyncio.get_running_loop().create_task(self._forward(sub, req_id))
            self.forwarders[sub.query_text] = task
        self.to_start.clear()

    async def _forward(self, sub: Subscription, req_id: Any) -> None:
        # The events queued together (a block's Tx events are published at once) go out as one socket write
        # (`send_many`: one frame each, joined), up to `FORWARD_BATCH` events or `FORWARD_BATCH_BYTES` a write:
        # a send() per event cost a system call, an asyncio timeout and a pass of the TCP stack each.
        head = f'{{"jsonrpc":"2.0","id":{_dumps(req_id)},"result":{{"query":{_dumps(sub.query_text)},"data":'
        try:
            while True:
                ev = await sub.next()
                if ev is None:
                    break
                text = head + _event_json(ev) + "}}"
                if not sub.pending():
                    await self.send(text)
                    continue
                texts, size = [text], len(text)
                while sub.pending() and len(texts) < FORWARD_BATCH and size < FORWARD_BATCH_BYTES:
                    nxt = await sub.next()  # (queued: returns at once)
                    if nxt is None:
                        break
                    texts.append(head + _event_json(nxt) + "}}")
                    size += len(texts[-1])
                await self.send_many(texts)
        except (ConnectionError, TimeoutError, RuntimeError) as e:
            log.info("websocket %s: dropping slow or gone client: %s", self.id, type(e).__name__)
            await self.ws.close()
            return
        if sub.cancel_reason not in (None, "unsubscribed"):
            if self.forwarders.get(sub.query_text) is asyncio.current_task():
                del self.forwarders[sub.query_text]
            err = RpcError(SERVER_ERROR, f"subscription was canceled (reason: {sub.cancel_reason})")
            try:
                await self.send(_dumps(response(req_id, error=err)))
            except (ConnectionError, TimeoutError, RuntimeError):
                await self.ws.close()

    # ------------------------------------------------------------------ pipelined broadcasts
    def pipeline(self, req: dict[str, Any]) -> None:
        """Start a `PIPELINED` request now (its tx is queued before any later message is handled); its
        answer is written by `_answer_in_order` after the answers of the requests before it."""
        loop = asyncio.get_running_loop()
        entry = fast_submit(self._submit, req, loop) if self._submit is not None and self._unstarted == 0 else None
        if entry is None:
            self._unstarted += 1
            entry = (loop.create_task(self._generic(req)), None)
        self.enqueue(entry)

    def enqueue(self, entry: _Entry) -> None:
        """Queue a started pipelined request's entry; its answer goes out after those queued before it."""
        self._inflight.append(entry)
        if self._answering is None and not self._armed:
            self._armed = True
            entry[0].add_done_callback(self._head_done)

    def _head_done(self, fut: asyncio.Future[Any]) -> None:
        """The oldest unanswered broadcast has its answer: write it, with those done behind it, at once (one
        socket write, no task: at a trickle each request is its own and a task per answer cost more than the
        answer), then wait for the next head the same way. A write that cannot go out at once (a send in
        progress, a full buffer, a compressed connection) is left to `_answer_in_order`, as before."""
        self._armed = False
        inflight = self._inflight
        if not inflight or inflight[0][0] is not fut or self._answering is not None:
            return  # the connection is gone (its requests dropped), or the task answers
        transport = self._transport
        if (transport is None or self._writer is None or self.ws.compress or self._send_lock.locked()
                or self.ws.closed or transport.is_closing() or fut.cancelled() or fut.exception() is not None):
            self._answering = asyncio.get_running_loop().create_task(self._answer_in_order())
            return
        frames: list[bytes] = []
        n = 0
        for f, fast in inflight:  # (not changed while walked: nothing here suspends or queues)
            if not f.done() or f.cancelled() or f.exception() is not None:
                break
            out = f.result()
            if out is not None:
                frames.append(_answer_frame(out, fast))
            n += 1
        if frames:
            transport.write(b"".join(frames))
        for _ in range(n):
            inflight.popleft()
        self._answered.set()
        if transport.get_write_buffer_size() > DRAIN_ABOVE:  # the client reads slowly: wait for it, bounded
            self._answering = asyncio.get_running_loop().create_task(self._answer_in_order(drain_first=True))
        elif inflight:
            self._armed = True
            inflight[0][0].add_done_callback(self._head_done)

    async def _generic(self, req: dict[str, Any]) -> dict[str, Any] | None:
        self._unstarted -= 1  # from here on, until its tx is queued, nothing suspends
        return await handle_request(self.ctx, req)

    async def make_room(self) -> None:
        """Wait while `MAX_PIPELINED` broadcasts of this connection are unanswered."""
        while len(self._inflight) >= MAX_PIPELINED:
            self._answered.clear()
            await self._answered.wait()

    async def settle(self) -> None:
        """Wait until every pipelined request of this connection is answered (or dropped with it)."""
        while self._inflight:
            self._answered.clear()
            await self._answered.wait()

    async def _answer_in_order(self, drain_first: bool = False) -> None:
        inflight = self._inflight
        try:
            if drain_first and self._writer is not None:
                async with self._send_lock, asyncio.timeout(self.hub.ctx.config.ws_write_timeout_s):
                    await self._writer.drain()
            while inflight:
                fut, fast = inflight[0]
                out = await fut
                texts = [] if out is None else [fast_answer(out, fast)]
                n = 1  # the head and the answers already done behind it go out as one write
                while n < len(inflight):
                    fut, fast = inflight[n]
                    if not fut.done():
                        break
                    out = fut.result()
                    if out is not None:
                        texts.append(fast_answer(out, fast))
                    n += 1
                if texts:
                    await self.send_many(texts)
                for _ in range(min(n, len(inflight))):  # `_drop_inflight` may have emptied it meanwhile
                    inflight.popleft()
                self._answered.set()
        except (ConnectionError, TimeoutError, RuntimeError) as e:
            log.info("websocket %s: dropping slow or gone client: %s", self.id, type(e).__name__)
            self._drop_inflight()
            await self.ws.close()
        finally:
            self._answering = None
            self._answered.set()

    def _drop_inflight(self) -> None:
        """The connection is gone: the pipelined requests run to the end (a tx read from the socket is
        submitted, as if it had been handled one at a time), their answers are dropped."""
        for task, fast in self._inflight:  # a fast path's tx is queued already: nothing to keep
            if fast is None and not task.done():
                assert isinstance(task, asyncio.Task)
                _orphans.add(task)
                task.add_done_callback(_orphans.discard)
        self._inflight.clear()
        self._answered.set()

    def close(self) -> None:
        self.hub.ctx.services.event_bus.unsubscribe_all(self.id)
        for task in self.forwarders.values():
            task.cancel()
        self.forwarders.clear()
        self._drop_inflight()
        if self._answering is not None:
            self._answering.cancel()



def _event_json(ev: BusEvent) -> str:
    """The event's `data` and `events` JSON, encoded once for all the subscriptions it goes to. Rendered text
    (`ev.text` and the attribute map's) is used unless it cannot be UTF-8 (a lone surrogate): then `_dumps`,
    which falls back to escapes."""
    if ev.json_text is None:
        text = None
        if ev.text is not None:
            text = ev.text() + ',"events":' + attribute_map_text(ev.events)
            if not _utf8(text):
                text = None
        ev.json_text = text or _dumps(ev.data) + ',"events":' + _dumps(ev.events)
    return ev.json_text


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class WsHub:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.sessions: set[WsSession] = set()


HUB_KEY = web.AppKey("rpc_ws_hub", WsHub)


async def ws_handler(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    cfg = hub.ctx.config
    if len(hub.sessions) >= cfg.max_open_connections:
        return web.json_response({"error": "too many WebSocket connections"}, status=503)
    # compress=False: permessage-deflate offered by a client (browsers and Node's `ws` under cosmjs offer it by
    # default) is declined, as CometBFT's server does (gorilla's Upgrader without EnableCompression): a block's
    # NewBlock event is ~0.6 KB of JSON per tx, and deflating it cost the node ~4-6 us of CPU per tx for each
    # such subscriber (and sent its answers frame by frame, off the one-write paths below). A client that
    # offered it just gets uncompressed frames (RFC 7692 §5: the server may decline).
    ws = web.WebSocketResponse(heartbeat=cfg.ws_ping_interval_s, max_msg_size=cfg.max_body_bytes, compress=False)
    await ws.prepare(request)
    session = WsSession(hub, ws, request.remote or "?", request)
    hub.sessions.add(session)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await session.settle()
                    await session.send(_dumps(response(None, error=RpcError(INVALID_REQUEST, "send text frames"))))
                continue
            try:
                data = _parse(msg.data)
            except RpcError as e:
                await _refuse(session, e)
                continue
            if not _pipeline_now(session, data):  # (a broadcast is started here, without a coroutine)
                await _handle_data(session, data)
    except (ConnectionError, TimeoutError, asyncio.CancelledError):
        pass
    finally:
        session.close()
        hub.sessions.discard(session)
    return ws


def _parse(text: str) -> Any:
    """`parse_body` for a text frame: the str as received (not encoded to bytes for json to detect the
    encoding and decode again: 2-3 us a request), the same answer and the same PARSE_ERROR (a leading
    byte-order mark is skipped, as json does for bytes).

    A frame that is exactly one JSON value (no whitespace around it: what clients send) is read by the
    scanner `json.loads` itself ends in (`_scan`, the default decoder's), without loads' three Python layers
    and two whitespace matches: 2.0 -> 0.8 us for a broadcast request. Anything else (surrounding whitespace,
    a BOM, an error of any kind) goes through `json.loads`, which gives the answer or the error as before."""
    try:
        value, end = _scan(text, 0)
    except Exception:  # (StopIteration, JSONDecodeError, RecursionError...): json.loads says what it is
        pass
    else:
        if end == len(text):
            return value
    try:
        return json.loads(text[1:] if text[:1] == "\ufeff" else text)
    except (ValueError, RecursionError) as e:
        raise RpcError(PARSE_ERROR, f"error unmarshaling request: {type(e).__name__}") from e


# the scanner of a default decoder (json.loads's own: the same options); an attribute typeshed does not declare
_scan: Callable[[str, int], tuple[Any, int]] = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _pipeline_now(session: WsSession, data: Any) -> bool:
    """Start a `PIPELINED` request at once if the connection's pipeline has room (True): what `_handle_data`
    does for it, without a coroutine per broadcast (most of what a bank's gateway sends). False: anything
    else, left to `_handle_data`."""
    if not _pipelined(data) or len(session._inflight) >= MAX_PIPELINED:
        return False
    session.pipeline(data)
    return True


def _pipelined(data: Any) -> bool:
    """A request of a `PIPELINED` method (a method name that is not a str, e.g. a list, is none: it gets
    "method not found" from the generic path, where a set look-up of it raised TypeError and dropped the
    connection without an answer)."""
    if type(data) is not dict:
        return False
    name = data.get("method")
    return type(name) is str and name in PIPELINED


async def _refuse(session: WsSession, e: RpcError) -> None:
    """A message that is not JSON: answered (id null) after the broadcasts before it."""
    await session.settle()
    await session.send(_dumps(response(None, error=e)))


async def _handle_data(session: WsSession, data: Any) -> None:
    if _pipelined(data):
        if len(session._inflight) >= MAX_PIPELINED:
            await session.make_room()
        session.pipeline(data)
        return
    await session.settle()  # anything else runs after the broadcasts before it are answered, alone
    if isinstance(data, list):  # a batch: one array of answers, as over HTTP
        limit = session.ctx.config.max_request_batch_size
        if not data or len(data) > limit:
            err = RpcError(INVALID_REQUEST, "empty batch" if not data else f"batch exceeds {limit} requests")
            await session.send(_dumps(response(None, error=err)))
            return
        outs = [o for o in [await handle_request(session.ctx, item) for item in data] if o is not None]
        if outs:
            await session.send(_dumps(outs))
    else:
        out = await handle_request(session.ctx, data)
        if out is not None:
            await session.send(_dumps(out))
    session.start_pending()  # after the acks: no event may overtake its subscribe answer


async def close_all(app: web.Application) -> None:
    for s in list(app[HUB_KEY].sessions):
        s.close()
        await s.ws.close(code=1001, message=b"server shutdown")
