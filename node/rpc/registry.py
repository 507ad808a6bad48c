"""The method table: name → typed parameter spec and coroutine, filled by the `method` decorator.

Why a table: the HTTP POST, GET URI and WebSocket front ends dispatch through the same entries, so a
method has one parameter definition and one implementation whichever way it is called, and the OpenAPI
document can be checked against the table in tests.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from node.rpc.config import RpcConfig
from node.rpc.errors import internal
from node.rpc.params import P
from node.rpc.services import BlockMetaView, BlockView, RpcServices

Handler = Callable[..., Awaitable[Any]]


class HeightCache:
    """A small LRU of per-height views (metas, blocks, tx hash lists).

    Why it is safe: what is stored at a committed height never changes; heights below the store's base are
    refused by `resolve_height` before the cache is asked. Why it pays: decoding a stored block is the
    dominant cost of `status`, `block` and `tx prove=true`, and clients ask for the same recent heights.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, int], Any] = OrderedDict()

    def get(self, kind: str, height: int, load: Callable[[int], Any]) -> Any:
        key = (kind, height)
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = load(height)
        if value is not None:
            self._data[key] = value
            if len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


@dataclass
class Ctx:
    """What a method sees: the node's services, the RPC settings and, on WebSocket, the session."""

    services: RpcServices
    config: RpcConfig
    session: Any = None  # node.rpc.websocket.WsSession on WebSocket connections
    # awaited before each method (by name) runs: the node holds calls that read chain state while it commits
    gate: Callable[[str], Awaitable[None]] | None = None
    # bounded by count; blocks are big (up to block.max_bytes), so few of them are kept
    metas: HeightCache = field(default_factory=lambda: HeightCache(256))
    blocks: HeightCache = field(default_factory=lambda: HeightCache(8))
    proof_items: HeightCache = field(default_factory=lambda: HeightCache(32))

    def block_meta(self, height: int) -> BlockMetaView | None:
        return self.metas.get("meta", height, self.services.block_meta)  # type: ignore[no-any-return]

    def block(self, height: int) -> BlockView | None:
        return self.blocks.get("block", height, self.services.block)  # type: ignore[no-any-return]


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
