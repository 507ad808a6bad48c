"""The aiohttp application: JSON-RPC over POST (single and batch), the GET URI form, WebSocket, OpenAPI.

`create_rpc_app(services, config)` builds the app; `RpcServer` binds it (127.0.0.1 unless configured).
Why the status codes: method errors travel with HTTP 200 (cosmjs throws on >= 400 before reading the body);
only a body that is not JSON-RPC at all gets 400 (-32700 parse error, -32600 invalid request; CometBFT uses
500 for the former, but a client's garbage is not a server error), and an oversized body 413. Whatever goes
wrong inside a method is logged here and answered with -32603, never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from node.rpc import methods_chain, methods_consensus, methods_events, methods_tx, websocket  # noqa: F401  (they register their methods)
from node.rpc.config import RpcConfig
from node.rpc.dispatch import call, dumps, handle_request, parse_body
from node.rpc.errors import INVALID_REQUEST, METHOD_NOT_FOUND, RpcError, response
from node.rpc.registry import METHODS, Ctx
from node.rpc.services import RpcServices

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
CTX_KEY = web.AppKey("rpc_ctx", Ctx)
_JSON_HEADERS = {"Content-Type": "application/json"}


def _dumps(obj: Any) -> bytes:
    return dumps(obj).encode()


async def post_handler(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX_KEY]
    limit = ctx.config.max_body_bytes
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        err = response(None, error=RpcError(INVALID_REQUEST, f"request body exceeds {limit} bytes"))
        return web.Response(status=413, body=_dumps(err), headers=_JSON_HEADERS)
    try:
        data = parse_body(body)
    except RpcError as e:
        return web.Response(status=400, body=_dumps(response(None, error=e)), headers=_JSON_HEADERS)
    if isinstance(data, list):
        if not data or len(data) > ctx.config.max_request_batch_size:
            what = "empty batch" if not data else (
                f"batch request exceeds maximum ({ctx.config.max_request_batch_size}) allowed number of requests")
            err = response(None, error=RpcError(INVALID_REQUEST, what))
            return web.Response(status=400, body=_dumps(err), headers=_JSON_HEADERS)
        out = [r for r in [await handle_request(ctx, item) for item in data] if r is not None]
        if not out:
            return web.Response(status=204)
        return web.Response(body=_dumps(out), headers=_JSON_HEADERS)
    submit = getattr(ctx.services, "submit_tx", None)
    name = data.get("method") if type(data) is dict else None
    if submit is not None and type(name) is str and name in websocket.FAST:  # (a list as name: unhashable)
        entry = websocket.fast_submit(submit, data, asyncio.get_running_loop())
        if entry is not None:  # the same answer as the generic path's (status 200: it has an id)
            fut, fast = entry
            return web.Response(body=websocket.fast_answer(await fut, fast).encode(), headers=_JSON_HEADERS)
    one = await handle_request(ctx, data)
    if one is None:
        return web.Response(status=204)
    status = 400 if one.get("id") is None and "error" in one and one["error"]["code"] == INVALID_REQUEST else 200
    return web.Response(status=status, body=_dumps(one), headers=_JSON_HEADERS)


async def get_handler(request: web.Request) -> web.StreamResponse:
    """CometBFT's URI form: GET /<method>?name=value (id -1 in the response)."""
    ctx = request.app[CTX_KEY]
    name = request.match_info["method"]
    if name not in METHODS or METHODS[name].ws_only:
        err = response(-1, error=RpcError(METHOD_NOT_FOUND, f"unknown endpoint /{name[:64]}"))
        return web.Response(status=404, body=_dumps(err), headers=_JSON_HEADERS)
    q = request.query
    dup = next((k for k in q if len(q.getall(k)) > 1), None)
    try:
        if dup is not None:
            raise RpcError(-32602, f"parameter {dup[:40]!r} given more than once")
        result = response(-1, await call(ctx, name, dict(q), uri=True))
    except RpcError as e:
        result = response(-1, error=e)
    return web.Response(body=_dumps(result), headers=_JSON_HEADERS)


async def index_handler(request: web.Request) -> web.StreamResponse:
    names = sorted(n for n, m in METHODS.items() if not m.ws_only)
    lines = ["Available endpoints (GET /<method>?args, or JSON-RPC 2.0 POST /; WebSocket /websocket):"]
    lines += [f"//{request.host}/{n}" for n in names]
    return web.Response(text="\n".join(lines) + "\n")


async def openapi_handler(request: web.Request) -> web.StreamResponse:
    if not OPENAPI_PATH.is_file():
        return web.Response(status=404, text="openapi.yaml is not installed with this node\n")
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/yaml")


def _cors_middleware(config: RpcConfig) -> Any:
    allowed = set(config.cors_allowed_origins)

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        ok = origin is not None and ("*" in allowed or origin in allowed)
        if request.method == "OPTIONS":
            resp: web.StreamResponse = web.Response(status=204 if ok else 403)
        else:
            resp = await handler(request)
        if ok and not resp.prepared:
            resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else str(origin)
            resp.headers["Access-Control-Allow-Methods"] = ", ".join(config.cors_allowed_methods)
            resp.headers["Access-Control-Allow-Headers"] = ", ".join(config.cors_allowed_headers)
            resp.headers["Vary"] = "Origin"
        return resp

    return cors


# Methods that never wait for a commit in progress: they read no chain state (liveness, peers, the mempool's
# size, the event bus), so a client can tell a committing node from a dead one; and the broadcasts, whose txs
# go through the node's admission queue, which checks them while the block is finalized and holds them only
# while the application commits (node/commit_thread.py `CommitThread.lock_mempool_for_commit`).
UNGATED_METHODS = frozenset({"health", "net_info", "num_unconfirmed_txs", "unconfirmed_txs", "subscribe",
                             "unsubscribe", "unsubscribe_all", "broadcast_tx_async", "broadcast_tx_sync",
                             "broadcast_tx_commit"})

Idle = Callable[[], Awaitable[None]]


def commit_gate(idle: Idle) -> Callable[[str], Awaitable[None]]:
    """The `Ctx.gate` of a node: every method but `UNGATED_METHODS` awaits `idle()` (the node's
    `wait_idle`: no block being committed in its worker thread), so what it reads — block store, results,
    index, application, state — is one committed height, never a commit half done."""

    async def gate(name: str) -> None:
        if name not in UNGATED_METHODS:
            await idle()

    return gate


def create_rpc_app(services: RpcServices, config: RpcConfig | None = None, idle: Idle | None = None) -> web.Application:
    cfg = config or RpcConfig()
    middlewares = [_cors_middleware(cfg)] if cfg.cors_allowed_origins else []
    app = web.Application(client_max_size=cfg.max_body_bytes + 1, middlewares=middlewares)
    ctx = Ctx(services, cfg, gate=None if idle is None else commit_gate(idle))
    app[CTX_KEY] = ctx
    app[websocket.HUB_KEY] = websocket.WsHub(ctx)
    app.on_shutdown.append(websocket.close_all)
    app.router.add_post("/", post_handler)
    app.router.add_get("/", index_handler)
    app.router.add_get("/websocket", websocket.ws_handler)
    app.router.add_get("/openapi.yaml", openapi_handler)
    app.router.add_get("/{method}", get_handler)
    if cfg.cors_allowed_origins:
        app.router.add_route("OPTIONS", "/{tail:.*}", index_handler)
    return app


class _Limit:
    """Open-connection count shared by the protocol wrappers of one listener."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _Counted(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol: beyond `max_open_connections`, a new connection is closed at
    once (CometBFT's limit), so a flood of idle sockets cannot exhaust the node's file descriptors."""

    def __init__(self, inner: asyncio.Protocol, limit: _Limit) -> None:
        self.inner = inner
        self.limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.limit.open += 1
        self.inner.connection_made(transport)
        if self.limit.open > self.limit.limit:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.limit.open -= 1
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class RpcServer:
    """Binds the app: `await start()` returns the bound port (0 in the config picks a free one)."""

    def __init__(self, services: RpcServices, config: RpcConfig | None = None, idle: Idle | None = None) -> None:
        self.config = config or RpcConfig()
        self.app = create_rpc_app(services, self.config, idle)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.limit = _Limit(self.config.max_open_connections)
        self.port = 0

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, max_field_size=self.config.max_header_bytes)
        await self._runner.setup()
        factory = self._runner.server
        assert factory is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Counted(factory(), self.limit), self.config.laddr_host, self.config.laddr_port,
            backlog=256, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # stop accepting; the runner then closes the open connections
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
