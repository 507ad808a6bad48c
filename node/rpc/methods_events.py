"""subscribe / unsubscribe / unsubscribe_all: the WebSocket-only methods of the event bus.

Why a module of its own: the methods (CometBFT's, with a catch-up cursor) change with the event bus and its
limits, the WebSocket session (node/rpc/websocket.py) with the connection; registered, like the other method
modules, by node/rpc/server.py's import.
"""

from __future__ import annotations

from typing import Any

from node.events import Subscription, SubscriptionError
from node.rpc.errors import internal
from node.rpc.params import P
from node.rpc.query import QueryError
from node.rpc.registry import Ctx, current_request_id, method
from node.rpc.websocket import WsSession


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
