"""The method table: name → typed parameter spec and coroutine, filled by the `method` decorator.

Why a table: the HTTP POST, GET URI and WebSocket front ends dispatch through the same entries, so a
method has one parameter definition and one implementation whichever way it is called, and the OpenAPI
document can be checked against the table in tests.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from node.rpc.config import RpcConfig
from node.rpc.errors import internal
from node.rpc.params import P
from node.rpc.services import RpcServices

Handler = Callable[..., Awaitable[Any]]


@dataclass
class Ctx:
    """What a method sees: the node's services, the RPC settings and, on WebSocket, the session."""

    services: RpcServices
    config: RpcConfig
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    session: Any = None  # node.rpc.websocket.WsSession on WebSocket connections


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[P, ...]
    fn: Handler
    ws_only: bool = False


METHODS: dict[str, Method] = {}
# The id of the JSON-RPC request being served (subscribe needs it: events carry the subscribe request's id).
current_request_id: contextvars.ContextVar[Any] = contextvars.ContextVar("current_request_id", default=None)


def method(name: str, *params: P, ws_only: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = Method(name, tuple(params), fn, ws_only)
        return fn

    return register


def resolve_height(ctx: Ctx, height: int | None) -> int:
    """CometBFT's getHeight: None → latest; otherwise it must exist in the store."""
    svc = ctx.services
    latest = svc.latest_height()
    if height is None:
        if latest < 1:
            raise internal("no blocks have been committed yet")
        return latest
    if height <= 0:
        raise internal(f"height must be greater than 0, but got {height}")
    if height > latest:
        raise internal(f"height {height} must be less than or equal to the current blockchain height {latest}")
    base = svc.base_height()
    if height < base:
        raise internal(f"height {height} is not available, lowest height is {base}")
    return height


def clamp_per_page(n: int | None, maximum: int = 100, default: int = 30) -> int:
    if n is None or n < 1:
        return default
    return min(n, maximum)


def page_slice(page: int | None, size: int, total: int) -> tuple[int, int]:
    """(start, stop) of a 1-based page; an out-of-range page is an error as in CometBFT."""
    pages = max(1, -(-total // size))
    p = 1 if page is None else page
    if p <= 0 or p > pages:
        raise internal(f"page should be within [1, {pages}] range, given {p}")
    start = (p - 1) * size
    return start, min(start + size, total)
