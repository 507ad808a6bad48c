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
"""

from __future__ import annotations

import asyncio
import binascii
import itertools
import json
import logging
import struct
from collections import deque
from dataclasses import replace
from hashlib import sha256 as _sha256
from typing import Any

from aiohttp import WSMsgType, web

from node.events import BusEvent, Subscription, SubscriptionError
from node.mempool import MempoolError as PoolError
from node.rpc.dispatch import dumps, handle_request, valid_id
from node.rpc.encode import attribute_map_text
from node.rpc.errors import INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR, RpcError, internal, response
from node.rpc.params import P
from node.rpc.query import QueryError
from node.rpc.registry import Ctx, current_request_id, method
from node.rpc.services import MempoolError

log = logging.getLogger("egp.rpc.ws")
_ids = itertools.count(1)
# Methods whose effect happens synchronously when their handling starts (the tx goes into the admission
# queue before the coroutine first waits): several can be in flight on one connection without changing the
# order in which their txs reach the mempool (tasks start in creation order; `handle_request`, the method
# and `NodeServices.broadcast_tx` do not suspend before `Admission.submit`).
PIPELINED = frozenset({"broadcast_tx_sync", "broadcast_tx_async", "broadcast_tx_commit"})
MAX_PIPELINED = 512  # broadcasts in flight on one connection; beyond, the reader waits (TCP back-pressure)
_orphans: set[asyncio.Task[Any]] = set()  # pipelined requests of closed connections, kept until they finish
# Broadcasts that skip the generic dispatch when the services offer `submit_tx(tx, sha256) -> Future[verdict]`
# (node/services.py) and the request has the plain shape (`fast_submit`): the tx goes into the admission
# queue at once, no task, no parameter binding, and the answer is written from the verdict. Same answers and
# errors as `handle_request` (tests/rpc/test_ws_fast.py compares them); anything else takes the generic path.
# Both are ungated (node/rpc/server.py UNGATED_METHODS), so skipping `Ctx.gate` changes nothing.
FAST = frozenset({"broadcast_tx_sync", "broadcast_tx_async"})
# An in-flight pipelined request: (future, None) for the generic path, whose future gives the response (or None
# for a notification); (future, (id, sha256, sync)) for the fast path, whose future gives the check verdict.
_Entry = tuple["asyncio.Future[Any]", "tuple[Any, bytes, bool] | None"]


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
        texts: list[str] = []
        n = 0
        while n < len(inflight):
            f, fast = inflight[n]
            if not f.done() or f.cancelled() or f.exception() is not None:
                break
            out = f.result()
            if out is not None:
                texts.append(fast_answer(out, fast))
            n += 1
        if texts:
            transport.write(b"".join([_text_frame(t.encode("utf-8")) for t in texts]))
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


def fast_submit(submit: Any, req: dict[str, Any], loop: asyncio.AbstractEventLoop) -> _Entry | None:
    """A `FAST` broadcast of the plain shape (a valid id, jsonrpc "2.0", params {"tx": b64} or [b64]) with its
    tx queued for admission now by `submit` (`NodeServices.submit_tx`); None for anything else (the generic
    path then gives the same answer or error as ever). The WebSocket calls it only while no generic pipelined
    request of the connection waits to start (its tx would be queued after this one, out of request order);
    HTTP POST for a single request (node/rpc/server.py). `fast_answer` renders the entry's answer."""
    name = req.get("method")
    if type(name) is not str or name not in FAST or "id" not in req or req.get("jsonrpc") != "2.0":
        return None
    req_id = req["id"]
    params = req.get("params")
    if type(params) is dict:
        s = params.get("tx") if len(params) == 1 else None
    elif type(params) is list:
        s = params[0] if len(params) == 1 else None
    else:
        return None
    if type(s) is not str or (type(req_id) is not int and not valid_id(req_id)):
        return None
    try:  # = base64.b64decode(s.encode("ascii"), validate=True), without its two Python frames
        tx = binascii.a2b_base64(s, strict_mode=True)  # (a str with a non-ASCII character: ValueError)
    except (binascii.Error, ValueError):
        return None  # the generic path answers "tx: invalid base64"
    h = _sha256(tx).digest()  # (= state.crypto.sha256)
    try:
        return submit(tx, h), (req_id, h, name == "broadcast_tx_sync")
    except (PoolError, MempoolError) as e:  # the pool refused it outright: as `methods_tx._add`
        out = response(req_id, error=internal(str(e)))
    except Exception as e:  # as `dispatch.call`
        log.exception("rpc method %s failed", name)
        out = response(req_id, error=internal(f"internal error in {name}: {type(e).__name__}"))
    done: asyncio.Future[Any] = loop.create_future()
    done.set_result(out)
    return done, None


def fast_answer(result: Any, fast: tuple[Any, bytes, bool] | None) -> str:
    """The JSON text of a done `_Entry`'s answer (`result`: its future's)."""
    return _dumps(result) if fast is None else _fast_text(result, *fast)


def _fast_text(res: Any, req_id: Any, h: bytes, sync: bool) -> str:
    """The answer `methods_tx.broadcast_tx_sync`/`_async` give for the verdict `res` (node.mempool.Checked),
    as `_dumps(response(...))` writes it; by hand for the usual case (an integer id, no log, no codespace)."""
    code, text, space = (int(res.code), res.log, res.codespace) if sync else (0, "", "")
    if type(req_id) is int and not text and not space:
        return (f'{{"jsonrpc":"2.0","id":{req_id},"result":{{"code":{code},"data":"","log":"","codespace":"",'
                f'"hash":"{h.hex().upper()}"}}}}')
    return _dumps(response(req_id, {"code": code, "data": "", "log": text, "codespace": space,
                                    "hash": h.hex().upper()}))


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
    byte-order mark is skipped, as json does for bytes)."""
    try:
        return json.loads(text[1:] if text[:1] == "\ufeff" else text)
    except (ValueError, RecursionError) as e:
        raise RpcError(PARSE_ERROR, f"error unmarshaling request: {type(e).__name__}") from e


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


# ---------------------------------------------------------------------------------------- methods


def _session(ctx: Ctx) -> WsSession:
    if not isinstance(ctx.session, WsSession):
        raise internal("subscriptions are only available over WebSocket")
    return ctx.session


MAX_REPLAY_HEIGHTS = 1000


@method("subscribe", P("query", "str", required=True), P("from_height", "int"), ws_only=True)
async def subscribe(ctx: Ctx, query: str, from_height: int | None) -> dict[str, Any]:
    """CometBFT's subscribe, plus an optional catch-up cursor: with `from_height`, the events of the
    committed heights from there on are queued first (synchronously, so none is missed or doubled before
    live ones), within the subscription's buffer."""
    s = _session(ctx)
    bus, cfg = ctx.services.event_bus, ctx.config
    n = bus.num_client_subscriptions(s.id)
    if n == 0 and bus.num_clients() >= cfg.max_subscription_clients:
        raise internal(f"max_subscription_clients {cfg.max_subscription_clients} reached")
    if n >= cfg.max_subscriptions_per_client:
        raise internal(f"max_subscriptions_per_client {cfg.max_subscriptions_per_client} reached")
    try:
        sub = bus.subscribe(s.id, query, cfg.subscription_buffer_size)
    except (QueryError, SubscriptionError) as e:
        raise internal(f"failed to subscribe: {e}") from e
    if from_height is not None:
        _replay(ctx, sub, from_height)
    s.to_start.append((sub, current_request_id.get()))
    return {}


def _replay(ctx: Ctx, sub: Subscription, from_height: int) -> None:
    svc = ctx.services
    latest, base = svc.latest_height(), svc.base_height()
    if from_height < max(base, 1) or from_height > latest + 1 or latest + 1 - from_height > MAX_REPLAY_HEIGHTS:
        svc.event_bus.discard(sub)
        raise internal(f"from_height must be within [{max(base, 1)}, {latest + 1}] and at most "
                       f"{MAX_REPLAY_HEIGHTS} heights back; catch up with block_search / tx_search")
    for h in range(from_height, latest + 1):
        block, results = ctx.block(h), svc.block_results(h)
        if block is not None and results is not None:
            svc.event_bus.replay_block(sub, block, results)
        if sub.cancel_reason is not None:
            raise internal(f"the events since height {from_height} do not fit the subscription buffer "
                           f"({sub.capacity}); catch up with block_search / tx_search")


@method("unsubscribe", P("query", "str", required=True), ws_only=True)
async def unsubscribe(ctx: Ctx, query: str) -> dict[str, Any]:
    s = _session(ctx)
    try:
        ctx.services.event_bus.unsubscribe(s.id, query)
    except SubscriptionError as e:
        raise internal(str(e)) from e
    task = s.forwarders.pop(query, None)
    if task is not None:
        task.cancel()
    return {}


@method("unsubscribe_all", ws_only=True)
async def unsubscribe_all(ctx: Ctx) -> dict[str, Any]:
    s = _session(ctx)
    ctx.services.event_bus.unsubscribe_all(s.id)
    for task in s.forwarders.values():
        task.cancel()
    s.forwarders.clear()
    return {}
